package grants

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// Unit is one controller's allocation core: the address index (an
// allocator.Allocator), what it has observed of IPAllocations and of the
// addresses Services show, its in-flight claims, and the policy that
// decides from them. It makes no API calls; Sync and the other protocol
// functions in this package drive a Store with its decisions. All methods
// are safe for concurrent use; nothing holds the Unit's lock across an API
// call.
//
// The index holds an address for an owner ("namespace/name") while any of
// these is true:
//   - the observed IPAllocation of the address lists the owner (a lock),
//   - no IPAllocation of the address is observed and the owner's Service
//     shows it (an address shown without a lock is never handed out: the
//     lock may be in flight, deleted by hand, or the address was migrated
//     from another controller),
//   - this controller claimed it for the owner and has not yet seen the
//     lock it is creating (pending).
//
// A lock always wins over a shown or pending claim: when the observed lock
// of an address lists other Services, those are the holders.
type Unit struct {
	mu           sync.Mutex
	alloc        *allocator.Allocator
	cfg          *config.Config
	outside      map[netip.Addr]bool // granted addresses outside every pool
	defaultClass bool

	addrs  map[netip.Addr]*addrState
	owners map[string]*ownerState
}

// addrState is what the Unit knows of one address.
type addrState struct {
	lock    *lockView
	shownBy []string // owners whose Service shows the address, oldest first
	pending []string // owners this controller claimed it for
}

// lockView is the observed IPAllocation of an address.
type lockView struct {
	rv   uint64 // metadata.resourceVersion, 0 when not a number
	uid  string
	pool string
	key  string
	refs []seamarkv1alpha1.ServiceReference
}

func (l *lockView) lists(owner string) (seamarkv1alpha1.ServiceReference, bool) {
	if l == nil {
		return seamarkv1alpha1.ServiceReference{}, false
	}
	for _, r := range l.refs {
		if OwnerOf(r.Namespace, r.Name) == owner {
			return r, true
		}
	}
	return seamarkv1alpha1.ServiceReference{}, false
}

// ownerState is what the Unit knows of one Service.
type ownerState struct {
	share   allocator.Share
	created time.Time
	shown   []netip.Addr
	locks   []netip.Addr // addresses whose observed lock lists the owner
	pending []netip.Addr
}

// New returns an empty Unit; defaultClass is the binaries' --default-class.
func New(defaultClass bool) *Unit {
	empty, _ := config.Build(config.Resources{})
	return &Unit{
		alloc:        allocator.New(),
		cfg:          empty,
		defaultClass: defaultClass,
		outside:      map[netip.Addr]bool{},
		addrs:        map[netip.Addr]*addrState{},
		owners:       map[string]*ownerState{},
	}
}

// OwnerOf is the owner of a Service in the index: "namespace/name".
func OwnerOf(namespace, name string) string { return namespace + "/" + name }

// Handles reports whether the Service is one the Unit grants to.
func (u *Unit) Handles(svc *corev1.Service) bool { return config.Handles(svc, u.defaultClass) }

// Config returns the config snapshot the Unit decides with.
func (u *Unit) Config() *config.Config {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cfg
}

// SetConfig hands a new config snapshot to the Unit and returns the
// granted addresses that now lie outside every pool (they are kept, never
// moved; the pools report them).
func (u *Unit) SetConfig(cfg *config.Config) []allocator.Assignment {
	pools := make([]allocator.Pool, 0, len(cfg.Pools))
	for _, p := range cfg.Pools {
		pools = append(pools, p.Allocator)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cfg = cfg
	outside := u.alloc.SetPools(pools)
	clear(u.outside)
	for _, a := range outside {
		u.outside[a.Address] = true
	}
	return outside
}

// Outside returns the granted addresses that lie outside every pool, kept
// up to date from SetConfig's answer and every change since, in O(their
// number).
func (u *Unit) Outside() []netip.Addr {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]netip.Addr, 0, len(u.outside))
	for a := range u.outside {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Stats returns the sizes of a pool in one family.
func (u *Unit) Stats(pool string, f allocator.Family) allocator.Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.alloc.Stats(pool, f)
}

// Addresses returns the addresses the index holds for an owner.
func (u *Unit) Addresses(owner string) []netip.Addr {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.alloc.Addresses(owner)
}

