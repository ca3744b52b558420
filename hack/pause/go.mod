module appimage-webhook.local/pause

go 1.22
