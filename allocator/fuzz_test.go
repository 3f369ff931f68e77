package allocator

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// The fuzz universe: small ranges the reference model can scan address by
// address, including overlaps within and across pools, plus two big IPv6
// ranges (each only ever in one pool) for saturating sizes.
var (
	fuzzRanges = []string{
		"198.51.100.0/29",            // network and broadcast reserved
		"198.51.100.8-198.51.100.11", // literal
		"198.51.100.12/31",           // every address usable
		"198.51.100.4/30",            // overlaps the /29
		"198.51.100.14/32",
		"2001:db8::/126",          // subnet-router anycast reserved
		"2001:db8::4-2001:db8::6", // literal
		"2001:db8::6/127",         // overlaps the range above
	}
	fuzzBig    = map[string]string{"b": "2001:db8:2::/65", "c": "2001:db8:1::/56"}
	fuzzNames  = []string{"a", "b", "c"}
	fuzzPorts  = [][]PortProto{nil, {{"TCP", 80}}, {{"TCP", 443}}, {{"UDP", 80}}, {{"TCP", 80}, {"UDP", 53}}}
	fuzzAddrs  = fuzzAddresses()
	fuzzOwners = []string{"ns/o0", "ns/o1", "ns/o2", "ns/o3", "ns/o4", "ns/o5"}
)