// Holders returns the owners the index holds an address for.
func (u *Unit) Holders(addr netip.Addr) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.alloc.Owners(addr)
}

// ObserveAllocation records an IPAllocation as seen by an informer or
// returned by a write. An object older (by resourceVersion) than the one
// already recorded is ignored, so a late informer event never undoes what
// a write showed.
func (u *Unit) ObserveAllocation(ipa *seamarkv1alpha1.IPAllocation) {
	addr, err := netip.ParseAddr(string(ipa.Spec.Address))
	if err != nil {
		return
	}
	rv, _ := strconv.ParseUint(ipa.ResourceVersion, 10, 64)
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.addr(addr)
	if old := st.lock; old != nil && old.uid == string(ipa.UID) && rv != 0 && old.rv > rv {
		return
	}
	var oldRefs []seamarkv1alpha1.ServiceReference
	if st.lock != nil {
		oldRefs = st.lock.refs
	}
	st.lock = &lockView{rv: rv, uid: string(ipa.UID), pool: string(ipa.Spec.Pool), key: ipa.Spec.SharingKey,
		refs: slices.Clone(ipa.Spec.Services)}
	for _, r := range oldRefs {
		if _, still := st.lock.lists(OwnerOf(r.Namespace, r.Name)); !still {
			u.setLocked(OwnerOf(r.Namespace, r.Name), addr, false)
		}
	}
	for _, r := range ipa.Spec.Services {
		u.setLocked(OwnerOf(r.Namespace, r.Name), addr, true)
	}
	// A lock settles every claim on its address: this controller's claims
	// are confirmed (the lock lists them) or lost (it lists others).
	for _, o := range slices.Clone(st.pending) {
		u.dropPending(o, addr)
	}
	u.settle(addr)
}

// ForgetAllocation records that the IPAllocation of an address is gone.
func (u *Unit) ForgetAllocation(ipa *seamarkv1alpha1.IPAllocation) {
	addr, err := netip.ParseAddr(string(ipa.Spec.Address))
	if err != nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.addrs[addr]
	if st == nil || st.lock == nil || (ipa.UID != "" && st.lock.uid != string(ipa.UID)) {
		return
	}
	refs := st.lock.refs
	st.lock = nil
	for _, r := range refs {
		u.setLocked(OwnerOf(r.Namespace, r.Name), addr, false)
	}
	u.settle(addr)
}

// ObserveService records the addresses a Service shows and its sharing
// data. Services the Unit does not handle show nothing to it.
func (u *Unit) ObserveService(svc *corev1.Service) {
	owner := OwnerOf(svc.Namespace, svc.Name)
	var shown []netip.Addr
	if u.Handles(svc) {
		shown = config.StatusAddresses(svc)
	}
	ask := config.AskOf(svc)
	u.mu.Lock()
	defer u.mu.Unlock()
	o := u.owner(owner)
	changed := !shareEqual(o.share, ask.Share)
	o.share, o.created = ask.Share, svc.CreationTimestamp.Time
	u.setShown(owner, o, shown, changed)
}

// ForgetService records that a Service is gone: it shows nothing any more.
// Its locks stay until the IPAllocations are released.
func (u *Unit) ForgetService(namespace, name string) {
	owner := OwnerOf(namespace, name)
	u.mu.Lock()
	defer u.mu.Unlock()
	if o := u.owners[owner]; o != nil {
		o.created = time.Time{}
		u.setShown(owner, o, nil, false)
	}
}

// Abandon drops a claim this controller made for an owner and could not
// write (the lock was taken or the write failed).
func (u *Unit) Abandon(owner string, addr netip.Addr) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.dropPending(owner, addr)
	u.settle(addr)
}

// setShown records the addresses owner's Service shows. Only addresses
// whose claims changed are settled again, and the unchanged ones only when
// the owner's sharing data changed (settle hands it to the allocator): a
// reconcile of an unchanged Service costs the index nothing.
func (u *Unit) setShown(owner string, o *ownerState, shown []netip.Addr, shareChanged bool) {
	old := o.shown
	o.shown = shown
	for _, a := range old {
		if !slices.Contains(shown, a) {
			st := u.addr(a)
			st.shownBy = slices.DeleteFunc(st.shownBy, func(s string) bool { return s == owner })
			u.settle(a)
		}
	}
	for _, a := range shown {
		st := u.addr(a)
		if !slices.Contains(st.shownBy, owner) {
			st.shownBy = append(st.shownBy, owner)
			slices.SortStableFunc(st.shownBy, u.olderFirst)
		} else if !shareChanged {
			continue
		}
		u.settle(a)
	}
	u.gc(owner)
}

