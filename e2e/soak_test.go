//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seamark-io/seamark/e2e/lab"
)

// The soak's metrics endpoints: the controller on the root namespace's
// management address (HTTPS, a ServiceAccount token), each speaker on its
// node's management address (plain HTTP).
const (
	soakControllerMetrics = "198.18.0.1:18443"
	soakSpeakerPort       = 17473
)

func soakDuration(b *testing.B) time.Duration {
	b.Helper()
	s := os.Getenv("SOAK_DURATION")
	if s == "" {
		return time.Hour
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("SOAK_DURATION=%q: want a positive duration such as 10m", s)
	}
	return d
}

// metricsSample is what one scrape of a component says about itself.
type metricsSample struct {
	RSS        float64 // process_resident_memory_bytes
	Goroutines float64 // go_goroutines
	Requests   float64 // rest_client_requests_total: its requests to the apiserver so far
}

// scrape reads url's Prometheus text and sums the three metrics.
func scrape(c *http.Client, url, token string) (metricsSample, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return metricsSample{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return metricsSample{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return metricsSample{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var s metricsSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces; the value follows the closing brace.
			name = line[:i]
			_, rest, _ = strings.Cut(line[strings.LastIndexByte(line, '}')+1:], " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest + " 0")[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.RSS = v
		case "go_goroutines":
			s.Goroutines = v
		case "rest_client_requests_total":
			s.Requests += v
		}
	}
	return s, sc.Err()
}

// metricsToken is a ServiceAccount token allowed to read /metrics.
func metricsToken(b *testing.B, l *lab.Lab, ctx context.Context) string {
	b.Helper()
	const name = "soak-metrics"
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: lab.SeamarkNamespace, Name: name}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: lab.SeamarkNamespace, Name: name}}},
	}
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = l.Client.Delete(context.Background(), o) })
	}
	rc, err := l.RestConfig()
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(lab.SeamarkNamespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(48 * 3600))}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return tr.Status.Token
}

// BenchmarkSoak is `make soak`: SOAK_DURATION (default one hour) of steady
// churn in the lab — a Service created every 2 s and the oldest deleted
// beyond 20, an endpoint's readiness flipped every 5 s — while sm-client
// requests 5 stable Services continuously and every Service's address is
// checked every 2 s for duplicates and moves. It prints the controller's
// and each speaker's RSS and goroutines at the start, the middle and the
// end, their request rates to the apiserver (client-go's own count), and
// the duplicate, moved and failed-request counts. Not in `make e2e`.
func BenchmarkSoak(b *testing.B) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	for range b.N {
		soak(b, theLab, context.Background())
	}
}

