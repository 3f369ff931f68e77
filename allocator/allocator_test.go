package allocator

import (
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var ip = netip.MustParseAddr

// harness wraps an Allocator with helpers that fail the test with context.
type harness struct {
	t *testing.T
	a *Allocator
}

func newHarness(t *testing.T, pools ...Pool) *harness {
	t.Helper()
	h := &harness{t: t, a: New()}
	if out := h.a.SetPools(pools); len(out) != 0 {
		t.Fatalf("SetPools on an empty allocator reported %v", out)
	}
	return h
}

func mkPool(t *testing.T, name string, allowFirstLast bool, cidrs ...string) Pool {
	t.Helper()
	p, err := NewPool(name, cidrs, allowFirstLast)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// assign asks for an address and expects want.
func (h *harness) assign(req Request, want string) Result {
	h.t.Helper()
	res, err := h.a.Assign(req)
	if err != nil {
		h.t.Fatalf("Assign(%+v): %v", req, err)
	}
	if res.Address != ip(want) {
		h.t.Fatalf("Assign(%+v) = %v, want %s", req, res.Address, want)
	}
	return res
}

// fail asks for an address and expects an error wrapping want whose message
// contains msg.
func (h *harness) fail(req Request, want error, msg string) {
	h.t.Helper()
	_ = h.failErr(req, want, msg)
}

// failErr is fail, returning the error for further checks.
func (h *harness) failErr(req Request, want error, msg string) error {
	h.t.Helper()
	res, err := h.a.Assign(req)
	if err == nil || (want != nil && !errors.Is(err, want)) {
		h.t.Fatalf("Assign(%+v) = %+v, %v; want %v", req, res, err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		h.t.Fatalf("Assign(%+v) error %q does not contain %q", req, err, msg)
	}
	return err
}

func (h *harness) stats(pool string, f Family, capacity, allocated uint64) {
	h.t.Helper()
	want := Stats{Capacity: capacity, Allocated: allocated, Available: capacity - allocated}
	if capacity == math.MaxUint64 {
		want.Available = math.MaxUint64
	}
	if diff := cmpDiff(want, h.a.Stats(pool, f)); diff != "" {
		h.t.Fatalf("Stats(%q, %v) (-want +got):\n%s", pool, f, diff)
	}
}

func v4(owner string, pools ...string) Request {
	return Request{Owner: owner, Family: IPv4, Pools: pools}
}
func v6(owner string, pools ...string) Request {
	return Request{Owner: owner, Family: IPv6, Pools: pools}
}
func at(owner, addr string, pools ...string) Request {
	return Request{Owner: owner, Address: ip(addr), Pools: pools}
}
func with(r Request, s Share) Request { r.Share = s; return r }

var tcp80, tcp443, udp53 = PortProto{"TCP", 80}, PortProto{"TCP", 443}, PortProto{"UDP", 53}

func TestAllocation(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"an IPv4 /24 hands out its lowest host first and skips the network address", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.assign(v4("ns/b", "a"), "203.0.113.2")
			h.stats("a", IPv4, 254, 2)
			h.stats("a", IPv6, 0, 0)
		}},
		{"a /30 hands out its two hosts, never the broadcast address, then is exhausted", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.4/30"))
			h.assign(v4("ns/a", "a"), "203.0.113.5")
			h.assign(v4("ns/b", "a"), "203.0.113.6")
			h.fail(v4("ns/c", "a"), ErrExhausted, `assigning IPv4 address to ns/c from pool "a": no free address`)
			h.stats("a", IPv4, 2, 2)
		}},
		{"allowFirstLast hands out the network and broadcast addresses", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", true, "203.0.113.4/30"))
			for i, want := range []string{"203.0.113.4", "203.0.113.5", "203.0.113.6", "203.0.113.7"} {
				h.assign(v4(string(rune('a'+i)), "a"), want)
			}
			h.fail(v4("e", "a"), ErrExhausted, "no free address")
		}},
		{"a /31 and a /32 keep every address", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.9/32", "203.0.113.10/31"))
			h.assign(v4("a", "a"), "203.0.113.9")
			h.assign(v4("b", "a"), "203.0.113.10")
			h.assign(v4("c", "a"), "203.0.113.11")
			h.fail(v4("d", "a"), ErrExhausted, "no free address")
			h.stats("a", IPv4, 3, 3)
		}},
		{"an IPv6 /126 skips its subnet-router anycast address", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "2001:db8::/126"))
			h.assign(v6("a", "a"), "2001:db8::1")
			h.assign(v6("b", "a"), "2001:db8::2")
			h.assign(v6("c", "a"), "2001:db8::3")
			h.fail(v6("d", "a"), ErrExhausted, "no free address")
			h.fail(at("d", "2001:db8::", "a"), ErrNotInPool, "2001:db8:: is the subnet-router anycast address of 2001:db8::/126")
		}},
		{"an IPv6 /127 and /128 keep every address", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "2001:db8::/127", "2001:db8::9/128"))
			h.assign(v6("a", "a"), "2001:db8::")
			h.assign(v6("b", "a"), "2001:db8::1")
			h.assign(v6("c", "a"), "2001:db8::9")
			h.stats("a", IPv6, 3, 3)
		}},
		{"an a-b range is literal", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.255-203.0.114.0"))
			h.assign(v4("a", "a"), "203.0.113.255")
			h.assign(v4("b", "a"), "203.0.114.0")
			h.stats("a", IPv4, 2, 2)
		}},
		{"ranges are used in address order, whatever order they were given in", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.20-203.0.113.21", "198.51.100.7/32"))
			h.assign(v4("a", "a"), "198.51.100.7")
			h.assign(v4("b", "a"), "203.0.113.20")
		}},
		{"a /64 hands out its first host and reports a saturated size", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "2001:db8::/64"), mkPool(t, "b", false, "2001:db8:1::/65"))
			h.assign(v6("a", "a"), "2001:db8::1")
			h.stats("a", IPv6, math.MaxUint64, 1)
			h.assign(v6("b", "b"), "2001:db8:1::1")
			h.stats("b", IPv6, 1<<63-1, 1)
		}},
		{"a requested address is granted", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
			res := h.assign(at("ns/a", "203.0.113.77", "a"), "203.0.113.77")
			if diff := cmpDiff(Result{Address: ip("203.0.113.77"), Pool: "a"}, res); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			h.assign(v4("ns/b", "a"), "203.0.113.1")
			h.stats("a", IPv4, 254, 2)
		}},
		{"a second service cannot take the first one's address", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.fail(at("ns/b", "203.0.113.1", "a"), ErrInUse, "assigning 203.0.113.1 to ns/b: held by ns/a: address in use")
		}},
		{"a requested address outside the permitted pools is refused", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"), mkPool(t, "b", false, "198.51.100.0/24"))
			h.fail(at("ns/a", "198.51.100.9", "a"), ErrNotInPool, `198.51.100.9 belongs to pool "b", not to pool "a"`)
			h.fail(at("ns/a", "198.18.255.1", "a", "b"), ErrNotInPool, `198.18.255.1 is outside pools "a", "b"`)
			h.fail(at("ns/a", "203.0.113.0", "a"), ErrNotInPool, "203.0.113.0 is the network address of 203.0.113.0/24")
			h.fail(at("ns/a", "203.0.113.255", "a"), ErrNotInPool, "203.0.113.255 is the broadcast address of 203.0.113.0/24")
			h.fail(at("ns/a", "203.0.113.5"), ErrNotInPool, `203.0.113.5 belongs to pool "a", not to the permitted pools (none)`)
			h.fail(at("ns/a", "::ffff:203.0.113.5", "a"), ErrNotInPool, "IPv4-mapped")
			h.fail(Request{Owner: "ns/a", Family: IPv6, Address: ip("203.0.113.5"), Pools: []string{"a"}}, nil, "the address is not IPv6")
		}},
		{"candidate pools are tried in the caller's order, not by name", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/31"), mkPool(t, "b", false, "198.51.100.0/32"))
			h.assign(v4("x", "b", "a"), "198.51.100.0")
			h.assign(v4("y", "b", "a"), "203.0.113.0")
			h.assign(v4("z", "b", "a"), "203.0.113.1")
			h.fail(v4("w", "b", "a"), ErrExhausted, `from pools "b", "a"`)
		}},
		{"a family no candidate pool has is unavailable", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"), mkPool(t, "b", false, "2001:db8::/64"))
			h.fail(v6("ns/a", "a"), ErrFamilyUnavailable, `assigning IPv6 address to ns/a: no IPv6 range in pool "a"`)
			h.fail(v4("ns/a"), ErrFamilyUnavailable, "no IPv4 range in the permitted pools (none)")
			h.assign(v6("ns/a", "a", "b"), "2001:db8::1")
		}},
		{"an unknown pool is an error", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
			h.fail(v4("ns/a", "a", "nope"), ErrUnknownPool, `pool "nope": unknown pool`)
		}},
		{"assigning again returns the same address", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"), mkPool(t, "b", false, "198.51.100.0/24"))
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.assign(v4("ns/a", "b"), "203.0.113.1") // a held address never moves
			h.assign(at("ns/a", "203.0.113.1", "b"), "203.0.113.1")
			h.fail(at("ns/a", "203.0.113.2", "a"), ErrAlreadyAssigned, "it holds 203.0.113.1; release that first")
			h.stats("a", IPv4, 254, 1)
			h.a.Release("ns/a", ip("203.0.113.1"))
			h.assign(at("ns/a", "203.0.113.2", "a"), "203.0.113.2")
		}},
		{"a released address is handed out again, lowest first", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
			for _, o := range []string{"a", "b", "c", "d"} {
				h.assign(v4(o, "a"), "203.0.113."+string(rune('1'+o[0]-'a')))
			}
			h.a.Release("c", ip("203.0.113.3"))
			h.a.Release("b", ip("203.0.113.2"))
			h.assign(v4("e", "a"), "203.0.113.2")
			h.assign(v4("f", "a"), "203.0.113.3")
			h.assign(v4("g", "a"), "203.0.113.5")
		}},
		{"release is idempotent and only releases the owner's hold", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.a.Release("ns/b", ip("203.0.113.1")) // not the holder
			h.a.Release("ns/a", ip("203.0.113.9")) // not held
			h.a.Release("ns/a", netip.Addr{})
			h.fail(at("ns/b", "203.0.113.1", "a"), ErrInUse, "held by ns/a")
			h.a.Release("ns/a", ip("203.0.113.1"))
			h.a.Release("ns/a", ip("203.0.113.1"))
			h.a.ReleaseOwner("ns/a")
			h.a.ReleaseOwner("ns/nobody")
			h.stats("a", IPv4, 254, 0)
			if got := h.a.Owners(ip("203.0.113.1")); got != nil {
				t.Errorf("Owners = %v after release", got)
			}
			h.assign(v4("ns/b", "a"), "203.0.113.1")
		}},
		{"a dual-stack owner holds one address of each family", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "2001:db8::/120", "203.0.113.0/24"))
			h.assign(v6("ns/a", "a"), "2001:db8::1")
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.assign(v6("ns/a", "a"), "2001:db8::1")
			if diff := cmpDiff([]netip.Addr{ip("203.0.113.1"), ip("2001:db8::1")}, h.a.Addresses("ns/a")); diff != "" {
				t.Errorf("Addresses (-want +got):\n%s", diff)
			}
			h.stats("a", IPv4, 254, 1)
			h.stats("a", IPv6, 255, 1)
			h.a.ReleaseOwner("ns/a")
			if got := h.a.Addresses("ns/a"); got != nil {
				t.Errorf("Addresses = %v after ReleaseOwner", got)
			}
			h.stats("a", IPv4, 254, 0)
			h.stats("a", IPv6, 255, 0)
		}},
		{"require-dual-stack: the caller sees which family failed", func(t *testing.T) {
			h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24", "2001:db8::/127"))
			h.assign(v6("ns/x", "a"), "2001:db8::")
			h.assign(v6("ns/y", "a"), "2001:db8::1")
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.fail(v6("ns/a", "a"), ErrExhausted, "assigning IPv6 address to ns/a")
			h.a.Release("ns/a", ip("203.0.113.1")) // all or nothing: the caller gives the IPv4 address back
			h.stats("a", IPv4, 254, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestSharing(t *testing.T) {
	web := func(key string, ports ...PortProto) Share {
		return Share{Key: key, Ports: ports, Policy: PolicyCluster}
	}
	local := func(key, selector string, ports ...PortProto) Share {
		return Share{Key: key, Ports: ports, Policy: PolicyLocal, Selector: selector}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"services with one key and different ports share an address", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k", tcp80)), "203.0.113.1")
			res := h.assign(with(v4("ns/b", "a"), web("k", tcp443, udp53)), "203.0.113.1")
			if !res.Shared || res.SharingConflict != nil {
				t.Errorf("Result = %+v, want shared without conflict", res)
			}
			h.stats("a", IPv4, 254, 1)
			if diff := cmpDiff([]string{"ns/a", "ns/b"}, h.a.Owners(ip("203.0.113.1"))); diff != "" {
				t.Errorf("Owners (-want +got):\n%s", diff)
			}
		}},
		{"a port conflict gets a fresh address and says why", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k", tcp80)), "203.0.113.1")
			res := h.assign(with(v4("ns/b", "a"), web("k", tcp443, tcp80)), "203.0.113.2")
			want := &SharingConflictError{Address: ip("203.0.113.1"), Owner: "ns/a", Reason: "port TCP/80 already used by ns/a"}
			if diff := cmpDiff(want, res.SharingConflict); diff != "" || res.Shared {
				t.Errorf("Result = %+v (-want +got conflict):\n%s", res, diff)
			}
			// The same port on another protocol is not a conflict.
			h.assign(with(v4("ns/c", "a"), web("k", PortProto{"UDP", 80})), "203.0.113.1")
		}},
		{"a traffic policy mismatch gets a fresh address", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), local("k", "app=a", tcp80)), "203.0.113.1")
			res := h.assign(with(v4("ns/b", "a"), web("k", tcp443)), "203.0.113.2")
			if res.SharingConflict == nil || res.SharingConflict.Reason != "externalTrafficPolicy Cluster differs from Local of ns/a" {
				t.Errorf("Result = %+v, want a policy conflict", res)
			}
		}},
		{"policy Local shares only with the same selector", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), local("k", "app=a", tcp80)), "203.0.113.1")
			res := h.assign(with(v4("ns/b", "a"), local("k", "app=b", tcp443)), "203.0.113.2")
			if res.SharingConflict == nil || !strings.Contains(res.SharingConflict.Reason, `selector "app=b" differs from "app=a" of ns/a`) {
				t.Errorf("Result = %+v, want a selector conflict", res)
			}
			h.assign(with(v4("ns/c", "a"), local("k", "app=a", udp53)), "203.0.113.1")
		}},
		{"policy Cluster ignores the selector", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), Share{Key: "k", Policy: PolicyCluster, Selector: "app=a"}), "203.0.113.1")
			h.assign(with(v4("ns/b", "a"), Share{Key: "k", Policy: PolicyCluster, Selector: "app=b"}), "203.0.113.1")
		}},
		{"a different key does not share and is not reported as a conflict", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k1", tcp80)), "203.0.113.1")
			res := h.assign(with(v4("ns/b", "a"), web("k2", tcp443)), "203.0.113.2")
			if res.SharingConflict != nil {
				t.Errorf("Result = %+v, want no conflict", res)
			}
		}},
		{"the lowest compatible address of the first candidate pool is joined", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "b"), web("k", tcp80)), "198.51.100.1")
			h.assign(with(v4("ns/b", "a"), web("k", tcp80)), "203.0.113.1")
			h.assign(with(v4("ns/c", "a"), web("k", tcp80)), "203.0.113.2")
			h.assign(with(v4("ns/d", "a", "b"), web("k", tcp443)), "203.0.113.1")
			h.assign(with(v4("ns/e", "b", "a"), web("k", udp53)), "198.51.100.1")
			h.assign(with(v4("ns/f", "a"), web("k", tcp443)), "203.0.113.2")
		}},
		{"a requested shared address", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k", tcp80)), "203.0.113.1")
			h.assign(with(at("ns/b", "203.0.113.1", "a"), web("k", tcp443)), "203.0.113.1")
			err := h.failErr(with(at("ns/c", "203.0.113.1", "a"), web("k", tcp443)), ErrSharingConflict,
				"assigning 203.0.113.1 to ns/c: cannot share 203.0.113.1: port TCP/443 already used by ns/b")
			var sc *SharingConflictError
			if !errors.As(err, &sc) || sc.Owner != "ns/b" {
				t.Errorf("error %v does not carry the conflicting owner ns/b", err)
			}
			h.fail(with(at("ns/c", "203.0.113.1", "a"), web("other", tcp443)), ErrSharingConflict, `sharing key "other" differs from "k" of ns/a`)
			h.fail(at("ns/c", "203.0.113.1", "a"), ErrSharingConflict, `shared under sharing key "k" of ns/a, and no sharing key was given`)
		}},
		{"a requested address held without a key cannot be shared", func(t *testing.T, h *harness) {
			h.assign(v4("ns/a", "a"), "203.0.113.1")
			h.fail(with(at("ns/b", "203.0.113.1", "a"), web("k")), ErrSharingConflict, "address is held by ns/a without a sharing key")
			// Sharing data without a key is recorded but shares nothing.
			h.assign(with(v4("ns/c", "a"), Share{Ports: []PortProto{tcp80}}), "203.0.113.2")
			h.fail(at("ns/d", "203.0.113.2", "a"), ErrInUse, "held by ns/c")
		}},
		{"a shared address is freed when its last owner releases it", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k", tcp80)), "203.0.113.1")
			h.assign(with(v4("ns/b", "a"), web("k", tcp443)), "203.0.113.1")
			h.a.Release("ns/a", ip("203.0.113.1"))
			h.stats("a", IPv4, 254, 1)
			h.fail(at("ns/x", "203.0.113.1", "a"), ErrSharingConflict, "ns/b")
			// ns/a's port is free again under the key.
			h.assign(with(v4("ns/c", "a"), web("k", tcp80)), "203.0.113.1")
			h.a.ReleaseOwner("ns/b")
			h.a.ReleaseOwner("ns/c")
			h.stats("a", IPv4, 254, 0)
			h.assign(v4("ns/x", "a"), "203.0.113.1")
		}},
		{"an owner's new ports are checked against its co-holders", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k", tcp80)), "203.0.113.1")
			h.assign(with(v4("ns/b", "a"), web("k", tcp443)), "203.0.113.1")
			h.fail(with(v4("ns/b", "a"), web("k", tcp80)), ErrSharingConflict, "port TCP/80 already used by ns/a")
			h.assign(with(v4("ns/b", "a"), web("k", udp53)), "203.0.113.1")
			// The updated ports are what a newcomer is checked against.
			h.assign(with(v4("ns/c", "a"), web("k", tcp443)), "203.0.113.1")
			got := h.a.Assignments()
			want := []Assignment{
				{Address: ip("203.0.113.1"), Owner: "ns/a", Pool: "a", Share: web("k", tcp80)},
				{Address: ip("203.0.113.1"), Owner: "ns/b", Pool: "a", Share: web("k", udp53)},
				{Address: ip("203.0.113.1"), Owner: "ns/c", Pool: "a", Share: web("k", tcp443)},
			}
			if diff := cmpDiff(want, got); diff != "" {
				t.Errorf("Assignments (-want +got):\n%s", diff)
			}
		}},
		{"a sole holder may change its key", func(t *testing.T, h *harness) {
			h.assign(with(v4("ns/a", "a"), web("k1", tcp80)), "203.0.113.1")
			h.assign(with(v4("ns/a", "a"), web("k2", tcp80)), "203.0.113.1")
			h.assign(with(v4("ns/b", "a"), web("k2", tcp443)), "203.0.113.1")
			res := h.assign(with(v4("ns/c", "a"), web("k1", tcp443)), "203.0.113.2")
			if res.SharingConflict != nil {
				t.Errorf("the old key is still indexed: %+v", res)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"), mkPool(t, "b", false, "198.51.100.0/24")))
		})
	}
}

