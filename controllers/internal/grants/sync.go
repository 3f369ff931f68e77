package grants

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// Store is the apiserver as the allocation protocol sees it. Its reads are
// uncached: they decide, while the informer-fed index only proposes. Its
// errors are the apiserver's (apierrors.IsNotFound, IsAlreadyExists,
// IsConflict).
type Store interface {
	// CreateAllocation creates the lock; AlreadyExists means the address
	// is someone's.
	CreateAllocation(ctx context.Context, ipa *seamarkv1alpha1.IPAllocation) error
	GetAllocation(ctx context.Context, name string) (*seamarkv1alpha1.IPAllocation, error)
	// UpdateAllocation fails with Conflict on a stale resourceVersion.
	UpdateAllocation(ctx context.Context, ipa *seamarkv1alpha1.IPAllocation) error
	// DeleteAllocation deletes with the object's UID and resourceVersion
	// as preconditions.
	DeleteAllocation(ctx context.Context, ipa *seamarkv1alpha1.IPAllocation) error
	GetService(ctx context.Context, namespace, name string) (*corev1.Service, error)
	// PatchServiceStatus writes status.loadBalancer.ingress under an
	// optimistic lock on svc's resourceVersion (Conflict when stale).
	PatchServiceStatus(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error
}

// Outcome is what Sync did.
type Outcome struct {
	// Decision is the decision that was carried out.
	Decision Decision
	// Written: the status was written (it showed something else before).
	Written bool
	// Released are the locks Sync left after the status write.
	Released []netip.Addr
	// Stale: the status write lost its optimistic lock (another writer, or
	// a cache behind the apiserver). Nothing was released; reconcile again
	// after a backoff.
	Stale bool
}

// maxPasses bounds how often one Sync decides again after finding a lock
// taken; each pass learns one more taken address, so this is only reached
// when the index is far behind the apiserver (try again later).
const maxPasses = 8

// Sync carries out the allocation protocol for one Service as read
// (normally from the informer cache):
//
//  1. Decide;
//  2. write the locks the decision needs (create, confirm, join); a lock
//     found taken is learnt and the Service is decided again;
//  3. write the status, showing exactly the decision's addresses, under an
//     optimistic lock: a stale read can never overwrite a newer status;
//  4. only then leave the locks the status no longer shows (I1).
//
// A crash between any two steps leaves either a lock the Service's next
// reconcile reuses or a status the lock already backs.
func (u *Unit) Sync(ctx context.Context, st Store, svc *corev1.Service) (Outcome, error) {
	owner := OwnerOf(svc.Namespace, svc.Name)
	ref := seamarkv1alpha1.ServiceReference{Namespace: svc.Namespace, Name: svc.Name, UID: string(svc.UID)}
	key := config.AskOf(svc).SharingKey
	taken := map[netip.Addr]*seamarkv1alpha1.IPAllocation{}
	var d Decision
	for pass := 0; ; pass++ {
		if pass == maxPasses {
			return Outcome{}, fmt.Errorf("granting an address to Service %s: %d addresses in a row were taken by others; the index is behind the apiserver", owner, maxPasses)
		}
		d = u.Decide(svc, taken)
		again := false
		for _, t := range d.Targets {
			if t.Action == Keep {
				continue
			}
			obj, err := ensure(ctx, st, t, key, ref)
			var tk *TakenError
			if errors.As(err, &tk) {
				u.ObserveAllocation(tk.Allocation)
				u.Abandon(owner, t.Addr)
				taken[t.Addr] = tk.Allocation
				again = true
				break
			}
			if err != nil {
				u.abandonFresh(owner, d)
				if errors.Is(err, errStale) {
					return Outcome{Decision: d, Stale: true}, nil
				}
				return Outcome{}, err
			}
			u.ObserveAllocation(obj)
		}
		if !again {
			break
		}
	}

	out := Outcome{Decision: d}
	want := Ingress(d.Status(), svc)
	if !IngressEqual(want, svc.Status.LoadBalancer.Ingress) {
		err := st.PatchServiceStatus(ctx, svc, want)
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			out.Stale = true
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("writing the status of Service %s: %w", owner, err)
		}
		out.Written = true
	}
	if len(d.Release) == 0 {
		return out, nil
	}
	if !out.Written {
		// The status was already right as read; confirm that the apiserver
		// agrees before taking a lock away from what it shows.
		cur, err := st.GetService(ctx, svc.Namespace, svc.Name)
		if apierrors.IsNotFound(err) {
			return out, nil // SyncGone releases
		}
		if err != nil {
			return out, fmt.Errorf("reading Service %s: %w", owner, err)
		}
		if cur.UID != svc.UID || !IngressEqual(want, cur.Status.LoadBalancer.Ingress) {
			out.Stale = true
			return out, nil
		}
	}
	for _, a := range d.Release {
		obj, err := leave(ctx, st, a, ref, nil)
		if err != nil {
			return out, err
		}
		u.observeLeft(a, obj)
		out.Released = append(out.Released, a)
	}
	return out, nil
}

