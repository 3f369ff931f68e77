package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// errTaken means the IPAllocation of an address exists and lists other
// Services that the requester may not join: the address is theirs.
type errTaken struct{ obj *seamarkv1alpha1.IPAllocation }

func (e *errTaken) Error() string {
	names := make([]string, 0, len(e.obj.Spec.Services))
	for _, s := range e.obj.Spec.Services {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	return fmt.Sprintf("address %s is held by %v", e.obj.Spec.Address, names)
}

// allocationWriter creates, joins and leaves IPAllocation objects. It reads
// through the uncached API reader: deciding from a stale cache is what the
// lock objects exist to prevent.
type allocationWriter struct {
	client client.Client
	reader client.Reader
}

const writeAttempts = 8

// ensure makes sure the IPAllocation of addr exists and lists ref. It
// creates the object when absent (the lock: AlreadyExists means someone got
// there first), joins an object with the same non-empty sharing key, and
// otherwise returns *errTaken. A fresh grant tries the create first: the
// address is free as far as this controller knows, so that is one request
// instead of two in the common case.
func (w *allocationWriter) ensure(ctx context.Context, addr netip.Addr, pool, key string, ref seamarkv1alpha1.ServiceReference, fresh bool) error {
	name := seamarkv1alpha1.AllocationName(addr)
	create := func() (bool, error) {
		if pool == "" {
			return false, fmt.Errorf("creating IPAllocation %s: the address lies outside every pool", name)
		}
		obj := &seamarkv1alpha1.IPAllocation{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				seamarkv1alpha1.LabelPool:   pool,
				seamarkv1alpha1.LabelFamily: allocator.FamilyOf(addr).String(),
			}},
			Spec: seamarkv1alpha1.IPAllocationSpec{
				Address: seamarkv1alpha1.IPAddress(addr.String()), Pool: seamarkv1alpha1.ObjectName(pool),
				SharingKey: key, Services: []seamarkv1alpha1.ServiceReference{ref},
			},
		}
		err := w.client.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("creating IPAllocation %s: %w", name, err)
		}
		return true, nil
	}
	if fresh {
		if done, err := create(); done || err != nil {
			return err
		}
	}
	for range writeAttempts {
		obj := &seamarkv1alpha1.IPAllocation{}
		err := w.reader.Get(ctx, client.ObjectKey{Name: name}, obj)
		if apierrors.IsNotFound(err) {
			done, err := create()
			if done || err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reading IPAllocation %s: %w", name, err)
		}
		i := slices.IndexFunc(obj.Spec.Services, func(s seamarkv1alpha1.ServiceReference) bool {
			return s.Namespace == ref.Namespace && s.Name == ref.Name
		})
		switch {
		case i >= 0 && obj.Spec.Services[i].UID == ref.UID:
			return nil
		case i >= 0:
			// The Service was re-created under the same name and keeps the address.
			obj.Spec.Services[i].UID = ref.UID
		case key != "" && obj.Spec.SharingKey == key:
			obj.Spec.Services = append(obj.Spec.Services, ref)
		default:
			return &errTaken{obj: obj}
		}
		err = w.client.Update(ctx, obj)
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("updating IPAllocation %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("writing IPAllocation %s: still conflicting after %d attempts", name, writeAttempts)
}

// leave removes the Service namespace/name from the IPAllocation of addr
// and deletes the object when no Service is left.
func (w *allocationWriter) leave(ctx context.Context, addr netip.Addr, namespace, name string) error {
	objName := seamarkv1alpha1.AllocationName(addr)
	for range writeAttempts {
		obj := &seamarkv1alpha1.IPAllocation{}
		err := w.reader.Get(ctx, client.ObjectKey{Name: objName}, obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading IPAllocation %s: %w", objName, err)
		}
		rest := slices.DeleteFunc(slices.Clone(obj.Spec.Services), func(s seamarkv1alpha1.ServiceReference) bool {
			return s.Namespace == namespace && s.Name == name
		})
		if len(rest) == len(obj.Spec.Services) {
			return nil
		}
		if len(rest) == 0 {
			err = w.client.Delete(ctx, obj, client.Preconditions{UID: &obj.UID, ResourceVersion: &obj.ResourceVersion})
		} else {
			obj.Spec.Services = rest
			err = w.client.Update(ctx, obj)
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("releasing IPAllocation %s: %w", objName, err)
		}
		return nil
	}
	return fmt.Errorf("releasing IPAllocation %s: still conflicting after %d attempts", objName, writeAttempts)
}

func isTaken(err error) (*seamarkv1alpha1.IPAllocation, bool) {
	var t *errTaken
	if errors.As(err, &t) {
		return t.obj, true
	}
	return nil, false
}
