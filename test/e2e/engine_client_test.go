//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// engineClient calls a points engine over HTTP with the program's API keys.
type engineClient struct {
	base string
	keys map[string]string
	http *http.Client
}

// apiKeys reads the API keys the operator generated for a program.
func apiKeys(namespace, program string) map[string]string {
	GinkgoHelper()
	var s corev1.Secret
	Eventually(func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: program + "-api-keys"}, &s)
	}, time.Minute, time.Second).Should(Succeed())
	keys := map[string]string{}
	for scope, key := range s.Data {
		keys[scope] = string(key)
	}
	return keys
}

// serviceClient reaches a program's engine through its Service, by the DNS
// name CoreDNS serves for it, resolved with CoreDNS alone, once it answers.
func serviceClient(namespace, program string) *engineClient {
	GinkgoHelper()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dnsServer)
	}}
	dialer := &net.Dialer{Resolver: resolver, Timeout: 5 * time.Second}
	transport := &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}
	engine := &engineClient{
		base: fmt.Sprintf("http://%s-engine.%s.svc.cluster.local", program, namespace),
		keys: apiKeys(namespace, program),
		http: &http.Client{Transport: transport, Timeout: 10 * time.Second},
	}
	// A program is Ready once its pods are; kube-proxy may route the
	// Service to them a moment later.
	Eventually(func() error {
		_, err := engine.call("GET", "/readyz", "", nil, nil)
		return err
	}, time.Minute, 200*time.Millisecond).Should(Succeed(), "the engine through its Service")
	return engine
}

// portForward forwards a local port on 127.0.0.1 to a program's Service with
// kubectl port-forward, stopped when the spec ends, and returns a client for it.
func portForward(namespace, program string) *engineClient {
	GinkgoHelper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "kubectl", "port-forward", "--address", "127.0.0.1", "-n", namespace, "service/"+program+"-engine", ":80")
	stdout, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { cancel(); _ = cmd.Wait() })
	forwarding := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+)`)
	lines := bufio.NewScanner(stdout)
	var port string
	for port == "" && lines.Scan() {
		if m := forwarding.FindStringSubmatch(lines.Text()); m != nil {
			port = m[1]
		}
	}
	Expect(port).NotTo(BeEmpty(), "kubectl port-forward printed no port")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return &engineClient{base: "http://127.0.0.1:" + port, keys: apiKeys(namespace, program), http: &http.Client{Timeout: 10 * time.Second}}
}

// podClient reaches one engine pod directly by its IP.
func podClient(pod corev1.Pod, keys map[string]string) *engineClient {
	return &engineClient{base: "http://" + net.JoinHostPort(pod.Status.PodIP, "8080"), keys: keys, http: &http.Client{Timeout: 5 * time.Second}}
}

// call sends a request with the scope's key and decodes a 2xx answer into out.
// It returns the status code; a transport error has code 0.
func (c *engineClient) call(method, path, scope string, body, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		return 0, err
	}
	if scope != "" {
		req.Header.Set("Authorization", "Bearer "+c.keys[scope])
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding %s: %w", method, path, data, err)
		}
	}
	return resp.StatusCode, nil
}

// must is call that fails the spec on any error.
func (c *engineClient) must(method, path, scope string, body, out any) {
	GinkgoHelper()
	_, err := c.call(method, path, scope, body, out)
	Expect(err).NotTo(HaveOccurred())
}

type balance struct {
	Available      int64 `json:"available"`
	Pending        int64 `json:"pending"`
	LifetimeEarned int64 `json:"lifetimeEarned"`
}

type earnResult struct {
	Points   int64   `json:"points"`
	Pending  bool    `json:"pending"`
	Replayed bool    `json:"replayed"`
	Balance  balance `json:"balance"`
}

type engineStatus struct {
	Config struct {
		Hash string `json:"hash"`
	} `json:"config"`
}
