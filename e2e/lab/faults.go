package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Faults the resilience scenarios inject (e2e/README.md, "Faults"): the
// control plane stopped and started again, processes frozen, killed and
// restarted by a supervisor that stands in for the kubelet.

// StopControlPlane stops kube-apiserver, then etcd (SIGTERM, then SIGKILL
// after grace). kube-controller-manager keeps running and reconnects, as
// it would on a cluster whose control-plane node reboots.
func (l *Lab) StopControlPlane(grace time.Duration) error {
	if err := l.StopProcess("kube-apiserver", grace); err != nil {
		return err
	}
	return l.StopProcess("etcd", grace)
}

// StartControlPlane starts etcd and kube-apiserver again on the same data
// and waits until the apiserver is ready.
func (l *Lab) StartControlPlane(ctx context.Context) error {
	if err := l.StartEtcd(); err != nil {
		return err
	}
	return l.StartAPIServer(ctx)
}

// ControllerReplica is the process name of the controller replica i
// started by StartControllerReplica.
func ControllerReplica(i int) string { return fmt.Sprintf("seamark-controller-%d", i) }

// StartControllerReplica starts replica i of seamark-controller in the
// root namespace with leader election (the lab's default controller runs
// without it, alone).
func (l *Lab) StartControllerReplica(i int) error {
	return l.startController(ControllerReplica(i), "--leader-elect=true")
}

// NeighborStats is what the router counts of its session with one
// neighbor: a session reset changes Established and Dropped, a path change
// UpdatesReceived.
type NeighborStats struct {
	Established     int `json:"connectionsEstablished"`
	Dropped         int `json:"connectionsDropped"`
	UpdatesReceived int
	State           string `json:"bgpState"`
}

