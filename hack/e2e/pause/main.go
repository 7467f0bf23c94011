// Command pause is the sandbox process of the end-to-end cluster's pods: it
// holds the pod's namespaces and does nothing until it is told to stop, so no
// registry image is needed for it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
