// Command peer is the Go comparison point of bench/run: an AppImage admission webhook
// on controller-runtime's webhook server and admission package, with the same rules
// as the Python service as far as is reasonable:
//
//   - the same JSON Schema (the custom resource's, passed with --schema; compiled with
//     santhosh-tekuri/jsonschema, Draft 2020-12): structure, enums, unknown fields;
//   - the semantic rules of webhook/validation.py: DNS-label names, unique container
//     and port names, IANA port names, image name and tag, config keys, env names,
//     envFrom sources, subPath, exactly one probe handler, exec.command, grpc port,
//     success thresholds, quantities with request <= limit (apimachinery's parser);
//   - defaulting as webhook/defaulting.py (replicas 1, port protocol HTTP and scope
//     Local, envFrom entries naming both sources split in two) answered with
//     admission.PatchResponseFromRaw, controller-runtime's usual JSON Patch;
//   - the PodSpec check as a strict decode of the same pod (as webhook/podspec.py builds
//     it) into corev1.PodSpec (unknown fields and wrong types refused), where the Python
//     service validates against kubernetes-validate's JSON Schema.
//
// Usage: peer --addr 127.0.0.1:PORT --cert-dir DIR --schema FILE
// (DIR holds server.crt and server.key; FILE is `python -m webhook schema`).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/santhosh-tekuri/jsonschema/v6"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

const (
	group = "kuscia.secretflow"
	kind  = "AppImage"
)

var (
	imageName = regexp.MustCompile(`^(?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)
	imageTag   = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	headerName = regexp.MustCompile("^[-!#$%&'*+.^_`|~0-9A-Za-z]+$")
	handlers   = []string{"exec", "httpGet", "tcpSocket", "grpc"}
	probes     = []string{"livenessProbe", "readinessProbe", "startupProbe"}
	podFields  = []string{"command", "args", "workingDir", "env", "envFrom", "resources",
		"livenessProbe", "readinessProbe", "startupProbe", "imagePullPolicy"}
)

// report collects every error and warning, with paths in the custom resource's spelling.
type report struct{ errors, warnings []string }

func (r *report) err(path, format string, args ...any) {
	r.errors = append(r.errors, path+": "+fmt.Sprintf(format, args...))
}

func (r *report) warn(path, format string, args ...any) {
	r.warnings = append(r.warnings, path+": "+fmt.Sprintf(format, args...))
}

// check applies a rule to a string field; "" is "must not be empty"; other types are
// the schema's business.
func (r *report) check(path string, value any, rule func(string) []string) {
	s, ok := value.(string)
	if !ok {
		return
	}
	if s == "" {
		r.err(path, "must not be empty")
		return
	}
	if problems := rule(s); len(problems) > 0 {
		r.err(path, "%s", strings.Join(problems, "; "))
	}
}

func obj(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

func items(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		} else {
			out = append(out, nil)
		}
	}
	return out
}

func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		return int64(n), true
	}
	return 0, false
}

func none(string) []string { return nil }

func imageNameRule(s string) []string {
	if len(s) > 255 || !imageName.MatchString(s) {
		return []string{"must be an image repository such as secretflow/app"}
	}
	return nil
}

func imageTagRule(s string) []string {
	if !imageTag.MatchString(s) {
		return []string{"must be a tag"}
	}
	return nil
}

func envNameRule(s string) []string {
	if strings.Contains(s, "=") {
		return []string{"must not contain '='"}
	}
	return nil
}

func headerRule(s string) []string {
	if !headerName.MatchString(s) {
		return []string{"must be an HTTP header name"}
	}
	return nil
}

func unique(r *report, seen map[string]string, name any, path, what string) {
	s, ok := name.(string)
	if !ok || s == "" {
		return
	}
	if first, dup := seen[s]; dup {
		r.err(path, "duplicate %s %q (also at %s)", what, s, first)
		return
	}
	seen[s] = path
}

func quantity(v any) (resource.Quantity, error) {
	switch q := v.(type) {
	case string:
		return resource.ParseQuantity(q)
	case json.Number:
		return resource.ParseQuantity(q.String())
	}
	return resource.Quantity{}, fmt.Errorf("not a quantity")
}