func fuzzAddresses() []netip.Addr {
	var out []netip.Addr
	for a := netip.MustParseAddr("198.51.100.0"); a != netip.MustParseAddr("198.51.100.17"); a = a.Next() {
		out = append(out, a)
	}
	for a := netip.MustParseAddr("2001:db8::"); a != netip.MustParseAddr("2001:db8::9"); a = a.Next() {
		out = append(out, a)
	}
	for _, s := range []string{
		"2001:db8:1::", "2001:db8:1::1", "2001:db8:1::2", "2001:db8:1:ff:ffff:ffff:ffff:ffff", "2001:db8:1:100::",
		"2001:db8:2::", "2001:db8:2::1", "2001:db8:2:0:7fff:ffff:ffff:ffff", "2001:db8:2:0:8000::",
	} {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// fuzzOp is one decoded operation.
type fuzzOp struct {
	kind  string // setpools, assign, restore, release, releaseowner
	pools []Pool
	req   Request
}

func (o fuzzOp) String() string {
	switch o.kind {
	case "setpools":
		var parts []string
		for _, p := range o.pools {
			parts = append(parts, fmt.Sprintf("%s%v allow=%v", p.Name, p.Ranges, p.AllowFirstLast))
		}
		return "SetPools(" + strings.Join(parts, "; ") + ")"
	case "assign":
		return fmt.Sprintf("Assign(owner=%s family=%v addr=%v pools=%v share=%+v)", o.req.Owner, o.req.Family, o.req.Address, o.req.Pools, o.req.Share)
	case "restore":
		return fmt.Sprintf("Restore(%s, %v, %+v)", o.req.Owner, o.req.Address, o.req.Share)
	case "release":
		return fmt.Sprintf("Release(%s, %v)", o.req.Owner, o.req.Address)
	}
	return fmt.Sprintf("ReleaseOwner(%s)", o.req.Owner)
}

// decodeOps turns fuzz bytes into operations; the model is consulted so
// that releases mostly hit addresses the owner holds.
type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) next() byte {
	if d.pos >= len(d.data) {
		d.pos++
		return 0
	}
	b := d.data[d.pos]
	d.pos++
	return b
}

func (d *decoder) share() Share {
	b := d.next()
	if b >= 200 {
		return Share{}
	}
	return Share{
		Key:      []string{"", "k1", "k2"}[b%3],
		Ports:    fuzzPorts[(b/3)%5],
		Policy:   []string{PolicyCluster, PolicyLocal}[(b/15)%2],
		Selector: []string{"s1", "s2"}[(b/30)%2],
	}
}

func (d *decoder) poolNames() []string {
	n := 1 + int(d.next()%3)
	names := make([]string, n)
	for i := range names {
		c := d.next() % 13
		if c == 12 {
			names[i] = "zz"
		} else {
			names[i] = fuzzNames[c%3]
		}
	}
	return names
}

func (d *decoder) op(m *refModel) fuzzOp {
	owner := func() string { return fuzzOwners[int(d.next())%len(fuzzOwners)] }
	addr := func() netip.Addr { return fuzzAddrs[int(d.next())%len(fuzzAddrs)] }
	switch d.next() % 8 {
	case 0:
		var pools []Pool
		for _, name := range fuzzNames {
			mask, flags := d.next(), d.next()
			if flags&1 == 0 {
				continue
			}
			p := Pool{Name: name, AllowFirstLast: flags&2 != 0}
			for i, s := range fuzzRanges {
				if mask&(1<<i) != 0 {
					p.Ranges = append(p.Ranges, MustParseRange(s))
				}
			}
			if bigRange, ok := fuzzBig[name]; ok && flags&4 != 0 {
				p.Ranges = append(p.Ranges, MustParseRange(bigRange))
			}
			pools = append(pools, p)
			if flags&8 != 0 { // a duplicate name and a nameless pool, both ignored
				pools = append(pools, Pool{Name: name, Ranges: []Range{MustParseRange("198.51.100.0/28")}},
					Pool{Ranges: []Range{MustParseRange("198.51.100.16/32")}})
			}
		}
		return fuzzOp{kind: "setpools", pools: pools}
	case 1, 2, 7:
		o := owner()
		fam := IPv4
		if d.next()&1 == 1 {
			fam = IPv6
		}
		return fuzzOp{kind: "assign", req: Request{Owner: o, Family: fam, Pools: d.poolNames(), Share: d.share()}}
	case 3:
		o, a := owner(), addr()
		return fuzzOp{kind: "assign", req: Request{Owner: o, Address: a, Pools: d.poolNames(), Share: d.share()}}
	case 4:
		o, a := owner(), addr()
		return fuzzOp{kind: "restore", req: Request{Owner: o, Address: a, Share: d.share()}}
	case 5:
		o := owner()
		b := d.next()
		held := m.addressesOf(o)
		if b&1 == 0 && len(held) > 0 {
			return fuzzOp{kind: "release", req: Request{Owner: o, Address: held[int(b>>1)%len(held)]}}
		}
		return fuzzOp{kind: "release", req: Request{Owner: o, Address: fuzzAddrs[int(b>>1)%len(fuzzAddrs)]}}
	default:
		return fuzzOp{kind: "releaseowner", req: Request{Owner: owner()}}
	}
}

// refModel is the naive reference: a map from address to holders and
// linear scans over addresses.
type refModel struct {
	t     *testing.T
	pools []Pool
	// poolMemo memoizes poolOf for the current pool set: the model stays naive,
	// but the fuzzer needs fast runs to minimize what it finds.
	poolMemo map[netip.Addr]string // by name, without duplicates
	held     map[netip.Addr][]refHolder
}

type refHolder struct {
	owner string
	share Share
}

func normShare(s Share) Share {
	if len(s.Ports) == 0 {
		s.Ports = nil
	} else {
		s.Ports = append([]PortProto(nil), s.Ports...)
	}
	return s
}

func (m *refModel) setPools(pools []Pool) {
	m.pools = nil
	m.poolMemo = map[netip.Addr]string{}
	for _, p := range pools {
		if p.Name == "" || slices.ContainsFunc(m.pools, func(q Pool) bool { return q.Name == p.Name }) {
			continue
		}
		m.pools = append(m.pools, p)
	}
	slices.SortFunc(m.pools, func(a, b Pool) int { return cmp.Compare(a.Name, b.Name) })
}

// usable applies the reserved-address rules directly to one address.
func refUsable(p Pool, a netip.Addr) bool {
	for _, r := range p.Ranges {
		if a.Is4() != r.First.Is4() || a.Less(r.First) || r.Last.Less(a) {
			continue
		}
		if pfx, ok := r.Prefix(); ok && !p.AllowFirstLast {
			if a.Is4() && pfx.Bits() < 31 && (a == r.First || a == r.Last) {
				continue
			}
			if a.Is6() && pfx.Bits() < 127 && a == r.First {
				continue
			}
		}
		return true
	}
	return false
}

func (m *refModel) poolOf(a netip.Addr) string {
	if name, ok := m.poolMemo[a]; ok {
		return name
	}
	name := ""
	for _, p := range m.pools {
		if refUsable(p, a) {
			name = p.Name
			break
		}
	}
	if m.poolMemo != nil {
		m.poolMemo[a] = name
	}
	return name
}

func (m *refModel) pool(name string) (Pool, bool) {
	for _, p := range m.pools {
		if p.Name == name {
			return p, true
		}
	}
	return Pool{}, false
}

func (m *refModel) stats(name string, f Family) Stats {
	p, ok := m.pool(name)
	if !ok {
		return Stats{}
	}
	var capacity uint64
	seen := map[netip.Addr]bool{}
	for _, r := range p.Ranges {
		if FamilyOf(r.First) != f {
			continue
		}
		if bigRange, ok := fuzzBig[name]; ok && r.String() == bigRange {
			// The big ranges overlap nothing, so only the reserved rule applies.
			n := new(big.Int).Sub(bigOf(r.Last), bigOf(r.First))
			n.Add(n, big.NewInt(1))
			if !p.AllowFirstLast {
				n.Sub(n, big.NewInt(1))
			}
			if n.IsUint64() {
				capacity = satAdd(capacity, n.Uint64())
			} else {
				capacity = math.MaxUint64
			}
			continue
		}
		for a := r.First; ; a = a.Next() {
			if !seen[a] && m.poolOf(a) == name {
				seen[a] = true
				capacity++
			}
			if a == r.Last {
				break
			}
		}
	}
	var allocated uint64
	for a := range m.held {
		if FamilyOf(a) == f && m.poolOf(a) == name {
			allocated++
		}
	}
	s := Stats{Capacity: capacity, Allocated: allocated, Available: math.MaxUint64}
	if capacity != math.MaxUint64 {
		s.Available = capacity - allocated
	}
	return s
}

func bigOf(a netip.Addr) *big.Int {
	b := a.As16()
	return new(big.Int).SetBytes(b[:])
}

// lowestFree scans each range of the pool from its first address.
func (m *refModel) lowestFree(name string, f Family) (netip.Addr, bool) {
	p, _ := m.pool(name)
	var best netip.Addr
	for _, r := range p.Ranges {
		if FamilyOf(r.First) != f {
			continue
		}
		steps := 0
		for a := r.First; ; a = a.Next() {
			if m.poolOf(a) == name && len(m.held[a]) == 0 {
				if !best.IsValid() || a.Less(best) {
					best = a
				}
				break
			}
			if a == r.Last {
				break
			}
			if steps++; steps > 1<<16 {
				m.t.Fatalf("reference scan of %s ran away", r)
			}
		}
	}
	return best, best.IsValid()
}

func (m *refModel) addressesOf(owner string) []netip.Addr {
	var out []netip.Addr
	for a, hs := range m.held {
		if slices.ContainsFunc(hs, func(h refHolder) bool { return h.owner == owner }) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, addrOrder)
	return out
}

// addrOrder sorts IPv4 before IPv6, then by address.
func addrOrder(a, b netip.Addr) int {
	if a.Is4() != b.Is4() {
		if a.Is4() {
			return -1
		}
		return 1
	}
	return a.Compare(b)
}

func (m *refModel) add(a netip.Addr, owner string, s Share) {
	hs := append(m.held[a], refHolder{owner, normShare(s)})
	slices.SortFunc(hs, func(x, y refHolder) int { return cmp.Compare(x.owner, y.owner) })
	m.held[a] = hs
}

func (m *refModel) remove(a netip.Addr, owner string) {
	hs := slices.DeleteFunc(m.held[a], func(h refHolder) bool { return h.owner == owner })
	if len(hs) == 0 {
		delete(m.held, a)
	} else {
		m.held[a] = hs
	}
}

// outcome is what an operation returned, in comparable form.
type outcome struct {
	Result Result
	Err    string // the sentinel's text, or "error" for other errors
}

func classify(res Result, err error) outcome {
	if err == nil {
		return outcome{Result: res}
	}
	var sc *SharingConflictError
	if errors.As(err, &sc) {
		return outcome{Result: Result{SharingConflict: sc}, Err: ErrSharingConflict.Error()}
	}
	for _, s := range []error{ErrExhausted, ErrInUse, ErrNotInPool, ErrFamilyUnavailable, ErrUnknownPool, ErrAlreadyAssigned} {
		if errors.Is(err, s) {
			return outcome{Err: s.Error()}
		}
	}
	return outcome{Err: "error"}
}

func failWith(e error) outcome { return outcome{Err: e.Error()} }

func conflictOutcome(a netip.Addr, h refHolder, reason string) outcome {
	return outcome{Result: Result{SharingConflict: &SharingConflictError{Address: a, Owner: h.owner, Reason: reason}}, Err: ErrSharingConflict.Error()}
}

// holdOrJoin is the shared path of a specific address: the owner already
// holds it, it is free, or it may be shared.
func (m *refModel) holdOrJoin(a netip.Addr, owner string, s Share) outcome {
	hs := m.held[a]
	mine := slices.ContainsFunc(hs, func(h refHolder) bool { return h.owner == owner })
	if len(hs) > 0 && !mine && hs[0].share.Key == "" && s.Key == "" {
		return failWith(ErrInUse)
	}
	for _, h := range hs {
		if h.owner == owner {
			continue
		}
		if r := s.ConflictWith(h.share, h.owner); r != "" {
			return conflictOutcome(a, h, r)
		}
	}
	if mine {
		m.remove(a, owner)
	}
	m.add(a, owner, s)
	return outcome{Result: Result{Address: a, Pool: m.poolOf(a), Shared: len(m.held[a]) > 1}}
}

func (m *refModel) assign(req Request) outcome {
	fam := req.Family
	if req.Address.IsValid() {
		fam = FamilyOf(req.Address)
	}
	var held []netip.Addr
	for _, a := range m.addressesOf(req.Owner) {
		if FamilyOf(a) == fam {
			held = append(held, a)
		}
	}
	if len(held) > 0 {
		target := held[0]
		if req.Address.IsValid() {
			if !slices.Contains(held, req.Address) {
				return failWith(ErrAlreadyAssigned)
			}
			target = req.Address
		}
		return m.holdOrJoin(target, req.Owner, req.Share)
	}
	for _, n := range req.Pools {
		if _, ok := m.pool(n); !ok {
			return failWith(ErrUnknownPool)
		}
	}
	if req.Address.IsValid() {
		if p := m.poolOf(req.Address); p == "" || !slices.Contains(req.Pools, p) {
			return failWith(ErrNotInPool)
		}
		return m.holdOrJoin(req.Address, req.Owner, req.Share)
	}
	var conflict *SharingConflictError
	if req.Share.Key != "" {
		var keyed []netip.Addr
		for a, hs := range m.held {
			if FamilyOf(a) == fam && hs[0].share.Key == req.Share.Key {
				keyed = append(keyed, a)
			}
		}
		slices.SortFunc(keyed, addrOrder)
		for _, n := range req.Pools {
			for _, a := range keyed {
				if m.poolOf(a) != n {
					continue
				}
				var c *SharingConflictError
				for _, h := range m.held[a] {
					if r := req.Share.ConflictWith(h.share, h.owner); r != "" {
						c = &SharingConflictError{Address: a, Owner: h.owner, Reason: r}
						break
					}
				}
				if c == nil {
					m.add(a, req.Owner, req.Share)
					return outcome{Result: Result{Address: a, Pool: n, Shared: true}}
				}
				if conflict == nil {
					conflict = c
				}
			}
		}
	}
	offered := false
	for _, n := range req.Pools {
		if m.stats(n, fam).Capacity == 0 {
			continue
		}
		offered = true
		if a, ok := m.lowestFree(n, fam); ok {
			m.add(a, req.Owner, req.Share)
			return outcome{Result: Result{Address: a, Pool: n, SharingConflict: conflict}}
		}
	}
	if !offered {
		return failWith(ErrFamilyUnavailable)
	}
	return failWith(ErrExhausted)
}

func (m *refModel) assignments(outsideOnly bool) []Assignment {
	var addrs []netip.Addr
	for a := range m.held {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, addrOrder)
	var out []Assignment
	for _, a := range addrs {
		p := m.poolOf(a)
		if outsideOnly && p != "" {
			continue
		}
		for _, h := range m.held[a] {
			out = append(out, Assignment{Address: a, Owner: h.owner, Pool: p, Share: h.share})
		}
	}
	return out
}

// TestMain shortens the fuzzer's minimization of new inputs from 60 s to 5 s
// unless -fuzzminimizetime is given: an input here runs up to 100 checked
// operations, and minimizing one for a minute stalls a one-minute fuzzing
// run (go test -fuzz=FuzzAllocator -fuzztime=60s) for most of its time.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if f := flag.Lookup("test.fuzzminimizetime"); f != nil && !set {
		if err := f.Value.Set("5s"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

func FuzzAllocator(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed)
	}
	f.Fuzz(runOps)
}