func TestShareConflictWith(t *testing.T) {
	base := Share{Key: "k", Ports: []PortProto{tcp80}, Policy: PolicyLocal, Selector: "app=a"}
	tests := []struct {
		name string
		s    Share
		want string
	}{
		{"compatible", Share{Key: "k", Ports: []PortProto{tcp443}, Policy: PolicyLocal, Selector: "app=a"}, ""},
		{"no ports at all", Share{Key: "k", Policy: PolicyLocal, Selector: "app=a"}, ""},
		{"key differs", Share{Key: "j", Policy: PolicyLocal, Selector: "app=a"}, `sharing key "j" differs from "k" of ns/a`},
		{"no key", Share{Policy: PolicyLocal, Selector: "app=a"}, `address is shared under sharing key "k" of ns/a, and no sharing key was given`},
		{"port clash reports the first clashing port", Share{Key: "k", Ports: []PortProto{udp53, tcp80}, Policy: PolicyLocal, Selector: "app=a"}, "port TCP/80 already used by ns/a"},
		{"policy differs", Share{Key: "k", Policy: PolicyCluster}, "externalTrafficPolicy Cluster differs from Local of ns/a"},
		{"selector differs", Share{Key: "k", Policy: PolicyLocal, Selector: "app=b"}, `selector "app=b" differs from "app=a" of ns/a, and policy Local needs the same endpoints`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.ConflictWith(base, "ns/a"); got != tt.want {
				t.Errorf("ConflictWith = %q, want %q", got, tt.want)
			}
		})
	}
	if got := base.ConflictWith(Share{}, "ns/a"); got != "address is held by ns/a without a sharing key" {
		t.Errorf("ConflictWith(unkeyed) = %q", got)
	}
}

