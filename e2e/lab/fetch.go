package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Agent is the lab's stand-in for kube-proxy on one node (it runs inside
// the node's namespace): an HTTP server that answers every request on every
// Service port with the node's name, and the Service addresses the node
// accepts, kept on its loopback exactly when kube-proxy would accept them —
// ClusterIPs and external addresses always with the Cluster policy, only
// with a node-local ready endpoint with the Local policy. A node that does
// not accept an address drops its packets (it does not forward), so a
// router that sends traffic to the wrong node is seen as failed requests.
type Agent struct {
	Client   kubernetes.Interface
	NodeName string
	Log      logr.Logger

	listening map[int32]bool
}

// Run serves until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.listening = map[int32]bool{}
	f := informers.NewSharedInformerFactory(a.Client, 0)
	svcs := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
	kick := make(chan struct{}, 1)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(kick) },
		UpdateFunc: func(any, any) { poke(kick) },
		DeleteFunc: func(any) { poke(kick) },
	}
	if _, err := svcs.Informer().AddEventHandler(h); err != nil {
		return err
	}
	if _, err := slices.Informer().AddEventHandler(h); err != nil {
		return err
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		svcList, _ := svcs.Lister().List(labels.Everything())
		sliceList, _ := slices.Lister().List(labels.Everything())
		if err := a.sync(svcList, sliceList); err != nil {
			a.Log.Error(err, "Failed to sync the accepted addresses")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick.C:
		}
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Accepted computes the addresses and TCP ports node accepts, as
// kube-proxy would.
func Accepted(node string, svcs []*corev1.Service, eps []*discoveryv1.EndpointSlice) (map[netip.Addr]bool, []int32) {
	local := map[string]bool{} // namespace/name → has a usable local endpoint
	ready, serving := map[string]bool{}, map[string]bool{}
	for _, s := range eps {
		key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
		for _, e := range s.Endpoints {
			if e.NodeName == nil || *e.NodeName != node {
				continue
			}
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready[key] = true
			} else if e.Conditions.Serving != nil && *e.Conditions.Serving && e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				serving[key] = true
			}
		}
	}
	for k := range serving {
		local[k] = true
	}
	for k := range ready {
		local[k] = true
	}
	addrs := map[netip.Addr]bool{}
	var ports []int32
	for _, s := range svcs {
		key := s.Namespace + "/" + s.Name
		for _, p := range s.Spec.Ports {
			if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
				ports = append(ports, p.Port)
			}
		}
		internalOK := s.Spec.InternalTrafficPolicy == nil || *s.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal || local[key]
		externalOK := s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || local[key]
		add := func(ip string) {
			if a, err := netip.ParseAddr(ip); err == nil {
				addrs[a] = true
			}
		}
		if internalOK {
			for _, ip := range s.Spec.ClusterIPs {
				add(ip)
			}
		}
		if externalOK {
			for _, ip := range s.Spec.ExternalIPs {
				add(ip)
			}
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				for _, in := range s.Status.LoadBalancer.Ingress {
					add(in.IP)
				}
			}
		}
	}
	slices.Sort(ports)
	return addrs, slices.Compact(ports)
}

func (a *Agent) sync(svcs []*corev1.Service, eps []*discoveryv1.EndpointSlice) error {
	want, ports := Accepted(a.NodeName, svcs, eps)
	for _, p := range ports {
		if !a.listening[p] {
			if err := a.listen(p); err != nil {
				a.Log.Error(err, "Failed to listen", "port", p)
				continue
			}
			a.listening[p] = true
		}
	}
	have, err := loopbackAddrs()
	if err != nil {
		return err
	}
	var errs []error
	for addr := range want {
		if !have[addr] {
			errs = append(errs, ipCmd("addr", "add", netip.PrefixFrom(addr, addr.BitLen()).String(), "dev", "lo"))
			a.Log.Info("Accepting address", "ip", addr)
		}
	}
	for addr := range have {
		if !want[addr] {
			errs = append(errs, ipCmd("addr", "del", netip.PrefixFrom(addr, addr.BitLen()).String(), "dev", "lo"))
			a.Log.Info("Stopped accepting address", "ip", addr)
		}
	}
	return errors.Join(errs...)
}