// runOps decodes data into operations and runs them against the allocator
// and the model, checking after every step.
func runOps(t *testing.T, data []byte) {
	{
		var log []string
		m := &refModel{t: t, held: map[netip.Addr][]refHolder{}}
		a := New()
		if len(data)%5 == 0 {
			// Every owner's hash collides: the owner index's slow path.
			a.owners.hashOf = func(string) uint64 { return 42 }
			log = append(log, "(all owner hashes collide)")
		}
		d := &decoder{data: data}
		for step := 0; d.pos < len(data) && step < 100; step++ {
			op := d.op(m)
			log = append(log, op.String())
			fatal := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("after step %d: %s\noperations:\n  %s", step, fmt.Sprintf(format, args...), strings.Join(log, "\n  "))
			}
			switch op.kind {
			case "setpools":
				got := a.SetPools(op.pools)
				m.setPools(op.pools)
				if diff := cmpDiff(m.assignments(true), got); diff != "" {
					fatal("SetPools returned (-model +allocator):\n%s", diff)
				}
			case "assign":
				got := classify(a.Assign(op.req))
				want := m.assign(op.req)
				if diff := cmpDiff(want, got); diff != "" {
					fatal("Assign (-model +allocator):\n%s", diff)
				}
			case "restore":
				got := classify(a.Restore(op.req.Owner, op.req.Address, op.req.Share))
				want := m.holdOrJoin(op.req.Address, op.req.Owner, op.req.Share)
				if diff := cmpDiff(want, got); diff != "" {
					fatal("Restore (-model +allocator):\n%s", diff)
				}
			case "release":
				a.Release(op.req.Owner, op.req.Address)
				m.remove(op.req.Address, op.req.Owner)
			case "releaseowner":
				a.ReleaseOwner(op.req.Owner)
				for _, addr := range m.addressesOf(op.req.Owner) {
					m.remove(addr, op.req.Owner)
				}
			}
			checkAgainstModel(t, a, m, fatal)
		}
	}
}

