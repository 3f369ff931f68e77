package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// Names of the lab's Kubernetes objects.
const (
	// SeamarkNamespace is seamark's namespace (Secrets of BGP passwords).
	SeamarkNamespace = "seamark-system"
	// DemoNamespace holds the demo Services of `seamark-lab up`.
	DemoNamespace = "demo"
	// PoolName, PeerName and AdvertisementName are the lab's defaults.
	PoolName          = "lab"
	PeerName          = "router"
	AdvertisementName = "lab"
	// PoolCIDR is the default pool.
	PoolCIDR = "198.51.100.0/24"
)

// installBase installs the CRDs, seamark's and the demo namespace, and a
// Ready Node object with its pod CIDRs per lab node (there is no kubelet
// to write them, and no node IPAM controller: the lab's CIDRs are fixed).
func (l *Lab) installBase(ctx context.Context) error {
	rc, err := l.RestConfig()
	if err != nil {
		return err
	}
	if _, err := envtest.InstallCRDs(rc, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(l.Root, "charts", "seamark", "crds")}, ErrorIfPathMissing: true,
	}); err != nil {
		return fmt.Errorf("installing the CRDs: %w", err)
	}
	for _, ns := range []string{SeamarkNamespace, DemoNamespace} {
		if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	for _, n := range l.NodeList {
		if err := l.createNode(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) createNode(ctx context.Context, n Node) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
		"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux",
		"topology.kubernetes.io/zone": "lab",
	}}, Spec: corev1.NodeSpec{
		PodCIDR:  n.PodCIDR.String(),
		PodCIDRs: []string{n.PodCIDR.String(), n.PodCIDRV6.String()},
	}}
	if err := l.Client.Create(ctx, node); err != nil {
		return fmt.Errorf("creating Node %s: %w", n.Name, err)
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.Addr.String()},
			{Type: corev1.NodeInternalIP, Address: n.AddrV6.String()},
			{Type: corev1.NodeHostName, Address: n.Name},
		},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "LabNode",
			Message: "Set by seamark's lab (no kubelet)", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	if err := l.Client.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("writing the status of Node %s: %w", n.Name, err)
	}
	return nil
}

// StartController starts seamark-controller in the root namespace.
func (l *Lab) StartController() error { return l.StartControllerWith() }

// SpeakerProcess is the name under which node n's speaker is recorded.
func SpeakerProcess(n Node) string { return "speaker-" + n.Name }

// StartSpeaker starts seamark-speaker in n's namespace with extra flags.
func (l *Lab) StartSpeaker(n Node, extra []string) error {
	args := append([]string{filepath.Join(l.Bin, "seamark-speaker"),
		"--kubeconfig=" + l.Kubeconfig, "--namespace=" + SeamarkNamespace, "--node-name=" + n.Name,
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		// Gossip goes over the fabric, where the Node's InternalIP is.
		"--memberlist-bind-address=" + netip.AddrPortFrom(n.Addr, GossipPort).String(),
	}, extra...)
	_, err := l.startProcess(SpeakerProcess(n), n.Netns, args...)
	return err
}

// ApplyDefaults creates the lab's IPPool (PoolCIDR), BGPPeer (the router,
// short timers) and BGPAdvertisement (LoadBalancerIP from every pool), and
// the layer 2 pool with its L2Advertisement and gossip Secret (layer2.go).
func (l *Lab) ApplyDefaults(ctx context.Context) error {
	objs := []client.Object{
		&seamarkv1alpha1.IPPool{
			ObjectMeta: metav1.ObjectMeta{Name: PoolName},
			Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{PoolCIDR}},
		},
		l.Peer(PeerName, RouterFabricAddr),
		&seamarkv1alpha1.BGPAdvertisement{
			ObjectMeta: metav1.ObjectMeta{Name: AdvertisementName},
			Spec:       seamarkv1alpha1.BGPAdvertisementSpec{Addresses: []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressLoadBalancerIP}},
		},
	}
	objs = append(objs, layer2Defaults()...)
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// Peer is a BGPPeer for the lab router at addr with the lab's ASNs and short
// timers.
func (l *Lab) Peer(name string, addr netip.Addr) *seamarkv1alpha1.BGPPeer {
	d := func(t time.Duration) *metav1.Duration { return &metav1.Duration{Duration: t} }
	return &seamarkv1alpha1.BGPPeer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: seamarkv1alpha1.BGPPeerSpec{
			Address: seamarkv1alpha1.IPAddress(addr.String()), ASN: RouterASN, LocalASN: NodeASN,
			HoldTime: d(9 * time.Second), KeepaliveTime: d(3 * time.Second), ConnectRetryTime: d(time.Second),
		},
	}
}

// BackendPod names the backend pod of app on node n.
func BackendPod(app string, n Node) string { return app + "-" + n.Name }