func TestPoolEdits(t *testing.T) {
	t.Run("shrinking a pool keeps the address in use and reports it", func(t *testing.T) {
		h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
		h.assign(at("ns/a", "203.0.113.200", "a"), "203.0.113.200")
		h.assign(v4("ns/b", "a"), "203.0.113.1")
		out := h.a.SetPools([]Pool{mkPool(t, "a", false, "203.0.113.0/25")})
		want := []Assignment{{Address: ip("203.0.113.200"), Owner: "ns/a"}}
		if diff := cmpDiff(want, out); diff != "" {
			t.Fatalf("SetPools (-want +got):\n%s", diff)
		}
		if diff := cmpDiff(want, h.a.Outside()); diff != "" {
			t.Fatalf("Outside (-want +got):\n%s", diff)
		}
		h.stats("a", IPv4, 126, 1)
		h.assign(v4("ns/a", "a"), "203.0.113.200") // kept, never moved
		if got := h.a.PoolOf(ip("203.0.113.200")); got != "" {
			t.Errorf("PoolOf = %q, want outside", got)
		}
		h.fail(at("ns/c", "203.0.113.200", "a"), ErrNotInPool, "outside")
		if _, err := h.a.Restore("ns/c", ip("203.0.113.200"), Share{}); !errors.Is(err, ErrInUse) {
			t.Errorf("Restore of a kept address by another owner: %v, want ErrInUse", err)
		}

		// Growing the pool back accounts the address to it again; the lowest
		// free address skips it.
		if out := h.a.SetPools([]Pool{mkPool(t, "a", false, "203.0.113.0/24")}); len(out) != 0 {
			t.Fatalf("SetPools reported %v", out)
		}
		h.stats("a", IPv4, 254, 2)
		if got := h.a.PoolOf(ip("203.0.113.200")); got != "a" {
			t.Errorf("PoolOf = %q, want a", got)
		}
		for i := 2; i < 200; i++ {
			h.assign(v4("fill"+string(rune(i)), "a"), netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String())
		}
		h.assign(v4("next", "a"), "203.0.113.201")
	})
	t.Run("deleting a pool keeps its grants and a renamed pool picks them up", func(t *testing.T) {
		h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"), mkPool(t, "b", false, "2001:db8::/64"))
		h.assign(v4("ns/a", "a"), "203.0.113.1")
		h.assign(v6("ns/a", "b"), "2001:db8::1")
		out := h.a.SetPools([]Pool{mkPool(t, "b", false, "2001:db8::/64")})
		if diff := cmpDiff([]Assignment{{Address: ip("203.0.113.1"), Owner: "ns/a"}}, out); diff != "" {
			t.Fatalf("SetPools (-want +got):\n%s", diff)
		}
		h.stats("a", IPv4, 0, 0)
		out = h.a.SetPools([]Pool{mkPool(t, "renamed", false, "203.0.113.0/24"), mkPool(t, "b", false, "2001:db8::/64")})
		if len(out) != 0 {
			t.Fatalf("SetPools reported %v", out)
		}
		h.stats("renamed", IPv4, 254, 1)
		h.stats("b", IPv6, math.MaxUint64, 1)
		h.assign(v4("ns/b", "renamed"), "203.0.113.2")
	})
	t.Run("an edit that makes an address reserved reports it", func(t *testing.T) {
		h := newHarness(t, mkPool(t, "a", true, "203.0.113.0/24"))
		h.assign(v4("ns/a", "a"), "203.0.113.0")
		out := h.a.SetPools([]Pool{mkPool(t, "a", false, "203.0.113.0/24")})
		if diff := cmpDiff([]Assignment{{Address: ip("203.0.113.0"), Owner: "ns/a"}}, out); diff != "" {
			t.Fatalf("SetPools (-want +got):\n%s", diff)
		}
		h.stats("a", IPv4, 254, 0)
	})
	t.Run("overlapping pools: the first name owns the overlap", func(t *testing.T) {
		h := newHarness(t, mkPool(t, "b", false, "203.0.113.0/24"), mkPool(t, "a", false, "203.0.113.0/26"))
		h.stats("a", IPv4, 62, 0)
		h.stats("b", IPv4, 254-62, 0)
		h.assign(v4("x", "b"), "203.0.113.63") // a's broadcast address is not a's, so it is b's
		h.fail(at("y", "203.0.113.5", "b"), ErrNotInPool, `203.0.113.5 belongs to pool "a", not to pool "b"`)
		h.assign(at("y", "203.0.113.5", "a"), "203.0.113.5")
		// Both CIDRs reserve .0, so neither hands it out.
		h.fail(at("z", "203.0.113.0", "a", "b"), ErrNotInPool, "network address")
	})
	t.Run("pools with empty or duplicate names are ignored", func(t *testing.T) {
		h := newHarness(t, Pool{Ranges: []Range{MustParseRange("198.51.100.0/24")}},
			mkPool(t, "a", false, "203.0.113.0/24"), mkPool(t, "a", false, "2001:db8::/64"))
		h.stats("a", IPv4, 254, 0)
		h.stats("a", IPv6, 0, 0)
		h.stats("", IPv4, 0, 0)
		h.stats("a", Family(0), 0, 0)
	})
	t.Run("SetPools copies the caller's ranges", func(t *testing.T) {
		p := mkPool(t, "a", false, "203.0.113.0/24")
		h := newHarness(t, p)
		p.Ranges[0] = MustParseRange("198.51.100.0/24")
		h.assign(v4("x", "a"), "203.0.113.1")
	})
}