// checkAgainstModel compares every observable of the allocator with the
// model and checks the invariants that do not depend on the model.
func checkAgainstModel(t *testing.T, a *Allocator, m *refModel, fatal func(string, ...any)) {
	t.Helper()
	got := a.Assignments()
	if diff := cmpDiff(m.assignments(false), got); diff != "" {
		fatal("Assignments (-model +allocator):\n%s", diff)
	}
	if diff := cmpDiff(m.assignments(true), a.Outside()); diff != "" {
		fatal("Outside (-model +allocator):\n%s", diff)
	}
	for _, name := range append(fuzzNames, "zz") {
		for _, f := range families {
			if diff := cmpDiff(m.stats(name, f), a.Stats(name, f)); diff != "" {
				fatal("Stats(%s, %v) (-model +allocator):\n%s", name, f, diff)
			}
		}
	}
	// Model-free invariants: holders of one address share it compatibly;
	// each assignment lies in the pool it names and in no pool before it,
	// or in none if it names none.
	byAddr := map[netip.Addr][]Assignment{}
	for _, as := range got {
		byAddr[as.Address] = append(byAddr[as.Address], as)
		for _, p := range m.pools {
			if p.Name == as.Pool {
				if !p.Contains(as.Address) {
					fatal("%v is accounted to pool %s, which does not contain it", as.Address, p.Name)
				}
				break
			}
			if p.Contains(as.Address) {
				fatal("%v is accounted to pool %q but belongs to %s", as.Address, as.Pool, p.Name)
			}
		}
	}
	for addr, as := range byAddr {
		for i := range as {
			for j := range as {
				if i != j {
					if r := as[i].Share.ConflictWith(as[j].Share, as[j].Owner); r != "" {
						fatal("%v is held by %s and %s, who may not share: %s", addr, as[i].Owner, as[j].Owner, r)
					}
				}
			}
		}
	}
	for _, addr := range fuzzAddrs {
		var want []string
		for _, h := range m.held[addr] {
			want = append(want, h.owner)
		}
		if diff := cmpDiff(want, a.Owners(addr)); diff != "" {
			fatal("Owners(%v) (-model +allocator):\n%s", addr, diff)
		}
		if got, want := a.PoolOf(addr), m.poolOf(addr); got != want {
			fatal("PoolOf(%v) = %q, model %q", addr, got, want)
		}
	}
	owners := map[string]bool{}
	for _, as := range got {
		owners[as.Owner] = true
	}
	if n := a.owners.byHash.len() + len(a.owners.collided); n != len(owners) {
		fatal("the owner index has %d entries for %d owners", n, len(owners))
	}
	for _, o := range fuzzOwners {
		if diff := cmpDiff(m.addressesOf(o), a.Addresses(o)); diff != "" {
			fatal("Addresses(%s) (-model +allocator):\n%s", o, diff)
		}
	}
	for fi := range a.fams {
		checkTree(t, &a.fams[fi].grants.btree)
		for _, p := range a.pools {
			checkTree(t, &p.fam[fi].free.btree)
			pf := &p.fam[fi]
			if pf.capacity != math.MaxUint64 && pf.free.freeCount() != pf.capacity-pf.allocated {
				fatal("pool %s %v: %d free in the index, want %d", p.name, families[fi], pf.free.freeCount(), pf.capacity-pf.allocated)
			}
		}
	}
}

