//go:build integration

package controllers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkGrant2000Services runs the real seamark-controller binary
// against the test apiserver, creates 2,000 LoadBalancer Services from 4
// concurrent clients and reports, per Service, the time from its create
// call returning to its status showing an address (p50, p99), the wall
// time until all are addressed, how long after the last create the last
// one was addressed, and the controller's RSS. Run it with -benchtime=1x:
// the figures come from one run of 2,000 Services.
func BenchmarkGrant2000Services(b *testing.B) {
	const count, clients = 2000, 4
	dir := b.TempDir()
	bin := filepath.Join(dir, "seamark-controller")
	build := exec.Command("go", "build", "-o", bin, "./cmd/seamark-controller")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building seamark-controller: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	n := ns(b, "bench")
	createPool(b, "bench", n, []string{"2001:db8:2000::/116"})
	logf, _ := os.Create(filepath.Join(dir, "controller.log"))
	ctl := exec.Command(bin, "--kubeconfig", kubeconfig, "--namespace", systemNamespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	ctl.Stdout, ctl.Stderr = logf, logf
	if err := ctl.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ctl.Process.Kill(); _ = ctl.Wait() }()

	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := cs.CoreV1().Services(n).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	created, addressed := map[string]time.Time{}, map[string]time.Time{}
	allDone := make(chan struct{})
	go func() {
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Service)
			if !ok || len(s.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			now := time.Now()
			mu.Lock()
			if _, seen := addressed[s.Name]; !seen {
				addressed[s.Name] = now
				if len(addressed) == count {
					close(allDone)
				}
			}
			mu.Unlock()
		}
	}()
	// Let the controller start before the clock runs.
	time.Sleep(2 * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < count; i += clients {
				s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b-%04d", i)}, Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "bench"},
					IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol},
					Ports:      []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}},
				}}
				if _, err := cs.CoreV1().Services(n).Create(ctx, s, metav1.CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				created[s.Name] = time.Now()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	lastCreate := time.Now()
	select {
	case <-allDone:
	case <-time.After(40 * time.Second):
		log, _ := os.ReadFile(filepath.Join(dir, "controller.log"))
		b.Fatalf("only %d of %d Services were addressed; controller log:\n%s", len(addressed), count, tail(string(log), 3000))
	}
	mu.Lock()
	var lat []time.Duration
	var last time.Time
	for name, t := range addressed {
		lat = append(lat, t.Sub(created[name]))
		if t.After(last) {
			last = t
		}
	}
	mu.Unlock()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	rss, hwm := procStatus(ctl.Process.Pid, "VmRSS"), procStatus(ctl.Process.Pid, "VmHWM")
	b.Logf("%d Services from %d clients: create→address p50 %v p99 %v max %v; all addressed %v after the first create, %v after the last; controller RSS %.1f MB (peak %.1f MB)",
		count, clients, p(0.5), p(0.99), lat[len(lat)-1], last.Sub(start).Round(time.Millisecond), last.Sub(lastCreate).Round(time.Millisecond), rss/1024, hwm/1024)
	for b.Loop() {
	}
	b.ReportMetric(float64(p(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(last.Sub(start).Seconds(), "wall-s")
	b.ReportMetric(float64(last.Sub(lastCreate).Microseconds())/1000, "after-last-create-ms")
	b.ReportMetric(rss/1024, "rss-MB")
	// The benchmarks after this one measure their own Services only.
	_ = ctl.Process.Kill()
	_ = ctl.Wait()
	cancel()
	sbCleanup(b, cs, n, "bench")
}

// procStatus returns a kB figure of /proc/<pid>/status.
func procStatus(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			var kb float64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
