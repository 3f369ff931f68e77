package config

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// meta is the metadata of an object created age seconds after epoch.
func meta(name string, age int, lbls map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: lbls, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Second))}
}

func pool(name string, age int, cidrs ...string) seamarkv1alpha1.IPPool {
	p := seamarkv1alpha1.IPPool{ObjectMeta: meta(name, age, nil)}
	for _, c := range cidrs {
		p.Spec.CIDRs = append(p.Spec.CIDRs, seamarkv1alpha1.CIDROrRange(c))
	}
	return p
}

func withPool(p seamarkv1alpha1.IPPool, f func(*seamarkv1alpha1.IPPool)) seamarkv1alpha1.IPPool {
	f(&p)
	return p
}

func peer(name string, age int, addr string, asn, local int64) seamarkv1alpha1.BGPPeer {
	return seamarkv1alpha1.BGPPeer{ObjectMeta: meta(name, age, nil), Spec: seamarkv1alpha1.BGPPeerSpec{
		Address: seamarkv1alpha1.IPAddress(addr), ASN: seamarkv1alpha1.ASN(asn), LocalASN: seamarkv1alpha1.ASN(local),
	}}
}

func withPeer(p seamarkv1alpha1.BGPPeer, f func(*seamarkv1alpha1.BGPPeerSpec)) seamarkv1alpha1.BGPPeer {
	f(&p.Spec)
	return p
}

func bgpAdv(name string, f func(*seamarkv1alpha1.BGPAdvertisementSpec)) seamarkv1alpha1.BGPAdvertisement {
	a := seamarkv1alpha1.BGPAdvertisement{ObjectMeta: meta(name, 0, nil)}
	if f != nil {
		f(&a.Spec)
	}
	return a
}

func secret(name string, data map[string]string) corev1.Secret {
	s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "seamark-system"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func namespace(name string, lbls map[string]string) corev1.Namespace {
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
}

func service(ns, name string, lbls, ann map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, Annotations: ann},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
}

func serviceCIDR(name string, ready bool, cidrs ...string) networkingv1.ServiceCIDR {
	status := metav1.ConditionFalse
	if ready {
		status = metav1.ConditionTrue
	}
	return networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: cidrs},
		Status: networkingv1.ServiceCIDRStatus{Conditions: []metav1.Condition{{Type: networkingv1.ServiceCIDRConditionReady, Status: status}}}}
}

func ptr[T any](v T) *T { return &v }

func sel(m map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: m} }
