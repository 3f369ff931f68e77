package allocator

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// Allocator hands out addresses from a set of pools and remembers who holds
// what. It is exact (an address is never granted to two owners unless they
// share it under one sharing key compatibly), deterministic (the same
// sequence of calls gives the same addresses: the lowest free address
// first, pools in the caller's precedence order, never map order) and
// stable (nothing moves an address but its release: pool edits keep grants
// that fall outside every pool and report them).
//
// Pools should not overlap (config reports overlaps). If they do, an address
// belongs to the pool whose name sorts first; the other pools neither offer
// it nor count it in their capacity. Every address thus belongs to at most
// one pool, which is what makes a double grant impossible.
//
// Complexity, with n the grants of a family, f the free fragments of a
// pool, h the holders of one address (1 unless shared), m the addresses of
// one owner (1 or 2), c the candidate pools of a request, k the addresses
// held under one sharing key, p the pools and s their ranges:
//   - Assign: O(c + log n + log f + log s + h + m) for a specific address or
//     the lowest free one, plus O(c·k·(log s + h)) when it looks for an
//     address to share;
//   - Restore, Release: O(log n + log f + log s + h + m); ReleaseOwner: m
//     times that;
//   - SetPools: O(s·(p + log s) + n + f·log f): existing grants are walked
//     once, in order, to rebuild the free-space indexes;
//   - Stats: O(1); Owners, PoolOf: O(log n + log s + h); Addresses: O(m);
//     Outside, Assignments: O(n·log s).
//
// No operation does work proportional to the size of a pool. Each also
// looks its owner up in a hash table, in expected constant time.
//
// Memory is proportional to grants, free fragments and ranges, never to pool
// size: a /64 costs what a /24 costs.
//
// Concurrency: an Allocator is not safe for concurrent use. It has a single
// owner (the controller's allocation loop), which serializes calls; it does
// no I/O, no logging and reads no clock.
type Allocator struct {
	pools  map[string]*poolState
	fams   [2]famIndex // by Family.index
	owners ownerIndex
	keys   map[string][]*grant // grants held under each sharing key, in grantCmp order
	// spare is the last freed grant, reused by the next one: a release
	// followed by an assignment is the common churn, and it then allocates
	// nothing.
	spare *grant
}

// famIndex is the state of one family.
type famIndex struct {
	grants grantIndex // every grant, inside a pool or not
	segs   []segment  // usable space of every pool, sorted and disjoint
}

// segment is a span of usable addresses and the pool it belongs to.
type segment struct {
	span
	pool *poolState
}

// poolState is a pool of the current set.
type poolState struct {
	name string
	pool Pool
	fam  [2]poolFam
}

type poolFam struct {
	capacity  uint64 // usable addresses, saturating
	allocated uint64 // granted addresses inside the pool
	free      freeIndex
}

// grant is one granted address and its holders. Most addresses have a single
// holder and no sharing data; they keep it in solo and cost 48 bytes.
type grant struct {
	addr  u128
	solo  holder // the holder, when group is nil
	group *group // holders with their Share, sorted by owner
}

// holder is an owner of a grant. next links the owner's grants in grantCmp
// order, so that an owner costs one index entry and no slice.
type holder struct {
	owner string
	next  *grant
}

type member struct {
	holder
	share Share
}

type group struct{ members []member }

// grantIndex holds the grants of a family by address.
type grantIndex struct{ btree[*grant] }

// find returns the grant of k, or nil.
func (x *grantIndex) find(k u128) *grant {
	g, _ := x.get(k)
	return g
}

// each calls fn for every grant in address order until fn returns false.
func (x *grantIndex) each(fn func(*grant) bool) {
	x.ascend(u128{}, func(e entry[*grant]) bool { return fn(e.val) })
}

func (g *grant) count() int {
	if g.group == nil {
		return 1
	}
	return len(g.group.members)
}

// member returns holder i and its Share, in owner order.
func (g *grant) member(i int) (*holder, Share) {
	if g.group == nil {
		return &g.solo, Share{}
	}
	m := &g.group.members[i]
	return &m.holder, m.share
}