// Hand-written seeds; more live in testdata/fuzz/FuzzAllocator.
var fuzzSeeds = [][]byte{
	// SetPools(a: /29 + literal, b: literal v6 + big), then assignments.
	{0, 0x03, 0x01, 0x60, 0x05, 0, 0, 1, 0, 0, 1, 0, 0, 200, 1, 1, 1, 0, 1, 1, 1, 201, 7, 2, 0, 1, 0, 200},
	// Sharing under one key with clashing and compatible ports.
	{0, 0xff, 0x03, 0xff, 0x07, 0xff, 0x07, 1, 0, 0, 0, 0, 4, 1, 1, 0, 0, 0, 7, 1, 0, 0, 0, 1, 2, 2, 0, 0, 0, 10, 3, 3, 9, 0, 0, 19},
	// Requested addresses, restore outside every pool, a pool edit, releases.
	{0, 0x1f, 0x01, 3, 0, 3, 0, 0, 200, 4, 1, 16, 200, 4, 2, 40, 1, 0, 0x01, 0x01, 5, 1, 0, 6, 2, 5, 0, 1, 6, 1},
}

// TestDeterminism replays one random operation sequence on allocators with
// different hash seeds, and one whose owner hashes all collide: every result
// and the final state must be the same.
func TestDeterminism(t *testing.T) {
	data := make([]byte, 4000)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	run := func(a *Allocator) []string {
		var out []string
		d := &decoder{data: data}
		m := &refModel{t: t, held: map[netip.Addr][]refHolder{}}
		for d.pos < len(data) {
			op := d.op(m)
			switch op.kind {
			case "setpools":
				out = append(out, fmt.Sprint(a.SetPools(op.pools)))
			case "assign":
				res, err := a.Assign(op.req)
				out = append(out, fmt.Sprint(res, err))
			case "restore":
				res, err := a.Restore(op.req.Owner, op.req.Address, op.req.Share)
				out = append(out, fmt.Sprint(res, err))
			case "release":
				a.Release(op.req.Owner, op.req.Address)
			case "releaseowner":
				a.ReleaseOwner(op.req.Owner)
			}
		}
		return append(out, fmt.Sprint(a.Assignments()))
	}
	want := run(New())
	collide := New()
	collide.owners.hashOf = func(string) uint64 { return 1 }
	for i, a := range []*Allocator{New(), collide} {
		if diff := cmpDiff(want, run(a)); diff != "" {
			t.Errorf("run %d differs (-first +this):\n%s", i, diff)
		}
	}
	if len(want) < 500 {
		t.Errorf("only %d results: the sequence is too short to mean much", len(want))
	}
}