// NeighborStats returns the router's counters of its session with addr.
func (l *Lab) NeighborStats(addr string) (NeighborStats, error) {
	out, err := l.Vtysh("show bgp neighbors " + addr + " json")
	if err != nil {
		return NeighborStats{}, err
	}
	var raw map[string]struct {
		NeighborStats
		Messages struct {
			UpdatesRecv int `json:"updatesRecv"`
		} `json:"messageStats"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return NeighborStats{}, fmt.Errorf("parsing neighbor %s: %w", addr, err)
	}
	n, ok := raw[addr]
	if !ok {
		return NeighborStats{}, fmt.Errorf("the router has no neighbor %s: %s", addr, out)
	}
	n.UpdatesReceived = n.Messages.UpdatesRecv
	return n.NeighborStats, nil
}

// ProcStats is a process's resident memory and thread count from /proc.
type ProcStats struct {
	RSS     int64 // bytes
	Threads int
}

// ProcStats reads /proc/<pid>/status of the recorded process name.
func (l *Lab) ProcStats(name string) (ProcStats, error) {
	pid, ok := l.Pid(name)
	if !ok {
		return ProcStats{}, fmt.Errorf("process %s is not running", name)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStats{}, err
	}
	var st ProcStats
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			st.RSS = kb * 1024
		case "Threads:":
			st.Threads, _ = strconv.Atoi(f[1])
		}
	}
	return st, nil
}

// LogFiles lists every log the lab wrote: the processes' logs and FRR's.
func (l *Lab) LogFiles() []string {
	var files []string
	for _, pattern := range []string{l.path("logs", "*.log"), filepath.Join(l.frrDir(), "*.log")} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	return files
}

// Supervisor restarts the lab processes it watches when they exit, as the
// kubelet restarts a crashed container, and counts the restarts: a
// process that crash-loops shows up as a count that keeps rising. A
// process that exits within crashLoopAfter of its start is restarted after
// a back-off that doubles up to maxBackoff (the kubelet's CrashLoopBackOff,
// shortened).
type Supervisor struct {
	l    *Lab
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	procs map[string]*supervised
}

type supervised struct {
	start    func() error
	restarts int
	held     bool
	lastErr  error
	// exited is when the supervisor last found the process gone, and
	// previous the end of its log then (`kubectl logs --previous`).
	exited   time.Time
	previous string
}

const (
	supervisorPoll = 100 * time.Millisecond
	crashLoopAfter = 10 * time.Second
	maxBackoff     = 10 * time.Second
)

// Supervise starts watching the recorded processes named by the keys of
// procs; each value starts its process again. Stop ends the watch.
func (l *Lab) Supervise(procs map[string]func() error) *Supervisor {
	s := &Supervisor{l: l, stop: make(chan struct{}), procs: map[string]*supervised{}}
	for name, start := range procs {
		p := &supervised{start: start}
		s.procs[name] = p
		s.wg.Go(func() { s.watch(name, p) })
	}
	return s
}

func (s *Supervisor) watch(name string, p *supervised) {
	var backoff time.Duration
	started := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(supervisorPoll):
		}
		s.mu.Lock()
		held := p.held
		s.mu.Unlock()
		if _, running := s.l.Pid(name); running || held {
			continue
		}
		if time.Since(started) < crashLoopAfter {
			backoff = min(max(2*backoff, time.Second), maxBackoff)
		} else {
			backoff = 0
		}
		select {
		case <-s.stop:
			return
		case <-time.After(backoff):
		}
		s.mu.Lock()
		p.exited, p.previous = time.Now(), logTail(s.l.LogPath(name), 12)
		s.mu.Unlock()
		err := p.start()
		started = time.Now()
		s.mu.Lock()
		p.restarts++
		p.lastErr = err
		s.mu.Unlock()
	}
}

// Hold stops (true) or resumes (false) restarting name: a fault that
// keeps a process down for a while holds it.
func (s *Supervisor) Hold(name string, hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.procs[name]; ok {
		p.held = hold
	}
}

// Restarts returns how often each watched process was started again.
func (s *Supervisor) Restarts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for name, p := range s.procs {
		m[name] = p.restarts
	}
	return m
}

// LastExits says, for every watched process that was restarted, when it
// was last found gone, why its restart failed if it did, and how its log
// ended before the restart.
func (s *Supervisor) LastExits() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(s.procs)) {
		p := s.procs[name]
		if p.restarts == 0 {
			continue
		}
		line := fmt.Sprintf("%s last found gone at %s", name, p.exited.Format("15:04:05.000"))
		if p.lastErr != nil {
			line += fmt.Sprintf(" (restarting it failed: %v)", p.lastErr)
		}
		out = append(out, line+"; its log ended:\n"+p.previous)
	}
	return strings.Join(out, "\n")
}

// logTail returns the last n lines of file.
func logTail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop ends the watch; the processes keep running.
func (s *Supervisor) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

// Kill sends sig to the recorded process name and waits up to timeout
// for it to exit.
func (l *Lab) Kill(name string, sig syscall.Signal, timeout time.Duration) error {
	if err := l.Signal(name, sig); err != nil {
		return err
	}
	if !l.WaitExit(name, timeout) {
		return fmt.Errorf("process %s still runs %s after %s", name, timeout, sig)
	}
	return nil
}

// KernelRoutes returns the router kernel's routes of one family ("-4" or
// "-6") that fall inside within, with their gateways.
func (l *Lab) KernelRoutes(within netip.Prefix) (map[netip.Prefix][]string, error) {
	fam := "-4"
	if within.Addr().Is6() {
		fam = "-6"
	}
	out, err := exec.Command("ip", "-n", NetnsRouter, fam, "-j", "route", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show in %s: %w", NetnsRouter, err)
	}
	var routes []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", out, err)
	}
	m := map[netip.Prefix][]string{}
	for _, r := range routes {
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, err := netip.ParseAddr(r.Dst)
			if err != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !within.Contains(p.Addr()) {
			continue
		}
		var gws []string
		if r.Gateway != "" {
			gws = append(gws, r.Gateway)
		}
		for _, nh := range r.Nexthops {
			gws = append(gws, nh.Gateway)
		}
		m[p] = gws
	}
	return m, nil
}

// StartControllerWith starts the lab's seamark-controller (no leader
// election) with extra flags, which override the defaults.
func (l *Lab) StartControllerWith(extra ...string) error {
	return l.startController("seamark-controller", extra...)
}

func (l *Lab) startController(name string, extra ...string) error {
	args := append([]string{filepath.Join(l.Bin, "seamark-controller"),
		"--kubeconfig=" + l.Kubeconfig, "--namespace=" + SeamarkNamespace,
		"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--zap-devel=false", "--zap-log-level=info"}, extra...)
	_, err := l.startProcess(name, "", args...)
	return err
}
