package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	neturl "net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FetchResult counts the pods' replies to requests.
type FetchResult struct {
	// Requests is the number of requests sent.
	Requests int `json:"requests"`
	// Replies counts the replies by Reply.String().
	Replies map[string]int `json:"replies"`
	// Errors counts failed requests; LastError is one of them, followed by
	// a summary of ICMP (FetchOptions.WatchICMP), when the client received
	// any: which hop sent what.
	Errors    int    `json:"errors"`
	LastError string `json:"lastError,omitempty"`
	// ICMP are the ICMP errors the client received about its requests'
	// packets (at most 100), with FetchOptions.WatchICMP.
	ICMP []ICMPError `json:"icmp,omitempty"`
	// Failed are the failed requests (at most 100) from their start to
	// their failure: to place the loss next to the events in the logs, and
	// to tell a request that was in flight across an event from one that
	// began after it.
	Failed []Span `json:"failed,omitempty"`
	// FirstReply and LastReply are when the first and the last reply
	// arrived: a test that requests across an event checks that replies
	// came on both sides of it.
	FirstReply, LastReply time.Time
	// Timeline has every request's outcome in time order, when asked for
	// (FetchOptions.Timeline).
	Timeline []Sample `json:"timeline,omitempty"`
}

// FailedAt returns when the failed requests (at most 100) failed.
func (r FetchResult) FailedAt() []time.Time {
	out := make([]time.Time, len(r.Failed))
	for i, f := range r.Failed {
		out[i] = f.To
	}
	return out
}

// Span is when one request started and when it ended.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Sample is one request's outcome: when it ended and which node's pod
// answered ("" when it failed).
type Sample struct {
	At   time.Time `json:"at"`
	Node string    `json:"node,omitempty"`
}

// FetchOptions shape Fetch.
type FetchOptions struct {
	// Count is the number of requests per worker; <= 0: until ctx ends,
	// one every Interval.
	Count    int
	Timeout  time.Duration
	Interval time.Duration
	// Workers send requests in parallel (default 1), so that a request
	// that waits out its timeout does not leave a gap in the timeline.
	Workers int
	// Timeline records every request's outcome.
	Timeline bool
	// WatchICMP records the ICMP errors received about the requests'
	// packets (raw sockets: root), to name the hop behind a "no route to
	// host".
	WatchICMP bool
}

// Counts returns the replies with their counts.
func (r FetchResult) Counts() map[Reply]int {
	m := map[Reply]int{}
	for s, c := range r.Replies {
		if rep, err := ParseReply(s); err == nil {
			m[rep] += c
		}
	}
	return m
}

// ByNode counts the replies by the node of the pod that answered.
func (r FetchResult) ByNode() map[string]int {
	m := map[string]int{}
	for rep, c := range r.Counts() {
		m[rep.Node] += c
	}
	return m
}

// ByClient counts the replies by the client address the pod saw.
func (r FetchResult) ByClient() map[string]int {
	m := map[string]int{}
	for rep, c := range r.Counts() {
		m[rep.Client] += c
	}
	return m
}

// Fetch sends requests to url, each on a new connection (so that the
// router's ECMP hash sees a new flow every time), and counts the replies;
// an answer that is not a lab pod's reply counts as an error. A request
// cut short by the end of ctx is not counted.
func Fetch(ctx context.Context, url string, o FetchOptions) FetchResult {
	if !o.WatchICMP {
		return fetchWorkers(ctx, url, o)
	}
	u, err := neturl.Parse(url)
	if err != nil {
		return FetchResult{Requests: 1, Errors: 1, LastError: err.Error()}
	}
	dst, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return FetchResult{Requests: 1, Errors: 1, LastError: fmt.Sprintf("the ICMP watch needs an address in the URL: %v", err)}
	}
	wctx, stop := context.WithCancel(context.Background())
	w := watchICMP(wctx, dst)
	r := fetchWorkers(ctx, url, o)
	// ICMP errors about the last packets arrive within a round trip.
	time.Sleep(50 * time.Millisecond)
	stop()
	r.ICMP = w.wait()
	if s := ICMPSummary(r.ICMP); s != "" && r.Errors > 0 {
		r.LastError += "; ICMP received: " + s
	}
	return r
}