func TestRestore(t *testing.T) {
	h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
	k := Share{Key: "k", Ports: []PortProto{tcp80}, Policy: PolicyCluster}
	for _, r := range []struct {
		owner, addr string
		share       Share
	}{
		{"ns/b", "203.0.113.2", Share{}},
		{"ns/a", "203.0.113.1", k},
		{"ns/c", "203.0.113.1", Share{Key: "k", Ports: []PortProto{tcp443}, Policy: PolicyCluster}},
		{"ns/d", "198.51.100.7", Share{}}, // outside every pool: kept and reported
		{"ns/d", "198.51.100.8", Share{}}, // persisted state may hold two of a family
		{"ns/b", "203.0.113.2", Share{}},  // idempotent
	} {
		if _, err := h.a.Restore(r.owner, ip(r.addr), r.share); err != nil {
			t.Fatalf("Restore(%s, %s): %v", r.owner, r.addr, err)
		}
	}
	if _, err := h.a.Restore("ns/e", ip("203.0.113.2"), Share{}); !errors.Is(err, ErrInUse) {
		t.Errorf("Restore of a held address: %v, want ErrInUse", err)
	}
	if _, err := h.a.Restore("ns/e", ip("203.0.113.1"), k); !errors.Is(err, ErrSharingConflict) {
		t.Errorf("Restore with a clashing port: %v, want ErrSharingConflict", err)
	}
	if _, err := h.a.Restore("ns/c", ip("203.0.113.1"), k); !errors.Is(err, ErrSharingConflict) {
		t.Errorf("Restore of a held grant with a port its co-holder uses: %v, want ErrSharingConflict", err)
	}
	for _, bad := range []netip.Addr{{}, ip("fe80::1%eth0"), ip("::ffff:203.0.113.9")} {
		if _, err := h.a.Restore("ns/e", bad, Share{}); err == nil {
			t.Errorf("Restore(%v) succeeded", bad)
		}
	}
	if _, err := h.a.Restore("", ip("203.0.113.9"), Share{}); err == nil {
		t.Error("Restore with an empty owner succeeded")
	}
	want := []Assignment{
		{Address: ip("198.51.100.7"), Owner: "ns/d"},
		{Address: ip("198.51.100.8"), Owner: "ns/d"},
	}
	if diff := cmpDiff(want, h.a.Outside()); diff != "" {
		t.Errorf("Outside (-want +got):\n%s", diff)
	}
	h.stats("a", IPv4, 254, 2)
	h.assign(v4("ns/d", "a"), "198.51.100.7") // idempotent: its first address
	h.assign(v4("ns/x", "a"), "203.0.113.3")
	if diff := cmpDiff([]netip.Addr{ip("198.51.100.7"), ip("198.51.100.8")}, h.a.Addresses("ns/d")); diff != "" {
		t.Errorf("Addresses (-want +got):\n%s", diff)
	}
	if got := h.a.PoolOf(ip("203.0.113.77")); got != "a" {
		t.Errorf("PoolOf(free address) = %q", got)
	}
}