func (u *Unit) abandonFresh(owner string, d Decision) {
	for _, t := range d.Targets {
		if t.Action != Keep {
			u.Abandon(owner, t.Addr)
		}
	}
}

// observeLeft records the lock of addr after a leave: obj is what remains,
// nil when the lock was deleted or was gone already.
func (u *Unit) observeLeft(addr netip.Addr, obj *seamarkv1alpha1.IPAllocation) {
	if obj != nil {
		u.ObserveAllocation(obj)
		return
	}
	u.ForgetAllocation(&seamarkv1alpha1.IPAllocation{Spec: seamarkv1alpha1.IPAllocationSpec{Address: seamarkv1alpha1.IPAddress(addr.String())}})
}

// SyncGone releases the locks of a Service that the cache says is gone,
// each only after the apiserver confirms that no Service of that name and
// UID shows the address any more (I1). It returns the addresses released.
func (u *Unit) SyncGone(ctx context.Context, st Store, namespace, name string) ([]netip.Addr, error) {
	owner := OwnerOf(namespace, name)
	u.ForgetService(namespace, name)
	var released []netip.Addr
	for _, a := range u.locksOf(owner) {
		ok, err := u.LeaveIfGone(ctx, st, a, namespace, name)
		if err != nil {
			return released, err
		}
		if ok {
			released = append(released, a)
		}
	}
	return released, nil
}

// SyncNotOurs handles a Service that exists but is not (or no longer)
// seamark's to grant to, or is being deleted: its locks are left only
// when the apiserver shows it without their addresses (I1); a deleting
// Service keeps them until it is gone.
func (u *Unit) SyncNotOurs(ctx context.Context, st Store, svc *corev1.Service) ([]netip.Addr, error) {
	u.ObserveService(svc)
	if svc.DeletionTimestamp != nil {
		return nil, nil
	}
	return u.SyncGone(ctx, st, svc.Namespace, svc.Name)
}

// LeaveIfGone removes namespace/name from the lock of addr if the Service
// is gone, is another object under the same name (UID), or is not
// seamark's and does not show addr. It reports whether it was removed (or
// was not listed).
func (u *Unit) LeaveIfGone(ctx context.Context, st Store, addr netip.Addr, namespace, name string) (bool, error) {
	ref := seamarkv1alpha1.ServiceReference{Namespace: namespace, Name: name}
	gone := func(listed seamarkv1alpha1.ServiceReference) (bool, error) {
		svc, err := st.GetService(ctx, namespace, name)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading Service %s: %w", OwnerOf(namespace, name), err)
		}
		if string(svc.UID) != listed.UID {
			return true, nil
		}
		return !u.Handles(svc) && !slices.Contains(config.StatusAddresses(svc), addr), nil
	}
	obj, err := leave(ctx, st, addr, ref, gone)
	if errors.Is(err, errStillThere) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	u.observeLeft(addr, obj)
	return true, nil
}