func resources(r *report, res map[string]any, path string) {
	parsed := map[string]map[string]resource.Quantity{"limits": {}, "requests": {}}
	for _, k := range []string{"limits", "requests"} {
		for name, value := range obj(res[k]) {
			q, err := quantity(value)
			if err != nil {
				r.err(path+"."+k+"."+name, "%v must be a Kubernetes quantity", value)
				continue
			}
			if q.Sign() < 0 {
				r.err(path+"."+k+"."+name, "must not be negative")
				continue
			}
			parsed[k][name] = q
		}
	}
	for name, request := range parsed["requests"] {
		if limit, ok := parsed["limits"][name]; ok && request.Cmp(limit) > 0 {
			r.err(path+".requests."+name, "request exceeds the limit")
		}
	}
}

func namedPort(r *report, port any, declared map[string]bool, path string) {
	r.check(path, port, validation.IsValidPortName)
	if s, ok := port.(string); ok && s != "" && !declared[s] && len(validation.IsValidPortName(s)) == 0 {
		r.warn(path, "names no port declared by this container (%q)", s)
	}
}

func probe(r *report, kind string, p map[string]any, declared map[string]bool, path string) {
	var found []string
	for _, h := range handlers {
		if p[h] != nil {
			found = append(found, h)
		}
	}
	if len(found) != 1 {
		r.err(path, "needs exactly one handler of %s; has %d", strings.Join(handlers, ", "), len(found))
	}
	if e, ok := p["exec"].(map[string]any); ok {
		if c, _ := e["command"].([]any); len(c) == 0 {
			r.err(path+".exec.command", "must not be empty")
		}
	}
	for _, h := range []string{"httpGet", "tcpSocket"} {
		if action, ok := p[h].(map[string]any); ok {
			port, present := action["port"]
			if !present {
				port = ""
			}
			namedPort(r, port, declared, path+"."+h+".port")
		}
	}
	for i, header := range items(obj(p["httpGet"])["httpHeaders"]) {
		if header != nil {
			r.check(fmt.Sprintf("%s.httpGet.httpHeaders[%d].name", path, i), header["name"], headerRule)
		}
	}
	if g, ok := p["grpc"].(map[string]any); ok {
		if port, ok := integer(g["port"]); ok && (port < 1 || port > 65535) {
			r.err(path+".grpc.port", "must be a port number from 1 to 65535")
		}
	}
	if t, ok := integer(p["successThreshold"]); ok && t > 1 && kind != "readinessProbe" {
		r.err(path+".successThreshold", "must be 0 or 1 for a %s", kind)
	}
}

func container(r *report, c map[string]any, ports map[string]string, templates map[string]any, path string) {
	r.check(path+".name", c["name"], validation.IsDNS1123Label)
	declared := map[string]bool{}
	for p, port := range items(c["ports"]) {
		if port == nil {
			continue
		}
		where := fmt.Sprintf("%s.ports[%d].name", path, p)
		r.check(where, port["name"], validation.IsValidPortName)
		unique(r, ports, port["name"], where, "port name")
		if s, ok := port["name"].(string); ok {
			declared[s] = true
		}
	}
	for e, env := range items(c["env"]) {
		if env != nil {
			r.check(fmt.Sprintf("%s.env[%d].name", path, e), env["name"], envNameRule)
		}
	}
	for e, source := range items(c["envFrom"]) {
		if source == nil {
			continue
		}
		where := fmt.Sprintf("%s.envFrom[%d]", path, e)
		var refs []string
		for _, ref := range []string{"configMapRef", "secretRef"} {
			if source[ref] != nil {
				refs = append(refs, ref)
			}
		}
		switch len(refs) {
		case 0:
			r.err(where, "needs configMapRef or secretRef")
		case 2:
			r.err(where, "names both configMapRef and secretRef; set one per entry")
		}
		for _, ref := range refs {
			r.check(where+"."+ref+".name", obj(source[ref])["name"], validation.IsDNS1123Subdomain)
		}
		if prefix, _ := source["prefix"].(string); strings.Contains(prefix, "=") {
			r.err(where+".prefix", "must not contain '='")
		}
	}
	for m, mount := range items(c["configVolumeMounts"]) {
		if mount == nil {
			continue
		}
		where := fmt.Sprintf("%s.configVolumeMounts[%d]", path, m)
		r.check(where+".mountPath", mount["mountPath"], none)
		sub, _ := mount["subPath"].(string)
		if sub == "" {
			continue
		}
		if strings.HasPrefix(sub, "/") || containsDotDot(sub) {
			r.err(where+".subPath", "must be a relative path without '..'")
		} else if _, ok := templates[sub]; !ok {
			r.warn(where+".subPath", "names no configTemplates key (%q)", sub)
		}
	}
	resources(r, obj(c["resources"]), path+".resources")
	for _, kind := range probes {
		if p, ok := c[kind].(map[string]any); ok {
			probe(r, kind, p, declared, path+"."+kind)
		}
	}
}