func TestRequestValidation(t *testing.T) {
	h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
	for _, req := range []Request{
		{Owner: "ns/a", Pools: []string{"a"}},
		{Owner: "", Family: IPv4, Pools: []string{"a"}},
		{Owner: "ns/a", Family: 5, Pools: []string{"a"}},
	} {
		if res, err := h.a.Assign(req); err == nil {
			t.Errorf("Assign(%+v) = %+v, want an error", req, res)
		}
	}
}

// TestCorruptIndexNeverDoubleGrants plants a granted address in the free
// index, as a bug would, and checks that Assign skips it, and that the loop
// guard turns a badly corrupted index into an error rather than a hang.
func TestCorruptIndexNeverDoubleGrants(t *testing.T) {
	h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
	h.assign(v4("ns/a", "a"), "203.0.113.1")
	free := &h.a.pools["a"].fam[IPv4.index()].free
	free.put(keyOf(ip("203.0.113.1")))
	h.assign(v4("ns/b", "a"), "203.0.113.2")

	for i := 3; i < 3+maxStale; i++ {
		h.assign(v4("fill"+string(rune(i)), "a"), netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String())
	}
	for i := 1; i < 3+maxStale; i++ {
		free.put(keyOf(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})))
	}
	h.fail(v4("ns/c", "a"), nil, `free-space index of pool "a" is out of step`)

	// An address missing from the index without being granted is refused
	// rather than granted twice later.
	free.take(keyOf(ip("203.0.113.200")))
	h.fail(at("ns/c", "203.0.113.200", "a"), nil, "out of step")
	if _, err := h.a.Restore("ns/c", ip("203.0.113.200"), Share{}); err == nil || !strings.Contains(err.Error(), "out of step") {
		t.Errorf("Restore from a corrupt index: %v", err)
	}
}