// holderOf returns owner's holder record, or nil. The pointer is valid until
// the holders change.
func (g *grant) holderOf(owner string) *holder {
	if g.group == nil {
		if g.solo.owner == owner {
			return &g.solo
		}
		return nil
	}
	if i, ok := g.index(owner); ok {
		return &g.group.members[i].holder
	}
	return nil
}

func (g *grant) index(owner string) (int, bool) {
	return slices.BinarySearchFunc(g.group.members, owner, func(m member, o string) int {
		return strings.Compare(m.owner, o)
	})
}

// key returns the sharing key the address is held under, or "".
func (g *grant) key() string {
	if g.group == nil || len(g.group.members) == 0 {
		return ""
	}
	return g.group.members[0].share.Key
}

func (g *grant) owners() []string {
	out := make([]string, g.count())
	for i := range out {
		h, _ := g.member(i)
		out[i] = h.owner
	}
	return out
}

// conflict returns the first holder, other than skip, that s may not share
// the address with.
func (g *grant) conflict(s Share, skip string) *SharingConflictError {
	for i := range g.count() {
		h, hs := g.member(i)
		if h.owner == skip {
			continue
		}
		if r := s.ConflictWith(hs, h.owner); r != "" {
			return &SharingConflictError{Address: g.addr.addr(), Owner: h.owner, Reason: r}
		}
	}
	return nil
}

// grantCmp orders grants IPv4 first, then by address: the order of
// Addresses and of the sharing-key lists.
func grantCmp(a, b *grant) int {
	if fa, fb := a.addr.isV4(), b.addr.isV4(); fa != fb {
		if fa {
			return -1
		}
		return 1
	}
	return a.addr.cmp(b.addr)
}

// Request asks for one address of one family.
type Request struct {
	// Owner is an opaque identifier of the holder (namespace/name or UID).
	Owner string
	// Family of the address. It may be left 0 when Address is set.
	Family Family
	// Address, if valid, asks for this specific address. It must be a usable
	// address of one of Pools, else ErrNotInPool.
	Address netip.Addr
	// Pools are the permitted pools in precedence order: the one pool a
	// Service named, or the matching autoAssign pools by priority then name.
	// Without an Address, the lowest free address of the first pool with
	// space wins. No pools means nothing is permitted.
	Pools []string
	// Share says whether and with whom the owner may share an address.
	Share Share
}

// Result is a granted address.
type Result struct {
	// Address is the owner's address.
	Address netip.Addr
	// Pool is the pool the address belongs to, "" if outside every pool
	// (only possible for an address the owner already held).
	Pool string
	// Shared reports whether other owners hold the address too.
	Shared bool
	// SharingConflict is set when the owner asked with a sharing key,
	// addresses of the candidate pools were held under that key, and none
	// could be shared: it says why, for an event. The address is fresh.
	SharingConflict *SharingConflictError
}

// Assignment is one (address, owner) pair.
type Assignment struct {
	Address netip.Addr
	Owner   string
	// Pool is "" when the address lies outside every pool.
	Pool string
	// Share is the owner's sharing data as last given.
	Share Share
}

// Stats are the sizes of one pool in one family. Allocated counts addresses,
// not owners: a shared address counts once.
type Stats struct {
	// Capacity is the number of usable addresses, saturating at
	// math.MaxUint64 (IPv6 pools of /64 and larger).
	Capacity uint64
	// Allocated is the number of granted addresses inside the pool.
	Allocated uint64
	// Available is Capacity-Allocated; math.MaxUint64 when Capacity is
	// saturated, since Capacity may then stand for a larger number.
	Available uint64
}

// New returns an Allocator with no pools.
func New() *Allocator {
	return &Allocator{
		pools:  map[string]*poolState{},
		owners: newOwnerIndex(),
		keys:   map[string][]*grant{},
	}
}

