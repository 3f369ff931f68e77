package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Processes the lab starts are recorded as pids/<name> in the state
// directory ("<pid> <start time>"), so that a later `seamark-lab down` — in
// another process, after an interrupted run — stops exactly them and never a
// process that reused the pid.

// startProcess starts argv in network namespace netns ("" = the root
// namespace) in its own session, logging to logs/<name>.log, and records its
// pid. The process outlives the caller (seamark-lab up exits while the lab
// runs); a goroutine reaps it when the caller is a long-lived test.
func (l *Lab) startProcess(name, netns string, argv ...string) (int, error) {
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	if err := os.MkdirAll(l.path("logs"), 0o755); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(l.LogPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("opening the log of %s: %w", name, err)
	}
	defer func() { _ = logf.Close() }()
	_, _ = fmt.Fprintf(logf, "==== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = l.StateDir
	// A session of its own: Ctrl-C on `seamark-lab up` or the test must not
	// kill the lab behind the teardown's back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	go func() {
		// How it ended goes at the end of its log: a process found gone
		// (a supervisor's restart, a signal to a process "not running")
		// says whether it crashed, exited with an error or was killed.
		err := cmd.Wait()
		if f, ferr := os.OpenFile(l.LogPath(name), os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			_, _ = fmt.Fprintf(f, "==== %s pid %d exited: %v\n", time.Now().Format(time.RFC3339Nano), pid, exitReason(err, cmd.ProcessState))
			_ = f.Close()
		}
	}()
	if err := os.MkdirAll(l.path("pids"), 0o755); err != nil {
		return pid, err
	}
	st, _ := procStartTime(pid)
	if err := os.WriteFile(l.path("pids", name), fmt.Appendf(nil, "%d %s\n", pid, st), 0o644); err != nil {
		return pid, fmt.Errorf("recording the pid of %s: %w", name, err)
	}
	return pid, nil
}

// exitReason says how a process ended: its exit status or signal.
func exitReason(waitErr error, st *os.ProcessState) string {
	if st == nil {
		return fmt.Sprintf("unknown (%v)", waitErr)
	}
	return st.String()
}

// LogPath is the file that process name logs to.
func (l *Lab) LogPath(name string) string { return l.path("logs", name+".log") }

// Pid returns the pid of the recorded process name if it still runs.
func (l *Lab) Pid(name string) (int, bool) {
	pid, ok := readPid(l.path("pids", name))
	return pid, ok
}

// Signal sends sig to the recorded process name.
func (l *Lab) Signal(name string, sig syscall.Signal) error {
	pid, ok := l.Pid(name)
	if !ok {
		return fmt.Errorf("process %s is not running (%s); its log ended:\n%s", name, l.notRunning(name), logTail(l.LogPath(name), 12))
	}
	return syscall.Kill(pid, sig)
}

// notRunning says why Pid finds name not running: no pid file, or what
// /proc says of the recorded pid.
func (l *Lab) notRunning(name string) string {
	b, err := os.ReadFile(l.path("pids", name))
	if err != nil {
		return err.Error()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fmt.Sprintf("pid file %q", b)
	}
	pid, _ := strconv.Atoi(f[0])
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return fmt.Sprintf("recorded %q; pid %d is gone", strings.TrimSpace(string(b)), pid)
	}
	return fmt.Sprintf("recorded %q; /proc/%d/stat: %s", strings.TrimSpace(string(b)), pid, strings.TrimSpace(string(stat)))
}

// StopProcess sends SIGTERM to the recorded process name, waits up to grace
// for it to exit, then kills it. Stopping a process that is gone is not an
// error.
func (l *Lab) StopProcess(name string, grace time.Duration) error {
	pidFile := l.path("pids", name)
	pid, ok := readPid(pidFile)
	if ok {
		stopPid(pid, grace)
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// WaitExit waits up to timeout for the recorded process name to exit.
func (l *Lab) WaitExit(name string, timeout time.Duration) bool {
	pid, ok := l.Pid(name)
	if !ok {
		return true
	}
	return waitGone(pid, timeout)
}

// stopAllRecorded stops every process recorded in dir/pids.
func stopAllRecorded(dir string, grace time.Duration) {
	entries, _ := os.ReadDir(filepath.Join(dir, "pids"))
	var pids []int
	for _, e := range entries {
		if pid, ok := readPid(filepath.Join(dir, "pids", e.Name())); ok {
			pids = append(pids, pid)
		}
	}
	stopPids(pids, grace)
}

func stopPid(pid int, grace time.Duration) { stopPids([]int{pid}, grace) }

// stopPids terminates pids together (one grace period for all), then kills
// those still alive.
func stopPids(pids []int, grace time.Duration) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, pid := range pids {
		if !waitGone(pid, time.Until(deadline)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
}

// readPid reads a pid file and reports whether that very process (same
// start time) is still alive.
func readPid(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 1 {
		return 0, false
	}
	if !alive(pid) {
		return pid, false
	}
	if len(f) > 1 {
		if st, err := procStartTime(pid); err != nil || st != f[1] {
			return pid, false
		}
	}
	return pid, true
}

// alive reports whether pid exists and is not a zombie (this machine's
// init does not necessarily reap orphans).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !alive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procStartTime is field 22 of /proc/<pid>/stat: with the pid it identifies
// a process across pid reuse.
func procStartTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", errors.New("malformed stat")
	}
	return f[19], nil
}

// OnExit calls f as soon as the recorded process name has exited (it polls
// every 5 ms), and returns a channel closed after f returned. The
// channel is closed without calling f when stop is closed first.
func (l *Lab) OnExit(name string, stop <-chan struct{}, f func()) <-chan struct{} {
	done := make(chan struct{})
	pid, ok := l.Pid(name)
	go func() {
		defer close(done)
		for ok && alive(pid) {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		f()
	}()
	return done
}

// LogSize is the current size of process name's log, an offset for
// LogSince.
func (l *Lab) LogSize(name string) int64 {
	st, err := os.Stat(l.LogPath(name))
	if err != nil {
		return 0
	}
	return st.Size()
}

// LogSince returns what process name logged after offset.
func (l *Lab) LogSince(name string, offset int64) string {
	b, err := os.ReadFile(l.LogPath(name))
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}