func TestLookupsOfOddAddresses(t *testing.T) {
	h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24"))
	h.assign(v4("ns/a", "a"), "203.0.113.1")
	for _, a := range []netip.Addr{{}, ip("::ffff:203.0.113.1"), ip("fe80::1%eth0")} {
		if got := h.a.Owners(a); got != nil {
			t.Errorf("Owners(%v) = %v", a, got)
		}
		if got := h.a.PoolOf(a); got != "" {
			t.Errorf("PoolOf(%v) = %q", a, got)
		}
	}
	if got := h.a.PoolOf(ip("203.0.113.0")); got != "" {
		t.Errorf("PoolOf(network address) = %q", got)
	}
}

func TestMustParseRangePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParseRange of a bad range did not panic")
		}
	}()
	MustParseRange("203.0.113.1/24")
}

// cmpDiff is cmp.Diff that compares netip.Addr by value. The fuzz test calls
// it many times per input, so equal values take the cheap path.
func cmpDiff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }))
}

// TestOwnerHashCollisions runs owners whose hashes all collide through
// sharing, dual stack and release: the owner index must stay exact.
func TestOwnerHashCollisions(t *testing.T) {
	h := newHarness(t, mkPool(t, "a", false, "203.0.113.0/24", "2001:db8::/64"))
	h.a.owners.hashOf = func(string) uint64 { return 7 }
	k := func(p PortProto) Share { return Share{Key: "k", Ports: []PortProto{p}, Policy: PolicyCluster} }
	h.assign(with(v4("ns/a", "a"), k(tcp80)), "203.0.113.1")
	h.assign(with(v4("ns/b", "a"), k(tcp443)), "203.0.113.1") // joins ns/a's head grant
	h.assign(v6("ns/b", "a"), "2001:db8::1")
	h.assign(v4("ns/c", "a"), "203.0.113.2")
	h.a.ReleaseOwner("ns/a") // the owner that had the hash's slot goes first
	h.assign(v4("ns/b", "a"), "203.0.113.1")
	h.assign(v4("ns/c", "a"), "203.0.113.2")
	if diff := cmpDiff([]netip.Addr{ip("203.0.113.1"), ip("2001:db8::1")}, h.a.Addresses("ns/b")); diff != "" {
		t.Errorf("Addresses(ns/b) (-want +got):\n%s", diff)
	}
	h.a.Release("ns/b", ip("203.0.113.1"))
	h.assign(v4("ns/d", "a"), "203.0.113.1")
	h.a.ReleaseOwner("ns/b")
	h.a.ReleaseOwner("ns/c")
	h.a.ReleaseOwner("ns/d")
	if len(h.a.Assignments()) != 0 || h.a.owners.byHash.len() != 0 || len(h.a.owners.collided) != 0 {
		t.Errorf("owners left behind: %v %v %v", h.a.Assignments(), h.a.owners.byHash.len(), h.a.owners.collided)
	}
}
