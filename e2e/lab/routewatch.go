package lab

import (
	"bufio"
	"io"
	"net/netip"
	"strings"
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
type RouteWatch struct{ rec *recorder[RouteChange] }

// WatchRoutes starts recording the router's route changes; Stop ends it.
func (l *Lab) WatchRoutes() (*RouteWatch, error) {
	rec, err := startRecorder(func(c RouteChange) time.Time { return c.At },
		func(c RouteChange) RouteChange { c.Hops = append([]string(nil), c.Hops...); return c },
		[]string{"-n", NetnsRouter, "monitor", "route"}, readRoutes)
	if err != nil {
		return nil, err
	}
	return &RouteWatch{rec: rec}, nil
}

// readRoutes parses `ip monitor route`. A multipath route is several
// lines; a record is published once it is complete: at the next header, or
// when no more output is buffered (ip flushes each notification in one
// write).
func readRoutes(out io.Reader, add func(RouteChange)) {
	br := bufio.NewReader(out)
	var pending *RouteChange
	publish := func() {
		if pending != nil {
			add(*pending)
			pending = nil
		}
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
func (w *RouteWatch) Stop() { w.rec.stop() }

// Wait waits up to timeout for the first change at or after since for
// which match is true, and returns it. Deletions have no hops.
func (w *RouteWatch) Wait(since time.Time, timeout time.Duration, match func(RouteChange) bool) (RouteChange, error) {
	return w.rec.wait(since, timeout, match)
}

// Changes returns a copy of every change recorded so far.
func (w *RouteWatch) Changes() []RouteChange { return w.rec.all() }
