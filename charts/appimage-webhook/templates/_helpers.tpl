{{/* Names, labels and the few decisions several templates share. */}}

{{- define "appimage-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or just the release name when it already contains the chart's. */}}
{{- define "appimage-webhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "appimage-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "appimage-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "appimage-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "appimage-webhook.labels" -}}
helm.sh/chart: {{ include "appimage-webhook.chart" . }}
{{ include "appimage-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: kuscia
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "appimage-webhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "appimage-webhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "appimage-webhook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "appimage-webhook.replicas" -}}
{{- if not (kindIs "invalid" .Values.replicaCount) }}
{{- .Values.replicaCount }}
{{- else if eq .Values.store.type "sqlite" }}1
{{- else }}2
{{- end }}
{{- end }}

{{/* The Secret the pods read their serving certificate from (selfManaged: the one
the service writes; its files reach the pod through the service, not a volume). */}}
{{- define "appimage-webhook.certSecret" -}}
{{- $mode := .Values.certificates.mode }}
{{- if eq $mode "selfManaged" }}
{{- default (printf "%s-certs" (include "appimage-webhook.fullname" .)) .Values.certificates.selfManaged.secretName }}
{{- else if eq $mode "certManager" }}
{{- printf "%s-tls" (include "appimage-webhook.fullname" .) }}
{{- else }}
{{- required "certificates.existingSecret.name is required with mode existingSecret" .Values.certificates.existingSecret.name }}
{{- end }}
{{- end }}

{{/* The names the API server and clients reach the Service by. */}}
{{- define "appimage-webhook.dnsNames" -}}
{{- $svc := include "appimage-webhook.fullname" . }}
{{- $ns := .Release.Namespace }}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{/* Whether the service talks to the API server at all (else no token is mounted). */}}
{{- define "appimage-webhook.needsAPI" -}}
{{- if or (eq .Values.store.type "kubernetes") (eq .Values.certificates.mode "selfManaged") }}true{{ end }}
{{- end }}

{{/* The restricted pod security context; a null id is left to the platform. */}}
{{- define "appimage-webhook.podSecurityContext" -}}
runAsNonRoot: true
{{- range $field := list "runAsUser" "runAsGroup" "fsGroup" }}
{{- with get $.Values.podSecurityContext $field }}
{{ $field }}: {{ . }}
{{- end }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The clientConfig of one webhook: the Service (or webhook.url) at the path, with the
values' caBundle for an existing Secret. Args: dict "root" $ "path" "/validate".
*/}}
{{- define "appimage-webhook.clientConfig" -}}
{{- $root := .root -}}
{{- if $root.Values.webhook.url -}}
url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhook.url) .path | quote }}
{{- else -}}
service:
  name: {{ include "appimage-webhook.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path }}
  port: {{ $root.Values.service.webhookPort }}
{{- end }}
{{- if eq $root.Values.certificates.mode "existingSecret" }}
caBundle: {{ $root.Values.certificates.existingSecret.caBundle }}
{{- end }}
{{- end }}
