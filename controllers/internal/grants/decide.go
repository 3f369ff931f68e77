package grants

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// Action is what a Target needs from the apiserver before the Service's
// status may show it.
type Action int

const (
	// Keep: the observed lock lists the Service; nothing to write.
	Keep Action = iota
	// Create: a fresh claim; create the lock (AlreadyExists → Confirm).
	Create
	// Confirm: read the lock and create it when missing, join it when the
	// sharing key allows, fix a stale UID, or find it taken by others.
	Confirm
)

// Target is one address the Service's status shows after a decision.
type Target struct {
	Addr netip.Addr
	// Pool is the pool of the address now ("" if outside every pool).
	Pool   string
	Action Action
	// Fresh: granted by this decision (an event and a metric say so).
	Fresh bool
	// Adopted: shown without a lock; the lock is written now.
	Adopted bool
}

// Lost is an address a Service showed whose lock belongs to other
// Services: it stays with them and the Service gets another one.
type Lost struct {
	Addr netip.Addr
	// Holders are the Services the lock lists.
	Holders []string
}

// Decision is what one reconcile of a Service does, in this order: the
// Targets' lock writes, one status write showing exactly Targets and
// Unadopted, then the releases (invariant I1: a lock is left only after
// the status no longer shows its address).
type Decision struct {
	Targets []Target
	// Unadopted are addresses the Service shows that no permitted pool
	// contains: they stay in its status, unlocked, and nothing replaces
	// them (the Service asked for them by migrating).
	Unadopted []netip.Addr
	// Release are locks listing the Service that its status will not show.
	Release []netip.Addr
	// Lost are shown addresses that belong to others (a duplicate left by
	// an older version, another controller or a hand edit).
	Lost []Lost
	// Warnings are joined into one Warning event; Notes are Normal events.
	Warnings []string
	Notes    []string
	// Refused: nothing is granted and a warning says why.
	Refused bool
}

// Status returns the addresses the status shows after the decision.
func (d *Decision) Status() []netip.Addr {
	out := make([]netip.Addr, 0, len(d.Targets)+len(d.Unadopted))
	for _, t := range d.Targets {
		out = append(out, t.Addr)
	}
	return append(out, d.Unadopted...)
}

// Decide decides the addresses of a Service (docs/allocation.md):
//
//   - (I2) an address the Service shows stays, whatever else the index
//     holds for it: a race that left it two locks releases the other;
//   - an explicitly requested address (seamark.io/ips, then
//     spec.loadBalancerIP) replaces the shown one only when it can be had;
//   - without a shown address, a lock that lists the Service is reused
//     (the lowest, should several); only then is a fresh address granted;
//   - (I4) at most one address per family; families the Service no longer
//     wants are released;
//   - a shown address in taken (its lock, read from the apiserver, lists
//     other Services it may not share with) is lost: the lock's Services
//     keep it, and this Service gets another address and a warning.
//
// svc is the Service as read; taken are locks the Store confirmed belong
// to others during this reconcile. Decide changes only the index: fresh
// addresses become pending claims, which Abandon or the observed lock
// settles.
func (u *Unit) Decide(svc *corev1.Service, taken map[netip.Addr]*seamarkv1alpha1.IPAllocation) Decision {
	owner := OwnerOf(svc.Namespace, svc.Name)
	ask := config.AskOf(svc)
	shownAll := config.StatusAddresses(svc)
	u.mu.Lock()
	defer u.mu.Unlock()
	o := u.owner(owner)
	changed := !shareEqual(o.share, ask.Share)
	o.share, o.created = ask.Share, svc.CreationTimestamp.Time
	u.setShown(owner, o, shownAll, changed)

	var d Decision
	keep := map[netip.Addr]bool{}
	var fresh []netip.Addr
	failed := false
	for _, w := range ask.Families {
		t, ok := u.decideFamily(&d, svc, owner, ask, w, shownAll, taken, &failed)
		if !ok {
			continue
		}
		keep[t.Addr] = true
		if t.Fresh && !t.Adopted {
			fresh = append(fresh, t.Addr)
		}
		d.Targets = append(d.Targets, t)
	}
	if failed && len(ask.Families) == 2 && ask.Families[1].Required {
		// RequireDualStack: one of each or nothing new.
		for _, a := range fresh {
			u.dropPending(owner, a)
			u.settle(a)
			delete(keep, a)
		}
		d.Targets = slices.DeleteFunc(d.Targets, func(t Target) bool { return t.Fresh && !t.Adopted })
		d.Warnings = append(d.Warnings, "RequireDualStack needs one address of each family; granted none")
	}
	for _, a := range d.Unadopted {
		keep[a] = true
	}
	for _, a := range o.locks {
		if !keep[a] {
			d.Release = append(d.Release, a)
		}
	}
	for _, a := range slices.Clone(o.pending) {
		if !keep[a] {
			u.dropPending(owner, a)
			u.settle(a)
		}
	}
	d.Refused = len(d.Targets) == 0 && len(d.Warnings) > 0
	return d
}

