package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/seamark-io/seamark/speaker/bgp"
)

// Announce is `seamark-lab announce`: one BGP session (AS NodeASN) from
// source to the router (AS RouterASN) that announces prefix, whatever
// Kubernetes says, until ctx ends. The e2e suite runs it in a node's
// namespace to make that node attract a Service's traffic the way a wrong
// announcement would.
func Announce(ctx context.Context, log logr.Logger, router, source, prefix string) error {
	r, err := netip.ParseAddr(router)
	if err != nil {
		return fmt.Errorf("--router: %w", err)
	}
	src, err := netip.ParseAddr(source)
	if err != nil {
		return fmt.Errorf("--source: %w", err)
	}
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return fmt.Errorf("--prefix: %w", err)
	}
	s := bgp.New(bgp.Options{Logger: log})
	if err := s.Reconcile(ctx, map[string]bgp.PeerDesired{"hand-made": {
		Config: bgp.PeerConfig{
			Name: "hand-made", Address: r, ASN: RouterASN, LocalASN: NodeASN, SourceAddress: src,
			HoldTime: 9 * time.Second, ConnectRetryTime: time.Second,
		},
		Paths: []bgp.Path{{Prefix: p}},
	}}); err != nil {
		return err
	}
	log.Info("Announcing", "prefix", p, "router", r, "source", src)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(shutdown, 0)
}

// Announcer is a running `seamark-lab announce`.
type Announcer struct {
	l    *Lab
	name string
}

// StartAnnounce starts `seamark-lab announce` in node n's namespace: a
// session from source (an address of n) to the router that announces
// prefix. The router needs a neighbor for source.
func (l *Lab) StartAnnounce(n Node, source netip.Addr, prefix netip.Prefix) (*Announcer, error) {
	name := "announce-" + n.Name
	if _, err := l.startProcess(name, n.Netns, filepath.Join(l.Bin, "seamark-lab"), "announce",
		"--router="+RouterFabricAddr.String(), "--source="+source.String(), "--prefix="+prefix.String()); err != nil {
		return nil, err
	}
	return &Announcer{l: l, name: name}, nil
}

// Stop ends the session (the router drops the path).
func (a *Announcer) Stop() error { return a.l.StopProcess(a.name, 10*time.Second) }
