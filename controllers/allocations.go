package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers/internal/grants"
)

// apiStore is the grants.Store of a manager: writes through its client,
// reads through the uncached API reader (deciding from a stale cache is
// what the locks exist to prevent).
type apiStore struct {
	client client.Client
	reader client.Reader
}

var _ grants.Store = apiStore{}

func (s apiStore) CreateAllocation(ctx context.Context, ipa *seamarkv1alpha1.IPAllocation) error {
	return s.client.Create(ctx, ipa)
}

func (s apiStore) GetAllocation(ctx context.Context, name string) (*seamarkv1alpha1.IPAllocation, error) {
	obj := &seamarkv1alpha1.IPAllocation{}
	if err := s.reader.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s apiStore) UpdateAllocation(ctx context.Context, ipa *seamarkv1alpha1.IPAllocation) error {
	return s.client.Update(ctx, ipa)
}

func (s apiStore) DeleteAllocation(ctx context.Context, ipa *seamarkv1alpha1.IPAllocation) error {
	return s.client.Delete(ctx, ipa, client.Preconditions{UID: &ipa.UID, ResourceVersion: &ipa.ResourceVersion})
}

func (s apiStore) GetService(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	obj := &corev1.Service{}
	if err := s.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s apiStore) PatchServiceStatus(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	before := svc.DeepCopy()
	after := svc.DeepCopy()
	after.Status.LoadBalancer.Ingress = ingress
	return s.client.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}