// CreateBackends creates a backend pod of app (label app=<app>) on each of
// nodes in namespace ns, as a kubelet would run it: the pod's network
// namespace, veth and HTTP server (see pods.go), then its status Running
// and Ready with the pod's addresses.
func (l *Lab) CreateBackends(ctx context.Context, ns, app string, nodes []Node) error {
	for _, n := range nodes {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: BackendPod(app, n), Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{
				NodeName:                      n.Name,
				TerminationGracePeriodSeconds: new(int64),
				Containers: []corev1.Container{{
					Name: "web", Image: "seamark.io/lab-pod:none",
					Ports: []corev1.ContainerPort{{ContainerPort: PodPort, Protocol: corev1.ProtocolTCP}},
				}},
			},
		}
		if err := l.Client.Create(ctx, pod); err != nil {
			return fmt.Errorf("creating pod %s/%s: %w", ns, pod.Name, err)
		}
		if _, err := l.startPod(n, ns, pod.Name); err != nil {
			return fmt.Errorf("starting pod %s/%s: %w", ns, pod.Name, err)
		}
	}
	for _, n := range nodes {
		if err := l.waitPodServing(ns, BackendPod(app, n), 30*time.Second); err != nil {
			return err
		}
		if err := l.SetPodReady(ctx, ns, BackendPod(app, n), true); err != nil {
			return err
		}
	}
	return nil
}

// SetPodReady writes a backend pod's status: Running, with the addresses
// of its network namespace, Ready true or false. The EndpointSlice
// controller follows.
func (l *Lab) SetPodReady(ctx context.Context, ns, name string, ready bool) error {
	pod := &corev1.Pod{}
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return fmt.Errorf("getting pod %s/%s: %w", ns, name, err)
	}
	var node Node
	for _, n := range l.NodeList {
		if n.Name == pod.Spec.NodeName {
			node = n
		}
	}
	if node.Name == "" {
		return fmt.Errorf("pod %s/%s is on %q, not a lab node", ns, name, pod.Spec.NodeName)
	}
	rec, err := l.readPod(ns, name)
	if err != nil {
		return err
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	now := metav1.Now()
	if pod.Status.StartTime == nil {
		pod.Status.StartTime = &now
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.HostIP = node.Addr.String()
	pod.Status.HostIPs = []corev1.HostIP{{IP: node.Addr.String()}, {IP: node.AddrV6.String()}}
	pod.Status.PodIP = rec.Addr.String()
	pod.Status.PodIPs = []corev1.PodIP{{IP: rec.Addr.String()}, {IP: rec.AddrV6.String()}}
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: st, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: st, LastTransitionTime: now},
	}
	if err := l.Client.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("writing the status of pod %s/%s: %w", ns, name, err)
	}
	return nil
}

// ServiceOptions shape a LoadBalancer Service made by CreateService.
type ServiceOptions struct {
	// Local sets externalTrafficPolicy Local (default Cluster).
	Local bool
	// Annotations are added to the Service.
	Annotations map[string]string
	// IPv6 makes the Service single-stack IPv6.
	IPv6 bool
	// Labels are added to the Service.
	Labels map[string]string
	// ClusterIP makes a type ClusterIP Service instead.
	ClusterIP bool
	// InternalLocal sets internalTrafficPolicy Local (default Cluster).
	InternalLocal bool
}

// CreateService creates a LoadBalancer Service for app (selector app=<app>,
// port 80).
func (l *Lab) CreateService(ctx context.Context, ns, name, app string, o ServiceOptions) (*corev1.Service, error) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: o.Annotations, Labels: o.Labels},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": app},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(PodPort), Protocol: corev1.ProtocolTCP}},
		},
	}
	if o.ClusterIP {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if o.Local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	if o.IPv6 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	}
	if o.InternalLocal {
		p := corev1.ServiceInternalTrafficPolicyLocal
		svc.Spec.InternalTrafficPolicy = &p
	}
	if err := l.Client.Create(ctx, svc); err != nil {
		return nil, fmt.Errorf("creating Service %s/%s: %w", ns, name, err)
	}
	return svc, nil
}

// WaitIngress waits until Service ns/name shows an ingress address and
// returns the addresses.
func (l *Lab) WaitIngress(ctx context.Context, ns, name string, timeout time.Duration) ([]netip.Addr, error) {
	var addrs []netip.Addr
	err := waitFor(timeout, func() bool {
		svc := &corev1.Service{}
		if err := l.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			return false
		}
		addrs = IngressAddrs(svc)
		return len(addrs) > 0
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for Service %s/%s to get an address: %w", ns, name, err)
	}
	return addrs, nil
}

// IngressAddrs returns the addresses in a Service's status.
func IngressAddrs(svc *corev1.Service) []netip.Addr {
	var addrs []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// NodeByAddr returns the lab node with fabric address a.
func (l *Lab) NodeByAddr(a string) (Node, bool) {
	for _, n := range l.NodeList {
		if n.Addr.String() == a || n.AddrV6.String() == a {
			return n, true
		}
	}
	return Node{}, false
}
