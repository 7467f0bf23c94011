// Package freeport finds an unused loopback port for the processes the
// project's tools start (engines, managers).
package freeport

import "net"

// Get asks the kernel for an unused loopback port.
func Get() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, err // the port may still be held
	}
	return port, nil
}
