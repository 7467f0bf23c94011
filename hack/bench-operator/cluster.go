package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Users of the control plane. Writes are told apart by the authenticated
// user the API server records in its audit log, so the manager's are counted
// exactly, whatever client library or field manager made them.
const (
	managerUser = "loyalty-operator"
	engineUser  = "points-engine"
	benchUser   = "bench"
)

// auditPolicy records every request that is not a read, once, when its
// response is complete. Reads are left out to keep the log small. The
// operator's writes keep their request body, which says what a write changed
// (--keep keeps the log), except for Secrets, which hold API keys, and
// ConfigMaps, which are large.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted", "Panic"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: Metadata
  resources: [{group: "", resources: ["secrets", "configmaps"]}]
- level: Request
  users: ["` + managerUser + `"]
- level: Metadata
`

// startControlPlane starts kube-apiserver (with an audit log) and etcd,
// installs the CRDs and writes a kubeconfig per user.
func (b *bench) startControlPlane() error {
	policy := filepath.Join(b.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return fmt.Errorf("writing the audit policy: %w", err)
	}
	b.auditLog = filepath.Join(b.dir, "audit.log")
	b.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: b.opts.assets,
	}
	api := b.env.ControlPlane.GetAPIServer()
	api.Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", b.auditLog).
		Set("audit-log-mode", "blocking").
		Set("audit-log-format", "json")
	logFile, err := os.Create(filepath.Join(b.dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	api.Out, api.Err = logFile, logFile
	if _, err := b.env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	b.kubeconfigs = map[string]string{}
	for _, name := range []string{managerUser, engineUser, benchUser} {
		user, err := b.env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
		if err != nil {
			return fmt.Errorf("adding user %s: %w", name, err)
		}
		config, err := user.KubeConfig()
		if err != nil {
			return fmt.Errorf("writing the kubeconfig of %s: %w", name, err)
		}
		path := filepath.Join(b.dir, name+".kubeconfig")
		if err := os.WriteFile(path, config, 0o600); err != nil {
			return fmt.Errorf("writing the kubeconfig of %s: %w", name, err)
		}
		b.kubeconfigs[name] = path
		if name == benchUser {
			b.cfg = rest.CopyConfig(user.Config())
		}
	}
	// The bench's own client must not be what limits the setup.
	b.cfg.QPS, b.cfg.Burst = 500, 1000
	return nil
}

// buildManager builds cmd/manager unless --manager names a binary.
func (b *bench) buildManager(ctx context.Context) (string, error) {
	if b.opts.managerBin != "" {
		return absolute(b.opts.managerBin), nil
	}
	out := filepath.Join(b.dir, "manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/manager")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %w\n%s", err, output)
	}
	return out, nil
}

// startProcess runs a binary with its output in a log file of the working
// directory, in its own process group so that Ctrl-C reaches the bench first.
func (b *bench) startProcess(name, path string, env []string, args ...string) (*process, error) {
	logFile, err := os.Create(filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(absolute(path), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	b.procs = append(b.procs, p)
	return p, nil
}

// process is a child the bench started and waits for.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down cleanly (an engine withdraws its
// report) and kills it when it takes more than ten seconds.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// environ is the bench's environment without the variables that would make
// a child act as if it ran in a pod or against another cluster.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "POD_NAME=") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func absolute(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

// procStats is one process's memory and CPU, from /proc.
type procStats struct {
	peakRSS, rss int64 // bytes: VmHWM and VmRSS
	cpu          float64
}

func readProcStats(pid int) (procStats, error) {
	var s procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading the manager's memory: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) < 1 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch key {
		case "VmHWM":
			s.peakRSS = kb * 1024
		case "VmRSS":
			s.rss = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading the manager's CPU time: %w", err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces:
	// utime and stime are the 12th and 13th of them, in clock ticks (100 a second on Linux).
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) > 12 {
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		s.cpu = float64(utime+stime) / 100
	}
	return s, nil
}

// auditEvent is the part of an audit log line the bench reads.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	StageTimestamp time.Time `json:"stageTimestamp"`
}

// what names a write for the breakdowns: verb and resource.
func (e auditEvent) what() string {
	if e.ObjectRef == nil {
		return e.Verb
	}
	res := e.ObjectRef.Resource
	if e.ObjectRef.Subresource != "" {
		res += "/" + e.ObjectRef.Subresource
	}
	return e.Verb + " " + res
}

// writes are the writes recorded between two instants, by user.
type writes struct {
	byUser map[string]int
	// byKind breaks the manager's writes down by verb and resource.
	byKind map[string]int
	// samples are a few of the manager's writes, to say what they were.
	samples []string
}

// writesBetween reads the audit log for the writes completed in [from, to).
// The log is written before each response is sent (blocking mode), so every
// write acknowledged before to is in it.
func (b *bench) writesBetween(from, to time.Time) (writes, error) {
	w := writes{byUser: map[string]int{}, byKind: map[string]int{}}
	f, err := os.Open(b.auditLog)
	if err != nil {
		return w, fmt.Errorf("opening the audit log: %w", err)
	}
	defer func() { _ = f.Close() }() // only read
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		var e auditEvent
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil {
			return w, fmt.Errorf("reading the audit log: %w", err)
		}
		if e.StageTimestamp.Before(from) || !e.StageTimestamp.Before(to) {
			continue
		}
		w.byUser[e.User.Username]++
		if e.User.Username == managerUser {
			w.byKind[e.what()]++
			if len(w.samples) < 10 && e.ObjectRef != nil {
				w.samples = append(w.samples, fmt.Sprintf("%s %s/%s", e.what(), e.ObjectRef.Namespace, e.ObjectRef.Name))
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return w, fmt.Errorf("reading the audit log: %w", err)
	}
	return w, nil
}

// others are the writes of every user but the manager.
func (w writes) others() map[string]int {
	out := map[string]int{}
	for user, n := range w.byUser {
		if user != managerUser {
			out[user] = n
		}
	}
	return out
}