// loopbackAddrs lists lo's addresses other than the loopback ones.
func loopbackAddrs() (map[netip.Addr]bool, error) {
	out, err := exec.Command("ip", "-j", "addr", "show", "dev", "lo").Output()
	if err != nil {
		return nil, fmt.Errorf("listing lo's addresses: %w", err)
	}
	var links []struct {
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, err
	}
	have := map[netip.Addr]bool{}
	for _, l := range links {
		for _, ai := range l.AddrInfo {
			if a, err := netip.ParseAddr(ai.Local); err == nil && !a.IsLoopback() {
				have[a] = true
			}
		}
	}
	return have, nil
}

func (a *Agent) listen(port int32) error {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, a.NodeName+"\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	a.Log.Info("Listening", "port", port)
	return nil
}

// FetchResult counts which node answered requests.
type FetchResult struct {
	// Requests is the number of requests sent.
	Requests int `json:"requests"`
	// Answers counts the requests each node answered.
	Answers map[string]int `json:"answers"`
	// Errors counts failed requests; LastError is one of them.
	Errors    int    `json:"errors"`
	LastError string `json:"lastError,omitempty"`
	// FailedAt are the times of the failed requests (at most 100), to
	// place the loss next to the events in the logs.
	FailedAt []time.Time `json:"failedAt,omitempty"`
}

// Fetch sends n requests to url, each on a new connection (so that the
// router's ECMP hash sees a new flow every time), and counts the answers.
// With n <= 0 it sends requests until ctx ends, every interval; a request
// cut short by the end of ctx is not counted.
func Fetch(ctx context.Context, url string, n int, timeout, interval time.Duration) FetchResult {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	r := FetchResult{Answers: map[string]int{}}
	fail := func(err error) {
		r.Errors++
		r.LastError = err.Error()
		if len(r.FailedAt) < 100 {
			r.FailedAt = append(r.FailedAt, time.Now())
		}
	}
	for i := 0; n <= 0 || i < n; i++ {
		if n <= 0 && i > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.Requests++
				fail(err)
			}
			continue
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if ctx.Err() != nil && err != nil {
			break
		}
		r.Requests++
		if err != nil {
			fail(err)
			continue
		}
		r.Answers[strings.TrimSpace(string(b))]++
	}
	return r
}

// FetchFromClient runs n requests to url from the sm-client namespace
// (`seamark-lab fetch` there) and returns who answered.
func (l *Lab) FetchFromClient(url string, n int) (FetchResult, error) {
	out, err := NetnsExec(NetnsClient, l.Bin+"/seamark-lab", "fetch", fmt.Sprintf("--count=%d", n), "--timeout=2s", url)
	if err != nil {
		return FetchResult{}, err
	}
	var r FetchResult
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("parsing %q: %w", out, err)
	}
	return r, nil
}

// Fetcher sends requests from sm-client continuously until Stop.
type Fetcher struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan error
}

// StartFetch starts `seamark-lab fetch --count=0` in sm-client: a request
// to url every interval (each on a new connection, timeout 1 s) until Stop.
func (l *Lab) StartFetch(url string, interval time.Duration) (*Fetcher, error) {
	f := &Fetcher{done: make(chan error, 1)}
	// `ip netns exec` execs the command: the pid is seamark-lab's.
	f.cmd = exec.Command("ip", "netns", "exec", NetnsClient, l.Bin+"/seamark-lab", "fetch", "--count=0",
		"--timeout=1s", "--interval="+interval.String(), url)
	f.cmd.Stdout, f.cmd.Stderr = &f.stdout, &f.stderr
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the fetcher: %w", err)
	}
	go func() { f.done <- f.cmd.Wait() }()
	return f, nil
}

// Stop ends the requests and returns what they met. It is safe to call
// more than once (later calls return an error).
func (f *Fetcher) Stop() (FetchResult, error) {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-f.done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		return FetchResult{}, errors.New("the fetcher did not stop within 10s")
	}
	if err != nil {
		return FetchResult{}, fmt.Errorf("fetcher: %w: %s", err, strings.TrimSpace(f.stderr.String()))
	}
	var r FetchResult
	if err := json.Unmarshal(f.stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("parsing %q: %w", f.stdout.String(), err)
	}
	return r, nil
}

// URL is the http URL of addr on port 80.
func URL(addr netip.Addr) string {
	return "http://" + netip.AddrPortFrom(addr, 80).String() + "/"
}