func shareEqual(a, b allocator.Share) bool {
	return a.Key == b.Key && a.Policy == b.Policy && a.Selector == b.Selector && slices.Equal(a.Ports, b.Ports)
}

// olderFirst orders owners by their Service's creation, then by name: of
// two Services showing one address without a lock, the older one is held.
func (u *Unit) olderFirst(a, b string) int {
	oa, ob := u.owners[a], u.owners[b]
	if oa != nil && ob != nil && !oa.created.Equal(ob.created) {
		return oa.created.Compare(ob.created)
	}
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

func (u *Unit) addr(a netip.Addr) *addrState {
	st := u.addrs[a]
	if st == nil {
		st = &addrState{}
		u.addrs[a] = st
	}
	return st
}

func (u *Unit) owner(name string) *ownerState {
	o := u.owners[name]
	if o == nil {
		o = &ownerState{}
		u.owners[name] = o
	}
	return o
}

// setLocked records whether the observed lock of addr lists owner.
func (u *Unit) setLocked(owner string, addr netip.Addr, locked bool) {
	o := u.owner(owner)
	i, found := slices.BinarySearchFunc(o.locks, addr, netip.Addr.Compare)
	switch {
	case locked && !found:
		o.locks = slices.Insert(o.locks, i, addr)
	case !locked && found:
		o.locks = slices.Delete(o.locks, i, i+1)
		u.gc(owner)
	}
}

func (u *Unit) dropPending(owner string, addr netip.Addr) {
	if st := u.addrs[addr]; st != nil {
		st.pending = slices.DeleteFunc(st.pending, func(s string) bool { return s == owner })
	}
	if o := u.owners[owner]; o != nil {
		o.pending = slices.DeleteFunc(o.pending, func(b netip.Addr) bool { return b == addr })
		u.gc(owner)
	}
}

// gc forgets an owner the Unit knows nothing of any more.
func (u *Unit) gc(owner string) {
	if o := u.owners[owner]; o != nil && len(o.shown) == 0 && len(o.locks) == 0 && len(o.pending) == 0 && o.created.IsZero() {
		delete(u.owners, owner)
	}
}

// settle makes the index's holders of addr what the Unit knows: the lock's
// Services if a lock is observed, else the Services showing it (oldest
// first) and this controller's pending claims, as far as they may share.
// It is O(holders · log grants).
func (u *Unit) settle(addr netip.Addr) {
	st := u.addrs[addr]
	for _, h := range u.alloc.Owners(addr) {
		u.alloc.Release(h, addr)
	}
	if st == nil {
		delete(u.outside, addr)
		return
	}
	var want []string
	if st.lock != nil {
		for _, r := range st.lock.refs {
			want = append(want, OwnerOf(r.Namespace, r.Name))
		}
	} else {
		want = append(append(want, st.shownBy...), st.pending...)
	}
	for _, o := range want {
		share := allocator.Share{}
		if os := u.owners[o]; os != nil {
			share = os.share
		}
		if st.lock == nil {
			// A conflict leaves the address with the claims restored first.
			_, _ = u.alloc.Restore(o, addr, share)
			continue
		}
		// The lock's word on sharing is final: every Service it lists holds
		// the address, even if their ports conflict by now.
		share.Key = st.lock.key
		if _, err := u.alloc.Restore(o, addr, share); err != nil {
			share.Ports = nil
			_, _ = u.alloc.Restore(o, addr, share)
		}
	}
	if len(u.alloc.Owners(addr)) > 0 && u.alloc.PoolOf(addr) == "" {
		u.outside[addr] = true
	} else {
		delete(u.outside, addr)
	}
	if st.lock == nil && len(st.shownBy) == 0 && len(st.pending) == 0 {
		delete(u.addrs, addr)
	}
}