func fetchWorkers(ctx context.Context, url string, o FetchOptions) FetchResult {
	if o.Workers <= 1 {
		return fetchLoop(ctx, url, o)
	}
	results := make([]FetchResult, o.Workers)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = fetchLoop(ctx, url, o) })
	}
	wg.Wait()
	r := FetchResult{Replies: map[string]int{}}
	for _, w := range results {
		r.Requests += w.Requests
		r.Errors += w.Errors
		if w.LastError != "" {
			r.LastError = w.LastError
		}
		for k, c := range w.Replies {
			r.Replies[k] += c
		}
		r.Failed = append(r.Failed, w.Failed...)
		if !w.FirstReply.IsZero() && (r.FirstReply.IsZero() || w.FirstReply.Before(r.FirstReply)) {
			r.FirstReply = w.FirstReply
		}
		if w.LastReply.After(r.LastReply) {
			r.LastReply = w.LastReply
		}
		r.Timeline = append(r.Timeline, w.Timeline...)
	}
	slices.SortFunc(r.Failed, func(a, b Span) int { return a.From.Compare(b.From) })
	r.Failed = r.Failed[:min(len(r.Failed), 100)]
	slices.SortFunc(r.Timeline, func(a, b Sample) int { return a.At.Compare(b.At) })
	return r
}

func fetchLoop(ctx context.Context, url string, o FetchOptions) FetchResult {
	n, interval := o.Count, o.Interval
	c := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	r := FetchResult{Replies: map[string]int{}}
	var start time.Time
	fail := func(err error) {
		r.Errors++
		r.LastError = err.Error()
		now := time.Now()
		if len(r.Failed) < 100 {
			r.Failed = append(r.Failed, Span{From: start, To: now})
		}
		if o.Timeline {
			r.Timeline = append(r.Timeline, Sample{At: now})
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
		start = time.Now()
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
		rep, err := ParseReply(string(b))
		if err != nil {
			fail(fmt.Errorf("%s: %w", resp.Status, err))
			continue
		}
		r.Replies[rep.String()]++
		r.LastReply = time.Now()
		if r.FirstReply.IsZero() {
			r.FirstReply = r.LastReply
		}
		if o.Timeline {
			r.Timeline = append(r.Timeline, Sample{At: r.LastReply, Node: rep.Node})
		}
	}
	return r
}

// FetchFromClient runs n requests to url from the sm-client namespace
// (`seamark-lab fetch` there, 2 s timeout each) and returns who answered.
func (l *Lab) FetchFromClient(url string, n int) (FetchResult, error) {
	return l.FetchFromClientWithin(url, n, 2*time.Second)
}

// FetchFromClientWithin is FetchFromClient with a timeout per request.
func (l *Lab) FetchFromClientWithin(url string, n int, timeout time.Duration) (FetchResult, error) {
	return l.FetchFrom(NetnsClient, url, n, timeout)
}

// FetchFrom runs n requests to url from network namespace netns
// (`seamark-lab fetch` there, timeout each) and returns who answered.
func (l *Lab) FetchFrom(netns, url string, n int, timeout time.Duration) (FetchResult, error) {
	out, err := NetnsExec(netns, l.Bin+"/seamark-lab", "fetch", fmt.Sprintf("--count=%d", n), "--timeout="+timeout.String(), url)
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
	return l.startFetch(NetnsClient, url, interval, time.Second)
}

// StartFetchFrom is StartFetch from network namespace netns (e.g.
// NetnsL2Client) with a timeout per request.
func (l *Lab) StartFetchFrom(netns, url string, interval, timeout time.Duration) (*Fetcher, error) {
	return l.startFetch(netns, url, interval, timeout)
}

// StartFetchTimeline is StartFetch with workers sending requests in
// parallel, a timeout per request, and every request's outcome recorded
// (FetchResult.Timeline).
func (l *Lab) StartFetchTimeline(url string, interval, timeout time.Duration, workers int) (*Fetcher, error) {
	return l.startFetch(NetnsClient, url, interval, timeout, "--timeline", fmt.Sprintf("--workers=%d", workers))
}

func (l *Lab) startFetch(netns, url string, interval, timeout time.Duration, extra ...string) (*Fetcher, error) {
	f := &Fetcher{done: make(chan error, 1)}
	// `ip netns exec` execs the command: the pid is seamark-lab's.
	args := append([]string{"netns", "exec", netns, l.Bin + "/seamark-lab", "fetch", "--count=0",
		"--timeout=" + timeout.String(), "--interval=" + interval.String()}, extra...)
	f.cmd = exec.Command("ip", append(args, url)...)
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

// HTTPStatusFromClient sends one GET to url from sm-client (curl) and
// returns the response's status code.
func HTTPStatusFromClient(url string) (int, error) {
	out, err := NetnsExec(NetnsClient, "curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code}", url)
	if err != nil {
		return 0, err
	}
	var code int
	if _, err := fmt.Sscan(string(out), &code); err != nil || code == 0 {
		return 0, fmt.Errorf("GET %s from %s: no status (%q)", url, NetnsClient, out)
	}
	return code, nil
}

// URL is the http URL of addr on port 80.
func URL(addr netip.Addr) string {
	return "http://" + netip.AddrPortFrom(addr, 80).String() + "/"
}