// Repair removes from a lock the Services that are gone, re-created
// under the same name, or no longer seamark's and no longer showing its
// address; cached answers the common case (the Service is in the cache
// with the lock's UID and is seamark's) at no cost, everything else is
// confirmed by LeaveIfGone. It returns the owners removed.
func (u *Unit) Repair(ctx context.Context, st Store, ipa *seamarkv1alpha1.IPAllocation, cached func(namespace, name string) *corev1.Service) ([]string, error) {
	addr, err := netip.ParseAddr(string(ipa.Spec.Address))
	if err != nil {
		return nil, nil
	}
	var removed []string
	for _, ref := range ipa.Spec.Services {
		if svc := cached(ref.Namespace, ref.Name); svc != nil && string(svc.UID) == ref.UID && u.Handles(svc) {
			continue
		}
		ok, err := u.LeaveIfGone(ctx, st, addr, ref.Namespace, ref.Name)
		if err != nil {
			return removed, err
		}
		if ok {
			removed = append(removed, OwnerOf(ref.Namespace, ref.Name))
		}
	}
	return removed, nil
}

func (u *Unit) locksOf(owner string) []netip.Addr {
	u.mu.Lock()
	defer u.mu.Unlock()
	if o := u.owners[owner]; o != nil {
		return slices.Clone(o.locks)
	}
	return nil
}

// TakenError means the lock of an address exists and lists Services the
// requester may not join: the address is theirs.
type TakenError struct{ Allocation *seamarkv1alpha1.IPAllocation }

func (e *TakenError) Error() string {
	return fmt.Sprintf("address %s is held by %v", e.Allocation.Spec.Address, refNames(e.Allocation.Spec.Services))
}

var (
	errStillThere = errors.New("the Service still shows the address")
	// errStale: the Service as read is not the live one any more.
	errStale = errors.New("the Service was read from a stale cache")
)

const writeAttempts = 8

// ensure makes sure the lock of t.Addr exists and lists ref: it creates
// the lock when absent (Create tries that first, saving a read in the
// common case), fixes the UID of a Service re-created under the same name,
// joins a lock with the same non-empty sharing key, and otherwise returns
// a *TakenError. It returns the lock as written or read.
func ensure(ctx context.Context, st Store, t Target, key string, ref seamarkv1alpha1.ServiceReference) (*seamarkv1alpha1.IPAllocation, error) {
	name := seamarkv1alpha1.AllocationName(t.Addr)
	create := func() (*seamarkv1alpha1.IPAllocation, error) {
		if t.Pool == "" {
			return nil, fmt.Errorf("creating IPAllocation %s: the address lies outside every pool", name)
		}
		obj := &seamarkv1alpha1.IPAllocation{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				seamarkv1alpha1.LabelPool:   t.Pool,
				seamarkv1alpha1.LabelFamily: allocator.FamilyOf(t.Addr).String(),
			}},
			Spec: seamarkv1alpha1.IPAllocationSpec{
				Address: seamarkv1alpha1.IPAddress(t.Addr.String()), Pool: seamarkv1alpha1.ObjectName(t.Pool),
				SharingKey: key, Services: []seamarkv1alpha1.ServiceReference{ref},
			},
		}
		err := st.CreateAllocation(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("creating IPAllocation %s: %w", name, err)
		}
		return obj, nil
	}
	if t.Action == Create {
		if obj, err := create(); obj != nil || err != nil {
			return obj, err
		}
	}
	for range writeAttempts {
		obj, err := st.GetAllocation(ctx, name)
		if apierrors.IsNotFound(err) {
			obj, err := create()
			if obj != nil || err != nil {
				return obj, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading IPAllocation %s: %w", name, err)
		}
		i := slices.IndexFunc(obj.Spec.Services, func(s seamarkv1alpha1.ServiceReference) bool {
			return s.Namespace == ref.Namespace && s.Name == ref.Name
		})
		switch {
		case i >= 0 && obj.Spec.Services[i].UID == ref.UID:
			return obj, nil
		case i >= 0:
			// The Service was re-created under the same name and keeps the
			// address, if ref is the live one: a reconcile from a cache that
			// still holds the old Service must not take the lock back.
			cur, err := st.GetService(ctx, ref.Namespace, ref.Name)
			if apierrors.IsNotFound(err) || err == nil && string(cur.UID) != ref.UID {
				return nil, errStale
			}
			if err != nil {
				return nil, fmt.Errorf("reading Service %s: %w", OwnerOf(ref.Namespace, ref.Name), err)
			}
			obj.Spec.Services[i].UID = ref.UID
		case key != "" && obj.Spec.SharingKey == key:
			obj.Spec.Services = append(obj.Spec.Services, ref)
		default:
			return nil, &TakenError{Allocation: obj}
		}
		err = st.UpdateAllocation(ctx, obj)
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("updating IPAllocation %s: %w", name, err)
		}
		return obj, nil
	}
	return nil, fmt.Errorf("writing IPAllocation %s: still conflicting after %d attempts", name, writeAttempts)
}