// decideFamily decides one wanted family; ok is false when the Service
// gets no (locked) address of it.
func (u *Unit) decideFamily(d *Decision, svc *corev1.Service, owner string, ask config.Ask, w config.FamilyWant,
	shownAll []netip.Addr, taken map[netip.Addr]*seamarkv1alpha1.IPAllocation, failed *bool) (Target, bool) {
	f := w.Family
	o := u.owners[owner]
	// The shown address of the family: one the lock backs if the status
	// shows two (I4 is restored by showing one).
	var shown netip.Addr
	for _, a := range shownAll {
		if allocator.FamilyOf(a) != f {
			continue
		}
		if obj, lost := taken[a]; lost {
			d.Lost = append(d.Lost, Lost{Addr: a, Holders: refNames(obj.Spec.Services)})
			continue
		}
		if !shown.IsValid() || slices.Contains(o.locks, a) && !slices.Contains(o.locks, shown) {
			shown = a
		}
	}
	var locked []netip.Addr
	for _, a := range o.locks {
		if allocator.FamilyOf(a) == f {
			if _, lost := taken[a]; !lost {
				locked = append(locked, a)
			}
		}
	}
	requested, hasReq := ask.Requested(f)

	if ask.Err != nil {
		// A bad annotation: keep what the Service has, grant nothing new.
		if !slices.Contains(d.Warnings, ask.Err.Error()) {
			d.Warnings = append(d.Warnings, ask.Err.Error())
		}
		switch {
		case shown.IsValid():
			return u.keepShown(d, svc, owner, ask, shown)
		case len(locked) > 0:
			return u.keepLocked(svc, owner, locked[0]), true
		}
		return Target{}, false
	}
	if hasReq && requested != shown {
		t, err := u.claim(svc, owner, ask, f, requested)
		if err == nil {
			return t.Target, true
		}
		msg := u.explain(err, requested, f, u.pools(svc, ask, requested))
		switch {
		case shown.IsValid():
			d.Warnings = append(d.Warnings, fmt.Sprintf("Requested address %s cannot be granted, keeping %s: %s", requested, shown, msg))
			return u.keepShown(d, svc, owner, ask, shown)
		case len(locked) > 0:
			d.Warnings = append(d.Warnings, fmt.Sprintf("Requested address %s cannot be granted, keeping %s: %s", requested, locked[0], msg))
			return u.keepLocked(svc, owner, locked[0]), true
		}
		u.refuse(d, w, msg, failed)
		return Target{}, false
	}
	switch {
	case shown.IsValid():
		return u.keepShown(d, svc, owner, ask, shown)
	case len(locked) > 0:
		return u.keepLocked(svc, owner, locked[0]), true
	}
	t, err := u.claim(svc, owner, ask, f, netip.Addr{})
	if err != nil {
		u.refuse(d, w, u.explain(err, netip.Addr{}, f, u.pools(svc, ask, netip.Addr{})), failed)
		return Target{}, false
	}
	var conflict *allocator.SharingConflictError
	if errors.As(t.sharingConflict, &conflict) {
		d.Notes = append(d.Notes, fmt.Sprintf("Could not share an address under sharing key %q: %v", ask.SharingKey, conflict))
	}
	return t.Target, true
}

func refNames(refs []seamarkv1alpha1.ServiceReference) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, OwnerOf(r.Namespace, r.Name))
	}
	return out
}

// keepShown keeps the address the Service shows (I2). Without a lock that
// lists the Service it is confirmed against the apiserver: adopted if free
// and permitted, joined if the key allows, lost if taken. An address no
// permitted pool contains stays shown, unlocked, and nothing replaces it.
func (u *Unit) keepShown(d *Decision, svc *corev1.Service, owner string, ask config.Ask, a netip.Addr) (Target, bool) {
	st := u.addrs[a]
	if ref, ok := st.lock.lists(owner); ok {
		act := Keep
		if ref.UID != string(svc.UID) {
			act = Confirm // the Service was re-created under the same name
		}
		return Target{Addr: a, Pool: u.poolName(a), Action: act}, true
	}
	pools := u.pools(svc, ask, a)
	pool := u.poolName(a)
	if pool == "" || !slices.Contains(pools, pool) {
		d.Unadopted = append(d.Unadopted, a)
		d.Warnings = append(d.Warnings, fmt.Sprintf("The Service shows %s, which seamark cannot adopt: %s; it gets no other %s address (set %s to choose one)",
			a, u.explain(allocator.ErrNotInPool, a, allocator.FamilyOf(a), pools), allocator.FamilyOf(a), seamarkv1alpha1.AnnotationIPs))
		return Target{}, false
	}
	return Target{Addr: a, Pool: pool, Action: Confirm, Fresh: st.lock == nil, Adopted: st.lock == nil}, true
}