func soak(b *testing.B, l *lab.Lab, ctx context.Context) {
	const ns = "soak"
	duration := soakDuration(b)
	if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	token := metricsToken(b, l, ctx)

	// The controller and the speakers again, with metrics on the
	// management network.
	if err := l.StopProcess("seamark-controller", 10*time.Second); err != nil {
		b.Fatal(err)
	}
	if err := l.StartControllerWith("--metrics-bind-address=" + soakControllerMetrics); err != nil {
		b.Fatal(err)
	}
	endpoints := map[string]string{"controller": "https://" + soakControllerMetrics + "/metrics"}
	names := []string{"controller"}
	for _, n := range l.NodeList {
		if err := l.StopProcess(lab.SpeakerProcess(n), 30*time.Second); err != nil {
			b.Fatal(err)
		}
		addr := fmt.Sprintf("%s:%d", n.Mgmt, soakSpeakerPort)
		if err := l.StartSpeaker(n, []string{"--metrics-bind-address=" + addr, "--metrics-secure=false"}); err != nil {
			b.Fatal(err)
		}
		endpoints["speaker "+n.Name] = "http://" + addr + "/metrics"
		names = append(names, "speaker "+n.Name)
	}
	b.Cleanup(func() {
		_ = l.StopProcess("seamark-controller", 10*time.Second)
		_ = l.StartController()
		for _, n := range l.NodeList {
			_ = l.StopProcess(lab.SpeakerProcess(n), 30*time.Second)
			_ = l.StartSpeaker(n, nil)
		}
	})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the controller's self-signed metrics certificate, in the lab
	sampleAll := func() (map[string]metricsSample, time.Time) {
		m := map[string]metricsSample{}
		for name, url := range endpoints {
			var s metricsSample
			var err error
			for range 30 { // a component that just started
				if s, err = scrape(hc, url, token); err == nil {
					break
				}
				time.Sleep(time.Second)
			}
			if err != nil {
				b.Fatalf("scraping %s: %v", name, err)
			}
			m[name] = s
		}
		return m, time.Now()
	}

	if err := l.CreateBackends(ctx, ns, "web", l.NodeList); err != nil {
		b.Fatal(err)
	}
	if err := l.CreateBackends(ctx, ns, "flip", l.NodeList); err != nil {
		b.Fatal(err)
	}
	var fetchers []*lab.Fetcher
	for i := range 5 {
		name := fmt.Sprintf("stable-%d", i)
		if _, err := l.CreateService(ctx, ns, name, "web", lab.ServiceOptions{}); err != nil {
			b.Fatal(err)
		}
		a := waitIngress(b, l, ctx, ns, name)
		wantNextHops(b, l, hostPrefix(a[0]), addrs(l.NodeList...))
		// Count from a Service that has answered through every node.
		wantReplies(b, l, lab.URL(a[0]), 30, l.NodeList, addrs(l.NodeList...))
		f, err := l.StartFetch(lab.URL(a[0]), 200*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		fetchers = append(fetchers, f)
	}

	samples := []map[string]metricsSample{}
	var sampledAt []time.Time
	s, at := sampleAll()
	samples, sampledAt = append(samples, s), append(sampledAt, at)

	runCtx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	var wg sync.WaitGroup
	watch := newAddressWatch()
	var mu sync.Mutex
	created, deleted, flips, churnErrors := 0, 0, 0, 0
	wg.Go(func() {
		var live []string
		for i := 0; runCtx.Err() == nil; i++ {
			o := lab.ServiceOptions{Local: i%2 == 1}
			name := fmt.Sprintf("churn-%05d", i)
			if _, err := l.CreateService(runCtx, ns, name, "flip", o); err == nil {
				live = append(live, name)
				mu.Lock()
				created++
				mu.Unlock()
			} else if runCtx.Err() == nil {
				mu.Lock()
				churnErrors++
				mu.Unlock()
			}
			if len(live) > 20 {
				if err := l.Client.Delete(runCtx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: live[0]}}); err == nil {
					live = live[1:]
					mu.Lock()
					deleted++
					mu.Unlock()
				}
			}
			select {
			case <-runCtx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	})
	wg.Go(func() {
		// Each flip makes one node's pod unready and the previous one
		// ready again: two of three ready at all times.
		for i := 0; runCtx.Err() == nil; i++ {
			n, prev := l.NodeList[i%len(l.NodeList)], l.NodeList[(i+len(l.NodeList)-1)%len(l.NodeList)]
			if l.SetPodReady(runCtx, ns, lab.BackendPod("flip", prev), true) == nil && l.SetPodReady(runCtx, ns, lab.BackendPod("flip", n), false) == nil {
				mu.Lock()
				flips++
				mu.Unlock()
			}
			select {
			case <-runCtx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	})
	wg.Go(func() {
		for runCtx.Err() == nil {
			var svcs corev1.ServiceList
			if err := l.Client.List(runCtx, &svcs, client.InNamespace(ns)); err == nil {
				mu.Lock()
				watch.observe(svcs.Items)
				mu.Unlock()
			}
			select {
			case <-runCtx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	})
	select {
	case <-runCtx.Done():
	case <-time.After(duration / 2):
		s, at := sampleAll()
		samples, sampledAt = append(samples, s), append(sampledAt, at)
		_, _ = fmt.Fprintf(os.Stderr, "soak: middle sample taken after %s\n", at.Sub(sampledAt[0]).Round(time.Second))
	}
	<-runCtx.Done()
	wg.Wait()
	s, at = sampleAll()
	samples, sampledAt = append(samples, s), append(sampledAt, at)
	requests, failed := 0, 0
	var failures []string
	for i, f := range fetchers {
		res, err := f.Stop()
		if err != nil {
			b.Fatal(err)
		}
		requests += res.Requests
		failed += res.Errors
		// When and why, to set a failed request beside what the churn
		// and the machine were doing then.
		for _, sp := range res.Failed {
			failures = append(failures, fmt.Sprintf("stable Service %d: a request from %s to %s failed", i, sp.From.Format("15:04:05.000"), sp.To.Format("15:04:05.000")))
		}
		if res.Errors > 0 {
			failures = append(failures, fmt.Sprintf("stable Service %d: %d failed, the last with %s", i, res.Errors, res.LastError))
		}
	}
	for _, line := range failures {
		_, _ = fmt.Fprintln(os.Stderr, "soak: "+line)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "\nSOAK %s (lab)\tRSS start / middle / end\tgoroutines start / middle / end\tapiserver requests/s first half / second half\n", duration)
	for _, name := range names {
		var rss, gor, rates []string
		for i, s := range samples {
			c := s[name]
			rss = append(rss, fmt.Sprintf("%.0f MB", c.RSS/(1<<20)))
			gor = append(gor, fmt.Sprintf("%.0f", c.Goroutines))
			if i > 0 {
				rates = append(rates, fmt.Sprintf("%.2f", (c.Requests-samples[i-1][name].Requests)/sampledAt[i].Sub(sampledAt[i-1]).Seconds()))
			}
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, strings.Join(rss, " / "), strings.Join(gor, " / "), strings.Join(rates, " / "))
	}
	_ = tw.Flush()
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("Churn: %d Services created, %d deleted (%d create errors), %d endpoint flips; %d address snapshots: %d duplicates, %d moved; requests to 5 stable Services: %d sent, %d failed\n",
		created, deleted, churnErrors, flips, watch.snapshots, len(watch.duplicates), len(watch.moved), requests, failed)
	if len(watch.duplicates) > 0 || len(watch.moved) > 0 || failed > 0 {
		b.Errorf("duplicates %v, moved %v, %d failed requests", first(watch.duplicates), first(watch.moved), failed)
	}
	// Every Service left is addressed.
	var svcs corev1.ServiceList
	if err := l.Client.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	unaddressed := slices.DeleteFunc(slices.Clone(svcs.Items), func(s corev1.Service) bool { return len(lab.IngressAddrs(&s)) > 0 })
	if len(unaddressed) > 0 {
		b.Errorf("%d Services without an address at the end, e.g. %s", len(unaddressed), unaddressed[0].Name)
	}
}