// SetPools replaces the pool set and returns every assignment that now lies
// outside all pools, as Outside does. Such assignments are
// kept: they still block their address and are accounted to a pool again as
// soon as a later SetPools brings the address back. Grants never move.
//
// Pools are identified by name; a pool with an empty name is ignored, and of
// pools with the same name the first one counts. Invalid ranges are
// ignored; ranges of one pool that overlap are merged (NewPool rejects
// both, so this only matters for hand-built values).
func (a *Allocator) SetPools(pools []Pool) []Assignment {
	list := make([]Pool, 0, len(pools))
	seen := make(map[string]bool, len(pools))
	for _, p := range pools {
		if p.Name != "" && !seen[p.Name] {
			seen[p.Name] = true
			list = append(list, p)
		}
	}
	slices.SortFunc(list, func(x, y Pool) int { return strings.Compare(x.Name, y.Name) })

	a.pools = make(map[string]*poolState, len(list))
	states := make([]*poolState, len(list))
	for i, p := range list {
		p.Ranges = slices.Clone(p.Ranges) // the caller may reuse its slice
		states[i] = &poolState{name: p.Name, pool: p}
		a.pools[p.Name] = states[i]
	}
	for fi, f := range families {
		var claimed, segs []span
		var owner []*poolState
		for _, st := range states { // name order: the first name claims an overlap
			spans := subtractSpans(st.pool.usable(f), claimed)
			claimed = unionSpans(claimed, spans)
			for _, s := range spans {
				st.fam[fi].capacity = satAdd(st.fam[fi].capacity, s.size())
				segs = append(segs, s)
				owner = append(owner, st)
			}
		}
		fx := &a.fams[fi]
		fx.segs = make([]segment, len(segs))
		for i := range segs {
			fx.segs[i] = segment{segs[i], owner[i]}
		}
		slices.SortFunc(fx.segs, func(x, y segment) int { return x.first.cmp(y.first) })
		fx.reindex(fi)
	}
	return a.Outside()
}

// reindex fills the free indexes and allocation counts of the (new) pools
// from the grants, walking grants and segments together in address order:
// O(grants + segments) steps and one insert per free fragment, no step per
// address.
func (fx *famIndex) reindex(fi int) {
	segs := fx.segs
	si := 0
	var cur u128 // the first address of segs[si] not yet accounted for
	if len(segs) > 0 {
		cur = segs[0].first
	}
	emit := func(i int, from, to u128) {
		if !to.less(from) {
			segs[i].pool.fam[fi].free.insert(from, to)
		}
	}
	advance := func() {
		si++
		if si < len(segs) {
			cur = segs[si].first
		}
	}
	fx.grants.each(func(g *grant) bool {
		k := g.addr
		for si < len(segs) && segs[si].last.less(k) {
			emit(si, cur, segs[si].last)
			advance()
		}
		if si == len(segs) {
			return false
		}
		if k.less(segs[si].first) {
			return true // outside every pool
		}
		segs[si].pool.fam[fi].allocated++
		if cur.less(k) {
			emit(si, cur, k.prev())
		}
		if k == segs[si].last {
			advance()
		} else {
			cur = k.next()
		}
		return true
	})
	for si < len(segs) {
		emit(si, cur, segs[si].last)
		advance()
	}
}

