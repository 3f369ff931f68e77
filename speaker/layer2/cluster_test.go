package layer2

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// elected is what the election says for addrs among nodes.
func elected(addrs []netip.Addr, nodes []string) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, a := range addrs {
		out[a] = []string{Elect(a, nodes)}
	}
	return out
}

func formatOwners(m map[netip.Addr][]string) string {
	var b strings.Builder
	for _, a := range slices.SortedFunc(maps.Keys(m), func(x, y netip.Addr) int { return x.Compare(y) }) {
		fmt.Fprintf(&b, "%s=%v ", a, m[a])
	}
	return b.String()
}

// converged waits until every address has exactly the owner the election
// over nodes gives.
func (l *l2lab) converged(t testing.TB, addrs []netip.Addr, nodes []string) map[netip.Addr][]string {
	t.Helper()
	want := elected(addrs, nodes)
	var got map[netip.Addr][]string
	eventually(t, "one owner per address, the elected one among "+strings.Join(nodes, ","), func() (bool, string) {
		got = l.owners()
		for a, o := range got {
			slices.Sort(o)
			got[a] = o
		}
		return maps.EqualFunc(got, want, slices.Equal[[]string]), "owners " + formatOwners(got) + " want " + formatOwners(want)
	})
	return got
}

func (l *l2lab) node(name string) *l2node {
	for _, n := range l.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// TestSpeakersElectOneOwner runs three speakers with memberlist on one
// segment and checks the election from outside: one owner per address,
// spread, a crash moves only the crashed node's addresses (and the
// client's neighbour entry follows), a restarted node takes back only what
// it wins, and a graceful stop hands over.
func TestSpeakersElectOneOwner(t *testing.T) {
	l := newLab(t, 3)
	var addrs []netip.Addr
	for i := range 12 {
		addrs = append(addrs, netip.MustParseAddr(fmt.Sprintf("198.18.210.%d", 60+i)))
	}
	addrs = append(addrs, netip.MustParseAddr("2001:db8:210::60"))
	for _, n := range l.nodes {
		l.start(n, ProfileFast, addrs, testLogger(t))
	}
	all := l.nodeNames()
	owners := l.converged(t, addrs, all)

	t.Run("no node holds more than 8 of 12 addresses", func(t *testing.T) {
		count := map[string]int{}
		for _, a := range addrs[:12] {
			count[owners[a][0]]++
		}
		for n, c := range count {
			if c > 8 {
				t.Errorf("%s owns %d of 12: %v", n, c, count)
			}
		}
	})

	vip := addrs[0]
	victim := l.node(owners[vip][0])
	if got := l.resolve(t, vip); got != victim.mac.String() {
		t.Fatalf("client resolves %s to %s, want the owner %s (%s)", vip, got, victim.name, victim.mac)
	}

	t.Run("a crash moves only the crashed node's addresses", func(t *testing.T) {
		victim.crash()
		rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == victim.name })
		after := l.converged(t, addrs, rest)
		for _, a := range addrs {
			if owners[a][0] != victim.name && after[a][0] != owners[a][0] {
				t.Errorf("%s moved from %s to %s, though %s did not own it", a, owners[a][0], after[a][0], victim.name)
			}
		}
		successor := l.node(after[vip][0])
		eventually(t, "the client's entry to follow the address", func() (bool, string) {
			got := l.clientNeigh(vip)
			return got == successor.mac.String(), "entry " + got + " want " + successor.mac.String()
		})
	})

	t.Run("a restarted node takes back what it wins, nothing else moves", func(t *testing.T) {
		sp := l.start(victim, ProfileFast, addrs, testLogger(t))
		l.converged(t, addrs, all)
		// It joined before it was ready, so it never took (even for a
		// moment) an address it does not win.
		wins := 0
		for _, a := range addrs {
			if owners[a][0] == victim.name {
				wins++
			}
		}
		if got := testutil.ToFloat64(sp.metrics.changes.WithLabelValues("acquired")); got != float64(wins) {
			t.Errorf("the restarted node took addresses %v times, want %d (the ones it wins)", got, wins)
		}
		eventually(t, "the client's entry to come back", func() (bool, string) {
			got := l.clientNeigh(vip)
			return got == victim.mac.String(), "entry " + got
		})
	})

	t.Run("a graceful stop hands over", func(t *testing.T) {
		victim.stop()
		rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == victim.name })
		after := l.converged(t, addrs, rest)
		successor := l.node(after[vip][0])
		eventually(t, "the client's entry to follow the address", func() (bool, string) {
			got := l.clientNeigh(vip)
			return got == successor.mac.String(), "entry " + got
		})
	})

	t.Run("a late claim of the departed speaker does not take the address back", func(t *testing.T) {
		// A gratuitous ARP with the departed owner's MAC (as one sent just
		// before it left and delivered late would look): the successor
		// must answer it with its own announcement, not yield.
		sock := l.clientSocket(t, etherTypeARP)
		successor := l.node(Elect(vip, slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == victim.name })))
		sock.send(must(arpFrame(broadcastMAC, arp.OperationReply, victim.mac, vip, victim.mac, vip)))
		if f := sock.next(5*time.Second, func(b []byte) bool {
			m, err := parseARP(b)
			return err == nil && bytes.Equal(m.sha, successor.mac) && m.spa == vip && m.tpa == vip
		}); f == nil {
			t.Fatalf("%s did not announce %s again after the departed owner's claim", successor.name, vip)
		}
		l.converged(t, addrs, slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == victim.name }))
	})
}