// keepLocked reuses a lock that lists the Service although its status
// does not show it (a grant whose status write lost a race or crashed).
func (u *Unit) keepLocked(svc *corev1.Service, owner string, a netip.Addr) Target {
	act := Keep
	if ref, _ := u.addrs[a].lock.lists(owner); ref.UID != string(svc.UID) {
		act = Confirm
	}
	return Target{Addr: a, Pool: u.poolName(a), Action: act}
}

type claimed struct {
	Target
	sharingConflict error
}

// claim assigns a fresh or requested address of family f as a pending
// claim. The owner's other holds of the family are set aside for the
// Assign (the allocator gives an owner one address per family) and put
// back after it.
func (u *Unit) claim(svc *corev1.Service, owner string, ask config.Ask, f allocator.Family, addr netip.Addr) (claimed, error) {
	var aside []netip.Addr
	for _, a := range u.alloc.Addresses(owner) {
		if allocator.FamilyOf(a) == f {
			u.alloc.Release(owner, a)
			aside = append(aside, a)
		}
	}
	defer func() {
		for _, a := range aside {
			u.settle(a)
		}
	}()
	pools, err := u.permitted(svc, ask, addr)
	if err != nil {
		return claimed{}, err
	}
	res, err := u.alloc.Assign(allocator.Request{Owner: owner, Family: f, Address: addr, Pools: pools, Share: ask.Share})
	if err != nil {
		return claimed{}, err
	}
	o := u.owners[owner]
	st := u.addr(res.Address)
	if !slices.Contains(st.pending, owner) {
		st.pending = append(st.pending, owner)
		o.pending = append(o.pending, res.Address)
	}
	act := Create
	if res.Shared || st.lock != nil {
		act = Confirm // join the lock of the Services it is shared with
	}
	c := claimed{Target: Target{Addr: res.Address, Pool: res.Pool, Action: act, Fresh: true}}
	if res.SharingConflict != nil {
		c.sharingConflict = res.SharingConflict
	}
	return c, nil
}

// permitted are the pools a Service may take addr from (or, with no
// address, the pools it may be granted from), in precedence order; the
// error says why a named pool cannot be used.
func (u *Unit) permitted(svc *corev1.Service, ask config.Ask, addr netip.Addr) ([]string, error) {
	req := config.ServiceRequest{Pool: ask.Pool}
	if addr.IsValid() {
		req.Addresses = []netip.Addr{addr}
	}
	pools, err := u.cfg.PoolsFor(svc, req)
	return config.PoolNames(pools), err
}

func (u *Unit) pools(svc *corev1.Service, ask config.Ask, addr netip.Addr) []string {
	p, _ := u.permitted(svc, ask, addr)
	return p
}

func (u *Unit) poolName(a netip.Addr) string {
	if p := u.cfg.PoolOf(a); p != nil {
		return p.Name
	}
	return ""
}

func (u *Unit) refuse(d *Decision, w config.FamilyWant, msg string, failed *bool) {
	if w.Required {
		d.Warnings = append(d.Warnings, fmt.Sprintf("No %s address: %s", w.Family, msg))
		*failed = true
		return
	}
	d.Notes = append(d.Notes, fmt.Sprintf("No %s address (PreferDualStack, continuing with one family): %s", w.Family, msg))
}

// explain turns an allocator error into a sentence a user can act on.
// pools are the permitted pools; only those with addresses of family f
// are named (a full IPv4 pool set is not "full" because of an IPv6 pool).
func (u *Unit) explain(err error, addr netip.Addr, f allocator.Family, pools []string) string {
	var withFamily []string
	for _, name := range pools {
		if p := u.cfg.Pools[name]; p != nil && p.HasFamily(f) {
			withFamily = append(withFamily, name)
		}
	}
	sentinel := errors.Is(err, allocator.ErrExhausted) || errors.Is(err, allocator.ErrFamilyUnavailable) ||
		errors.Is(err, allocator.ErrNotInPool) || errors.Is(err, allocator.ErrInUse)
	switch {
	case err != nil && !sentinel:
		return err.Error()
	case len(pools) == 0 && !addr.IsValid():
		return "no IPPool admits this Service (check the pools' autoAssign, serviceSelector and namespaceSelector, or name one with " + seamarkv1alpha1.AnnotationPool + ")"
	case len(pools) == 0:
		return fmt.Sprintf("no IPPool this Service may use contains %s", addr)
	case errors.Is(err, allocator.ErrExhausted):
		return fmt.Sprintf("every permitted pool with %s addresses is full (%s)", f, strings.Join(withFamily, ", "))
	case errors.Is(err, allocator.ErrFamilyUnavailable) || len(withFamily) == 0:
		return fmt.Sprintf("no permitted pool has %s addresses (%s)", f, strings.Join(pools, ", "))
	case errors.Is(err, allocator.ErrNotInPool):
		return fmt.Sprintf("%s is not in any pool this Service may use (%s)", addr, strings.Join(pools, ", "))
	case errors.Is(err, allocator.ErrInUse):
		return fmt.Sprintf("%s is already in use by another Service", addr)
	}
	return err.Error()
}