// poolOf returns the pool k belongs to, or nil.
func (fx *famIndex) poolOf(k u128) *poolState {
	lo, hi := 0, len(fx.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.less(fx.segs[m].first) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 || fx.segs[lo-1].last.less(k) {
		return nil
	}
	return fx.segs[lo-1].pool
}

// plain reports whether a can be granted at all: valid, no zone, not an
// IPv4-mapped IPv6 address (which would alias an IPv4 address).
func plain(a netip.Addr) bool { return a.IsValid() && a.Zone() == "" && !a.Is4In6() }

// Assign grants an address of req.Family to req.Owner; see Request.
//
// An owner that already holds an address of the family gets it back
// unchanged, whatever Pools say (stability: a pool edit or a change of
// precedence never moves an address); its Share is updated, which fails with
// a *SharingConflictError if the new Share conflicts with co-holders. If it
// asks for a different specific address, Assign fails with
// ErrAlreadyAssigned: the caller releases the old address first.
//
// A specific address held by others is shared if the Share allows it, else
// the error is ErrInUse (no sharing key on either side) or a
// *SharingConflictError. Without a specific address and with a sharing key,
// the lowest address of the first candidate pool held under the same key by
// owners it may share with is joined; failing that, a fresh address is
// granted and Result.SharingConflict says why sharing was impossible.
func (a *Allocator) Assign(req Request) (Result, error) {
	fam := req.Family
	if req.Address.IsValid() {
		af := FamilyOf(req.Address)
		if fam == 0 {
			fam = af
		}
		if fam != af {
			return Result{}, fmt.Errorf("assigning %s to %s: the address is not %s", req.Address, req.Owner, fam)
		}
	}
	if !fam.valid() {
		return Result{}, fmt.Errorf("assigning an address to %s: unknown address family %d", req.Owner, int(fam))
	}
	if req.Owner == "" {
		return Result{}, errors.New("assigning an address: empty owner")
	}
	what := target{fam, req.Address} // formatted only for errors
	if req.Address.IsValid() && !plain(req.Address) {
		return Result{}, fmt.Errorf("assigning %s to %s: zoned and IPv4-mapped addresses are never in a pool: %w",
			what, req.Owner, ErrNotInPool)
	}
	fi := fam.index()
	fx := &a.fams[fi]

	var held *grant // the owner's first address of the family, or the requested one
	slot := a.owners.find(req.Owner)
	for g := slot.head; g != nil; g = g.holderOf(req.Owner).next {
		if g.addr.family() != fam {
			continue
		}
		if held == nil || (req.Address.IsValid() && g.addr == keyOf(req.Address)) {
			held = g
		}
	}
	if held != nil {
		if req.Address.IsValid() && held.addr != keyOf(req.Address) {
			return Result{}, fmt.Errorf("assigning %s to %s: it holds %s; release that first: %w",
				what, req.Owner, held.addr.addr(), ErrAlreadyAssigned)
		}
		if c := held.conflict(req.Share, req.Owner); c != nil {
			return Result{}, fmt.Errorf("assigning %s to %s: %w", held.addr.addr(), req.Owner, c)
		}
		a.setShare(held, req.Owner, req.Share)
		return a.result(held, fx.poolOf(held.addr), nil), nil
	}

	var buf [8]*poolState
	cands := buf[:0]
	for _, name := range req.Pools {
		p := a.pools[name]
		if p == nil {
			return Result{}, fmt.Errorf("assigning %s to %s: pool %q: %w", what, req.Owner, name, ErrUnknownPool)
		}
		cands = append(cands, p)
	}

	if req.Address.IsValid() {
		k := keyOf(req.Address)
		p := fx.poolOf(k)
		if p == nil || !slices.Contains(cands, p) {
			return Result{}, fmt.Errorf("assigning %s to %s: %s: %w",
				what, req.Owner, a.whyNotIn(req.Address, req.Pools, p), ErrNotInPool)
		}
		if g := fx.grants.find(k); g != nil {
			if err := joinable(g, req.Share); err != nil {
				return Result{}, fmt.Errorf("assigning %s to %s: %w", what, req.Owner, err)
			}
			a.join(g, req.Owner, req.Share)
			return a.result(g, p, nil), nil
		}
		if !p.fam[fi].free.take(k) { // k is in p and not granted, so it must be free
			return Result{}, fmt.Errorf("assigning %s to %s: %w", what, req.Owner, errOutOfStep(p))
		}
		return a.result(a.add(k, fi, p, req.Owner, req.Share, slot), p, nil), nil
	}

	var conflict *SharingConflictError
	if req.Share.Key != "" {
		for _, p := range cands {
			for _, g := range a.keys[req.Share.Key] {
				if g.addr.family() != fam || fx.poolOf(g.addr) != p {
					continue
				}
				c := g.conflict(req.Share, "")
				if c == nil {
					a.join(g, req.Owner, req.Share)
					return a.result(g, p, nil), nil
				}
				if conflict == nil {
					conflict = c
				}
			}
		}
	}
	offered := false
	for _, p := range cands {
		pf := &p.fam[fi]
		if pf.capacity == 0 {
			continue
		}
		offered = true
		g, err := a.addLowest(p, fi, req.Owner, req.Share, slot)
		if err != nil {
			return Result{}, fmt.Errorf("assigning %s to %s: %w", what, req.Owner, err)
		}
		if g != nil {
			return a.result(g, p, conflict), nil
		}
	}
	if !offered {
		return Result{}, fmt.Errorf("assigning %s to %s: no %s range in %s: %w",
			what, req.Owner, fam, poolList(req.Pools), ErrFamilyUnavailable)
	}
	return Result{}, fmt.Errorf("assigning %s to %s from %s: %w", what, req.Owner, poolList(req.Pools), ErrExhausted)
}

// target is what a request asks for, as error messages name it.
type target struct {
	fam  Family
	addr netip.Addr
}

func (t target) String() string {
	if t.addr.IsValid() {
		return t.addr.String()
	}
	return t.fam.String() + " address"
}

// maxStale bounds how many granted addresses addLowest skips. The free index
// never lists a granted address unless there is a bug; the bound turns such
// a bug into an error instead of a long loop, and the check itself (the
// grant index refusing a second grant of an address) keeps the bug from
// becoming a double grant.
const maxStale = 64

func errOutOfStep(p *poolState) error {
	return fmt.Errorf("free-space index of pool %q is out of step with the grants (a bug)", p.name)
}

// addLowest grants the lowest free address of pool p, or returns nil if the
// pool is full.
func (a *Allocator) addLowest(p *poolState, fi int, owner string, s Share, slot ownerSlot) (*grant, error) {
	pf := &p.fam[fi]
	for range maxStale {
		k, ok := pf.free.takeMin()
		if !ok {
			return nil, nil
		}
		if g := a.add(k, fi, p, owner, s, slot); g != nil {
			return g, nil
		}
		// k was granted already; taking it out of the index was the repair.
	}
	return nil, errOutOfStep(p)
}

// whyNotIn explains ErrNotInPool for a plain address a.
func (a *Allocator) whyNotIn(addr netip.Addr, names []string, home *poolState) string {
	for _, name := range names {
		p := a.pools[name]
		for _, r := range p.pool.Ranges {
			pfx, isCIDR := r.Prefix()
			if !r.Contains(addr) || !isCIDR || p.pool.AllowFirstLast {
				continue
			}
			switch {
			case addr.Is4() && pfx.Bits() < 31 && addr == r.First:
				return fmt.Sprintf("%s is the network address of %s in pool %q", addr, r, name)
			case addr.Is4() && pfx.Bits() < 31 && addr == r.Last:
				return fmt.Sprintf("%s is the broadcast address of %s in pool %q", addr, r, name)
			case addr.Is6() && pfx.Bits() < 127 && addr == r.First:
				return fmt.Sprintf("%s is the subnet-router anycast address of %s in pool %q", addr, r, name)
			}
		}
	}
	if home != nil {
		return fmt.Sprintf("%s belongs to pool %q, not to %s", addr, home.name, poolList(names))
	}
	return fmt.Sprintf("%s is outside %s", addr, poolList(names))
}

func poolList(names []string) string {
	switch len(names) {
	case 0:
		return "the permitted pools (none)"
	case 1:
		return fmt.Sprintf("pool %q", names[0])
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "pools " + strings.Join(q, ", ")
}

// joinable reports whether an owner with Share s may join the holders of g.
func joinable(g *grant, s Share) error {
	if g.key() == "" && s.Key == "" {
		return fmt.Errorf("held by %s: %w", strings.Join(g.owners(), ", "), ErrInUse)
	}
	if c := g.conflict(s, ""); c != nil {
		return c
	}
	return nil
}

// add records a new grant of k in pool p (nil outside every pool), whose
// free index the caller updates; slot is a.owners.find(owner). It returns
// nil, changing nothing, if k is granted already.
func (a *Allocator) add(k u128, fi int, p *poolState, owner string, s Share, slot ownerSlot) *grant {
	g := a.spare
	if g == nil {
		g = &grant{}
	}
	*g = grant{addr: k}
	if s.IsZero() {
		g.solo.owner = owner
	} else {
		g.group = &group{members: []member{{holder: holder{owner: owner}, share: s.clone()}}}
	}
	if !a.fams[fi].grants.insert(k, g) {
		return nil
	}
	a.spare = nil
	if p != nil {
		p.fam[fi].allocated++
	}
	a.link(owner, slot, g)
	if s.Key != "" {
		a.addKey(s.Key, g)
	}
	return g
}

// join adds owner to the holders of g; the caller checked compatibility,
// so g is held under a sharing key and has a group.
func (a *Allocator) join(g *grant, owner string, s Share) {
	slot := a.owners.find(owner)
	i, _ := g.index(owner)
	g.group.members = slices.Insert(g.group.members, i, member{holder: holder{owner: owner}, share: s.clone()})
	a.link(owner, slot, g)
}

// setShare replaces owner's Share on g; the caller checked it against the
// other holders, so the key can only change when owner holds g alone.
func (a *Allocator) setShare(g *grant, owner string, s Share) {
	if g.group == nil {
		if s.IsZero() {
			return
		}
		g.group = &group{members: []member{{holder: g.solo}}}
		g.solo = holder{}
	}
	i, _ := g.index(owner)
	m := &g.group.members[i]
	old := m.share.Key
	m.share = s.clone()
	if old != s.Key {
		if old != "" {
			a.removeKey(old, g)
		}
		if s.Key != "" {
			a.addKey(s.Key, g)
		}
	}
}

func (a *Allocator) addKey(key string, g *grant) {
	list := a.keys[key]
	i, _ := slices.BinarySearchFunc(list, g, grantCmp)
	a.keys[key] = slices.Insert(list, i, g)
}

func (a *Allocator) removeKey(key string, g *grant) {
	list := a.keys[key]
	if i, ok := slices.BinarySearchFunc(list, g, grantCmp); ok {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(a.keys, key)
	} else {
		a.keys[key] = list
	}
}

// link inserts g into owner's chain of grants. owner must be a holder of g
// by now, and slot what a.owners.find(owner) returned before it became one
// (find confirms an owner by the grants it holds).
func (a *Allocator) link(owner string, slot ownerSlot, g *grant) {
	h := g.holderOf(owner)
	if slot.head == nil || grantCmp(g, slot.head) < 0 {
		h.next = slot.head
		a.owners.setHead(owner, slot, g)
		return
	}
	for p := slot.head; ; {
		ph := p.holderOf(owner)
		if ph.next == nil || grantCmp(g, ph.next) < 0 {
			h.next = ph.next
			ph.next = g
			return
		}
		p = ph.next
	}
}

// unlink removes g from owner's chain of grants.
func (a *Allocator) unlink(owner string, g *grant) {
	next := g.holderOf(owner).next
	slot := a.owners.find(owner)
	if slot.head == g {
		a.owners.setHead(owner, slot, next)
		return
	}
	for p := slot.head; p != nil; {
		ph := p.holderOf(owner)
		if ph.next == g {
			ph.next = next
			return
		}
		p = ph.next
	}
}

func (a *Allocator) result(g *grant, p *poolState, c *SharingConflictError) Result {
	r := Result{Address: g.addr.addr(), Shared: g.count() > 1, SharingConflict: c}
	if p != nil {
		r.Pool = p.name
	}
	return r
}

// Restore records a grant that already exists, when the index is rebuilt
// from persisted state (IPAllocation objects). Unlike Assign it accepts any
// plain address, including one outside every pool (kept and reported by
// Outside), and an owner may end up holding several addresses of a family
// if the persisted state says so. Restoring a grant the owner already holds
// updates its Share. An address held by others is shared if the Share
// allows it, else the error is ErrInUse or a *SharingConflictError, as for
// Assign. The result depends only on the calls made, not on their timing.
func (a *Allocator) Restore(owner string, addr netip.Addr, s Share) (Result, error) {
	if owner == "" {
		return Result{}, fmt.Errorf("restoring %s: empty owner", addr)
	}
	if !plain(addr) {
		return Result{}, fmt.Errorf("restoring %s for %s: not a plain IPv4 or IPv6 address: %w", addr, owner, ErrNotInPool)
	}
	fi := FamilyOf(addr).index()
	fx := &a.fams[fi]
	k := keyOf(addr)
	p := fx.poolOf(k)
	if g := fx.grants.find(k); g != nil {
		if g.holderOf(owner) != nil {
			if c := g.conflict(s, owner); c != nil {
				return Result{}, fmt.Errorf("restoring %s for %s: %w", addr, owner, c)
			}
			a.setShare(g, owner, s)
			return a.result(g, p, nil), nil
		}
		if err := joinable(g, s); err != nil {
			return Result{}, fmt.Errorf("restoring %s for %s: %w", addr, owner, err)
		}
		a.join(g, owner, s)
		return a.result(g, p, nil), nil
	}
	if p != nil && !p.fam[fi].free.take(k) { // k is in p and not granted, so it must be free
		return Result{}, fmt.Errorf("restoring %s for %s: %w", addr, owner, errOutOfStep(p))
	}
	return a.result(a.add(k, fi, p, owner, s, a.owners.find(owner)), p, nil), nil
}

// Release gives up owner's hold on addr. The address becomes free when its
// last holder releases it. Releasing what is not held does nothing.
func (a *Allocator) Release(owner string, addr netip.Addr) {
	if !plain(addr) {
		return
	}
	fi := FamilyOf(addr).index()
	if g := a.fams[fi].grants.find(keyOf(addr)); g != nil && g.holderOf(owner) != nil {
		a.release(g, fi, owner)
	}
}

// ReleaseOwner releases every address owner holds. It is idempotent.
func (a *Allocator) ReleaseOwner(owner string) {
	for g := a.owners.head(owner); g != nil; g = a.owners.head(owner) {
		a.release(g, g.addr.family().index(), owner)
	}
}

func (a *Allocator) release(g *grant, fi int, owner string) {
	key := g.key()
	a.unlink(owner, g)
	if g.group != nil {
		i, _ := g.index(owner)
		g.group.members = slices.Delete(g.group.members, i, i+1)
		if len(g.group.members) > 0 {
			return
		}
	}
	fx := &a.fams[fi]
	fx.grants.delete(g.addr)
	if p := fx.poolOf(g.addr); p != nil {
		p.fam[fi].free.put(g.addr)
		p.fam[fi].allocated--
	}
	if key != "" {
		a.removeKey(key, g)
	}
	*g = grant{}
	a.spare = g
}

// Owners returns the holders of addr, sorted; nil if it is free.
func (a *Allocator) Owners(addr netip.Addr) []string {
	if !plain(addr) {
		return nil
	}
	if g := a.fams[FamilyOf(addr).index()].grants.find(keyOf(addr)); g != nil {
		return g.owners()
	}
	return nil
}

// Addresses returns the addresses owner holds, IPv4 first, each family in
// address order.
func (a *Allocator) Addresses(owner string) []netip.Addr {
	var out []netip.Addr
	for g := a.owners.head(owner); g != nil; g = g.holderOf(owner).next {
		out = append(out, g.addr.addr())
	}
	return out
}

// PoolOf returns the pool addr belongs to (granted or not), or "" if it is
// outside every pool or reserved.
func (a *Allocator) PoolOf(addr netip.Addr) string {
	if !plain(addr) {
		return ""
	}
	if p := a.fams[FamilyOf(addr).index()].poolOf(keyOf(addr)); p != nil {
		return p.name
	}
	return ""
}

// Stats returns the sizes of pool in family f; zero for an unknown pool.
func (a *Allocator) Stats(pool string, f Family) Stats {
	p := a.pools[pool]
	if p == nil || !f.valid() {
		return Stats{}
	}
	pf := &p.fam[f.index()]
	s := Stats{Capacity: pf.capacity, Allocated: pf.allocated, Available: math.MaxUint64}
	if pf.capacity != math.MaxUint64 {
		s.Available = pf.capacity - pf.allocated
	}
	return s
}

// Outside returns the assignments that lie outside every pool, sorted by
// family (IPv4 first), address and owner.
func (a *Allocator) Outside() []Assignment {
	return a.assignments(true)
}

// Assignments returns every assignment, sorted by family (IPv4 first),
// address and owner.
func (a *Allocator) Assignments() []Assignment {
	return a.assignments(false)
}

func (a *Allocator) assignments(outsideOnly bool) []Assignment {
	var out []Assignment
	for fi := range a.fams {
		fx := &a.fams[fi]
		fx.grants.each(func(g *grant) bool {
			p := fx.poolOf(g.addr)
			if outsideOnly && p != nil {
				return true
			}
			pool := ""
			if p != nil {
				pool = p.name
			}
			for i := range g.count() {
				h, s := g.member(i)
				out = append(out, Assignment{Address: g.addr.addr(), Owner: h.owner, Pool: pool, Share: s.clone()})
			}
			return true
		})
	}
	return out
}