// TestPartitionKeepsOneOwnerOnTheWire cuts one speaker's gossip (both
// sides then think the other dead and claim its addresses) and checks that
// conflict detection still leaves one owner per address — the one the
// election over all nodes picks — and that after the heal the gossip
// merges again.
func TestPartitionKeepsOneOwnerOnTheWire(t *testing.T) {
	l := newLab(t, 3)
	var addrs []netip.Addr
	for i := range 6 {
		addrs = append(addrs, netip.MustParseAddr(fmt.Sprintf("198.18.210.%d", 80+i)))
	}
	for _, n := range l.nodes {
		l.start(n, ProfileFast, addrs, testLogger(t))
	}
	all := l.nodeNames()
	l.converged(t, addrs, all)
	victim := l.nodes[0]
	nsName := fmt.Sprintf("l2t-%s-n1", l.id)
	nft := func(rules string) {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", nsName, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
	}
	nft(`table inet l2tpart {
	chain in { type filter hook input priority 0; tcp dport 7946 drop; udp dport 7946 drop; tcp sport 7946 drop; udp sport 7946 drop; }
	chain out { type filter hook output priority 0; tcp dport 7946 drop; udp dport 7946 drop; tcp sport 7946 drop; udp sport 7946 drop; }
}`)
	acquired := func() float64 {
		return testutil.ToFloat64(victim.speaker().metrics.changes.WithLabelValues("acquired"))
	}
	before := acquired()
	eventually(t, "the partitioned node, alone, to claim the others' addresses", func() (bool, string) {
		got := testutil.ToFloat64(victim.speaker().metrics.members)
		return got == 1 && acquired() > before, fmt.Sprintf("members %v, acquired %v (before %v)", got, acquired(), before)
	})
	// ...and the claims to be settled by conflict detection.
	l.converged(t, addrs, all)

	nft("delete table inet l2tpart")
	eventually(t, "the gossip to merge", func() (bool, string) {
		got := testutil.ToFloat64(victim.speaker().metrics.members)
		return got == 3, fmt.Sprintf("members %v", got)
	})
	l.converged(t, addrs, all)
}

// TestEndpointMoveKeepsOneOwner moves a Local-policy address's endpoints
// (only another node may own it) and back, many times: the old owner sees
// the new owner's announcement while it still owns the address, the new
// owner may see the old one's answer; neither may leave it unowned.
func TestEndpointMoveKeepsOneOwner(t *testing.T) {
	l := newLab(t, 3)
	vip := netip.MustParseAddr("198.18.210.90")
	addrs := []netip.Addr{vip}
	for _, n := range l.nodes {
		l.start(n, ProfileFast, addrs, testLogger(t))
	}
	all := l.nodeNames()
	owner := l.node(l.converged(t, addrs, all)[vip][0])
	rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == owner.name })
	for i := range 6 {
		to := l.node(rest[i%len(rest)])
		if i%2 == 0 {
			l.moveEndpoints(addrs, []string{to.name})
		} else {
			// The new owner learns first and takes the address while the
			// old one still holds it and defends it; then the others learn.
			conflicts := func() float64 { return testutil.ToFloat64(to.speaker().metrics.conflicts) }
			before := conflicts()
			l.moveEndpointsOn([]*l2node{to}, addrs, []string{to.name})
			eventually(t, "the old owner to defend the address against the new one", func() (bool, string) {
				return conflicts() > before, fmt.Sprintf("conflicts at %s: %v", to.name, conflicts())
			})
			l.moveEndpoints(addrs, []string{to.name})
		}
		l.converged(t, addrs, []string{to.name})
		eventually(t, "the client's entry to follow the endpoints", func() (bool, string) {
			got := l.resolve(t, vip)
			return got == to.mac.String(), "entry " + got
		})
		l.moveEndpoints(addrs, all)
		l.converged(t, addrs, all)
	}
}
