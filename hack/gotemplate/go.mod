module appimage-webhook.local/hack/gotemplate

go 1.22