func containsDotDot(path string) bool {
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// podSpec is the deploy template as the PodSpec Kuscia would run (webhook/podspec.py).
func podSpec(image map[string]any, template map[string]any) map[string]any {
	spec := obj(template["spec"])
	ref, _ := image["name"].(string)
	if tag, _ := image["tag"].(string); tag != "" {
		ref += ":" + tag
	}
	containers := []any{}
	portNumber := 20000
	mounts := false
	for _, source := range items(spec["containers"]) {
		if source == nil {
			continue
		}
		c := map[string]any{"name": source["name"], "image": ref}
		for _, f := range podFields {
			if v, ok := source[f]; ok && v != nil && v != "" {
				c[f] = v
			}
		}
		if ps := items(source["ports"]); len(ps) > 0 {
			out := []any{}
			for _, p := range ps {
				portNumber++
				out = append(out, map[string]any{"name": obj(p)["name"], "containerPort": portNumber, "protocol": "TCP"})
			}
			c["ports"] = out
		}
		if ms := items(source["configVolumeMounts"]); len(ms) > 0 {
			mounts = true
			out := []any{}
			for _, m := range ms {
				vm := map[string]any{"name": "config-template", "mountPath": obj(m)["mountPath"]}
				if sub, _ := obj(m)["subPath"].(string); sub != "" {
					vm["subPath"] = sub
				}
				out = append(out, vm)
			}
			c["volumeMounts"] = out
		}
		containers = append(containers, c)
	}
	pod := map[string]any{"containers": containers}
	if rp, _ := spec["restartPolicy"].(string); rp != "" {
		pod["restartPolicy"] = rp
	}
	if mounts {
		pod["volumes"] = []any{map[string]any{"name": "config-template",
			"configMap": map[string]any{"name": "config-template"}}}
	}
	return pod
}

func strictPod(pod map[string]any) error {
	raw, err := json.Marshal(pod)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var spec corev1.PodSpec
	return dec.Decode(&spec)
}

type rules struct{ schema *jsonschema.Schema }

func (v *rules) validate(o map[string]any) report {
	var r report
	if err := v.schema.Validate(o); err != nil {
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			for _, leaf := range leaves(ve) {
				r.err("/"+strings.Join(leaf.InstanceLocation, "/"), "%s", leaf.ErrorKind)
			}
		} else {
			r.err("", "%v", err)
		}
	}
	r.check("metadata.name", obj(o["metadata"])["name"], validation.IsDNS1123Label)
	spec := obj(o["spec"])
	image := obj(spec["image"])
	r.check("spec.image.name", image["name"], imageNameRule)
	if tag, _ := image["tag"].(string); tag != "" {
		r.check("spec.image.tag", tag, imageTagRule)
	}
	templates := obj(spec["configTemplates"])
	for key := range templates {
		r.check("spec.configTemplates."+key, key, validation.IsConfigMapKey)
	}
	names := map[string]string{}
	for t, template := range items(spec["deployTemplates"]) {
		if template == nil {
			continue
		}
		path := fmt.Sprintf("spec.deployTemplates[%d]", t)
		unique(&r, names, template["name"], path+".name", "deploy template name")
		r.check(path+".name", template["name"], none)
		if n, ok := integer(template["replicas"]); ok && n == 0 {
			r.warn(path+".replicas", "is 0: this template starts no pods")
		}
		containerNames := map[string]string{}
		ports := map[string]string{}
		for c, ctr := range items(obj(template["spec"])["containers"]) {
			if ctr == nil {
				continue
			}
			where := fmt.Sprintf("%s.spec.containers[%d]", path, c)
			unique(&r, containerNames, ctr["name"], where+".name", "container name")
			container(&r, ctr, ports, templates, where)
		}
	}
	if len(r.errors) == 0 {
		for t, template := range items(spec["deployTemplates"]) {
			if err := strictPod(podSpec(image, template)); err != nil {
				r.err(fmt.Sprintf("spec.deployTemplates[%d]", t), "as a Kubernetes PodSpec: %v", err)
			}
		}
	}
	return r
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// defaulted mutates o in place: replicas, port protocol and scope, envFrom split.
func defaulted(o map[string]any) []string {
	var warnings []string
	spec, ok := o["spec"].(map[string]any)
	if !ok {
		return nil
	}
	for t, template := range items(spec["deployTemplates"]) {
		if template == nil {
			continue
		}
		if template["replicas"] == nil {
			template["replicas"] = 1
		}
		pod, ok := template["spec"].(map[string]any)
		if !ok {
			continue
		}
		for c, ctr := range items(pod["containers"]) {
			if ctr == nil {
				continue
			}
			for _, port := range items(ctr["ports"]) {
				if port == nil {
					continue
				}
				if p, _ := port["protocol"].(string); p == "" {
					port["protocol"] = "HTTP"
				}
				if s, _ := port["scope"].(string); s == "" {
					port["scope"] = "Local"
				}
			}
			sources, ok := ctr["envFrom"].([]any)
			if !ok {
				continue
			}
			out := make([]any, 0, len(sources))
			for e, source := range sources {
				m, ok := source.(map[string]any)
				if !ok || m["configMapRef"] == nil || m["secretRef"] == nil {
					out = append(out, source)
					continue
				}
				first, second := map[string]any{}, map[string]any{}
				for k, v := range m {
					if k != "secretRef" {
						first[k] = v
					}
					if k != "configMapRef" {
						second[k] = v
					}
				}
				out = append(out, first, second)
				warnings = append(warnings, fmt.Sprintf(
					"spec.deployTemplates[%d].spec.containers[%d].envFrom[%d]: split into two entries", t, c, e))
			}
			ctr["envFrom"] = out
		}
	}
	return warnings
}

func decode(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var o map[string]any
	if err := dec.Decode(&o); err != nil {
		return nil, err
	}
	return o, nil
}

func ours(req admission.Request) bool {
	return req.Kind.Group == group && req.Kind.Kind == kind &&
		(req.Operation == "CREATE" || req.Operation == "UPDATE")
}

type validator struct{ rules *rules }

func (v *validator) Handle(_ context.Context, req admission.Request) admission.Response {
	if !ours(req) {
		return admission.Allowed("")
	}
	o, err := decode(req.Object.Raw)
	if err != nil {
		return admission.Errored(400, err)
	}
	r := v.rules.validate(o)
	if len(r.errors) > 0 {
		return admission.Denied(strings.Join(r.errors, "; ")).WithWarnings(r.warnings...)
	}
	return admission.Allowed("").WithWarnings(r.warnings...)
}

type mutator struct{}

func (mutator) Handle(_ context.Context, req admission.Request) admission.Response {
	if !ours(req) {
		return admission.Allowed("")
	}
	o, err := decode(req.Object.Raw)
	if err != nil {
		return admission.Errored(400, err)
	}
	warnings := defaulted(o)
	out, err := json.Marshal(o)
	if err != nil {
		return admission.Errored(500, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, out).WithWarnings(warnings...)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "host:port to listen on")
	certDir := flag.String("cert-dir", "", "directory holding server.crt and server.key")
	schemaFile := flag.String("schema", "", "the AppImage custom resource's JSON Schema")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())

	f, err := os.Open(*schemaFile)
	if err != nil {
		fail(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		fail(err)
	}
	compiler := jsonschema.NewCompiler()
	if err := compiler.AddResource("appimage.schema.json", doc); err != nil {
		fail(err)
	}
	schema, err := compiler.Compile("appimage.schema.json")
	if err != nil {
		fail(err)
	}

	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		fail(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		fail(err)
	}
	server := webhook.NewServer(webhook.Options{
		Host: host, Port: port, CertDir: *certDir, CertName: "server.crt", KeyName: "server.key",
	})
	server.Register("/validate", &admission.Webhook{Handler: &validator{rules: &rules{schema: schema}}})
	server.Register("/mutate", &admission.Webhook{Handler: mutator{}})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := server.Start(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peer:", err)
	os.Exit(1)
}
