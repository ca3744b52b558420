// Command pause is the sandbox ("infra") container of the test node's Pods: it
// holds the Pod's namespaces and exits on SIGINT or SIGTERM. As PID 1 of the Pod's
// PID namespace (when shared) it also reaps orphans. Built static by hack/node-bin.sh
// because no registry is reachable to pull registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
