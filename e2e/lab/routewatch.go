package lab

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// RouteChange is one route notification of the router's kernel: the
// prefix, its next hops after the change (none: deleted) and when the
// notification arrived.
type RouteChange struct {
	Prefix netip.Prefix
	Hops   []string
	At     time.Time
}

// RouteWatch records the router kernel's route changes as they happen
// (`ip monitor route` in sm-router), for convergence figures measured at
// the data plane rather than by polling.
type RouteWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	changes []RouteChange
	notify  chan struct{}
}

// WatchRoutes starts recording the router's route changes; Stop ends it.
func (l *Lab) WatchRoutes() (*RouteWatch, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ip", "-n", NetnsRouter, "monitor", "route")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting ip monitor in %s: %w", NetnsRouter, err)
	}
	w := &RouteWatch{cancel: cancel, done: make(chan struct{}), notify: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer func() { _ = cmd.Wait() }()
		// A multipath route is several lines; a record is published once
		// it is complete: at the next header, or when no more output is
		// buffered (ip flushes each notification in one write).
		br := bufio.NewReader(out)
		var pending *RouteChange
		publish := func() {
			if pending == nil {
				return
			}
			w.mu.Lock()
			w.changes = append(w.changes, *pending)
			close(w.notify)
			w.notify = make(chan struct{})
			w.mu.Unlock()
			pending = nil
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				publish()
				return
			}
			line = strings.TrimRight(line, "\n")
			if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ") {
				// "\tnexthop via ADDR dev ..." of a multipath route.
				if f := strings.Fields(line); pending != nil && len(f) >= 3 && f[0] == "nexthop" && f[1] == "via" {
					pending.Hops = append(pending.Hops, f[2])
				}
			} else {
				publish()
				if c, ok := parseRouteHeader(line, time.Now()); ok {
					pending = &c
				}
			}
			if br.Buffered() == 0 {
				publish()
			}
		}
	}()
	// ip monitor subscribes before it prints anything; give it a moment.
	time.Sleep(100 * time.Millisecond)
	return w, nil
}

// parseRouteHeader parses the first line of a route notification:
// "[Deleted ]PREFIX [nhid N] [via ADDR] ...".
func parseRouteHeader(line string, at time.Time) (RouteChange, bool) {
	f := strings.Fields(line)
	deleted := len(f) > 0 && f[0] == "Deleted"
	if deleted {
		f = f[1:]
	}
	if len(f) == 0 {
		return RouteChange{}, false
	}
	p, err := netip.ParsePrefix(f[0])
	if err != nil {
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			return RouteChange{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	c := RouteChange{Prefix: p, At: at}
	if deleted {
		c.Hops = []string{}
		return c, true
	}
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			c.Hops = append(c.Hops, f[i+1])
		}
	}
	return c, true
}

// Stop ends the recording.
func (w *RouteWatch) Stop() {
	w.cancel()
	<-w.done
}

// Wait waits up to timeout for the first change at or after since for
// which match is true, and returns it. Deletions have no hops.
func (w *RouteWatch) Wait(since time.Time, timeout time.Duration, match func(RouteChange) bool) (RouteChange, error) {
	deadline := time.After(timeout)
	from := 0
	for {
		w.mu.Lock()
		for ; from < len(w.changes) && w.changes[from].At.Before(since); from++ {
		}
		for i := from; i < len(w.changes); i++ {
			if match(w.changes[i]) {
				c := w.changes[i]
				c.Hops = append([]string(nil), c.Hops...)
				w.mu.Unlock()
				return c, nil
			}
		}
		notify := w.notify
		w.mu.Unlock()
		select {
		case <-notify:
		case <-deadline:
			return RouteChange{}, fmt.Errorf("no matching route change in %s", timeout)
		}
	}
}

// Changes returns a copy of every change recorded so far.
func (w *RouteWatch) Changes() []RouteChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]RouteChange, len(w.changes))
	for i, c := range w.changes {
		c.Hops = append([]string(nil), c.Hops...)
		out[i] = c
	}
	return out
}