// leave removes the Service ref names (by namespace and name) from the
// lock of addr and deletes the lock when no Service is left. With gone
// set, each attempt first asks it whether the listed Service may be
// removed, after reading the lock: a UID read before the check belongs to
// a Service confirmed absent, and the write's preconditions refuse a lock
// changed since. It returns the remaining lock, nil when deleted or gone.
func leave(ctx context.Context, st Store, addr netip.Addr, ref seamarkv1alpha1.ServiceReference,
	gone func(listed seamarkv1alpha1.ServiceReference) (bool, error)) (*seamarkv1alpha1.IPAllocation, error) {
	name := seamarkv1alpha1.AllocationName(addr)
	for range writeAttempts {
		obj, err := st.GetAllocation(ctx, name)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading IPAllocation %s: %w", name, err)
		}
		i := slices.IndexFunc(obj.Spec.Services, func(s seamarkv1alpha1.ServiceReference) bool {
			return s.Namespace == ref.Namespace && s.Name == ref.Name
		})
		if i < 0 {
			return obj, nil
		}
		if gone != nil {
			ok, err := gone(obj.Spec.Services[i])
			if err != nil {
				return nil, err
			}
			if !ok {
				return obj, errStillThere
			}
		}
		if len(obj.Spec.Services) == 1 {
			err = st.DeleteAllocation(ctx, obj)
			obj = nil
		} else {
			obj.Spec.Services = slices.Delete(slices.Clone(obj.Spec.Services), i, i+1)
			err = st.UpdateAllocation(ctx, obj)
		}
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("releasing IPAllocation %s: %w", name, err)
		}
		return obj, nil
	}
	return nil, fmt.Errorf("releasing IPAllocation %s: still conflicting after %d attempts", name, writeAttempts)
}

// Ingress is the status.loadBalancer.ingress for addrs: the primary
// family first, ipMode VIP (traffic to the address reaches the node with
// the address as destination, as kube-proxy expects for a bare-metal VIP).
func Ingress(addrs []netip.Addr, svc *corev1.Service) []corev1.LoadBalancerIngress {
	primaryV6 := len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	sorted := slices.Clone(addrs)
	slices.SortFunc(sorted, func(a, b netip.Addr) int {
		if a.Is4() != b.Is4() {
			if a.Is6() == primaryV6 {
				return -1
			}
			return 1
		}
		return a.Compare(b)
	})
	out := make([]corev1.LoadBalancerIngress, 0, len(sorted))
	vip := corev1.LoadBalancerIPModeVIP
	for _, a := range sorted {
		out = append(out, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
	}
	return out
}

// IngressEqual compares two ingress lists by address, host name and ipMode.
func IngressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		mx, my := "", ""
		if x.IPMode != nil {
			mx = string(*x.IPMode)
		}
		if y.IPMode != nil {
			my = string(*y.IPMode)
		}
		return x.IP == y.IP && x.Hostname == y.Hostname && mx == my && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}
