// Command kubectl-seamark is a kubectl plugin (kubectl seamark ...) that
// says whether, where and why not seamark announces a Service, from the
// cluster's objects and the same planning the speakers and the controller
// run (package plan). It only reads. docs/status.md describes its output.
//
//	kubectl seamark explain svc NAMESPACE/NAME
//	kubectl seamark status
//
// It finds the cluster as kubectl does: --kubeconfig, else $KUBECONFIG,
// else ~/.kube/config, else the in-cluster service account.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/internal/version"
)

const usage = `kubectl seamark: is my Service announced, where, and why not.

Usage:
  kubectl seamark explain svc NAMESPACE/NAME   addresses, pool, IPAllocation and, per node, how the address is announced or why not
  kubectl seamark status                       speakers, BGP sessions and pools at a glance
  kubectl seamark version

Flags:
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kubectl-seamark", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).")
	kubecontext := fs.String("context", "", "The kubeconfig context to use.")
	namespace := fs.String("seamark-namespace", "seamark-system", "Namespace of seamark (the Secrets of BGP passwords).")
	defaultClass := fs.Bool("default-class", true, "Services without spec.loadBalancerClass are seamark's (the controller's --default-class).")
	fs.Usage = func() { fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	if rest[0] == "version" {
		_, err := fmt.Fprintln(stdout, version.Get().String())
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch rest[0] {
	case "explain":
		if len(rest) != 3 || (rest[1] != "svc" && rest[1] != "service" && rest[1] != "services") || !strings.Contains(rest[2], "/") {
			return errors.New("usage: kubectl seamark explain svc NAMESPACE/NAME")
		}
		ns, name, _ := strings.Cut(rest[2], "/")
		c, err := newClient(*kubeconfig, *kubecontext)
		if err != nil {
			return err
		}
		svc := &corev1.Service{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			return fmt.Errorf("reading Service %s/%s: %w", ns, name, err)
		}
		s, err := read(ctx, c, *namespace, *defaultClass, stderr)
		if err != nil {
			return err
		}
		var eps discoveryv1.EndpointSliceList
		if err := c.List(ctx, &eps, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
			return fmt.Errorf("listing the EndpointSlices of %s/%s: %w", ns, name, err)
		}
		return writeExplain(stdout, s, svc, eps.Items)
	case "status":
		c, err := newClient(*kubeconfig, *kubecontext)
		if err != nil {
			return err
		}
		s, err := read(ctx, c, *namespace, *defaultClass, stderr)
		if err != nil {
			return err
		}
		return writeStatus(stdout, s, time.Now())
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", rest[0])
}

// newClient connects as kubectl does.
func newClient(kubeconfig, kubecontext string) (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubecontext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("finding the cluster (kubeconfig or in-cluster): %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := seamarkv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// read lists the planning's inputs and the reports. Without the right to
// read Secrets, BGPPeers with a password are taken as the controller takes
// them once their Secret exists (a note says so).
func read(ctx context.Context, c client.Reader, namespace string, defaultClass bool, stderr io.Writer) (*snapshot, error) {
	var (
		pools    seamarkv1alpha1.IPPoolList
		peers    seamarkv1alpha1.BGPPeerList
		bgpAds   seamarkv1alpha1.BGPAdvertisementList
		l2Ads    seamarkv1alpha1.L2AdvertisementList
		nss      corev1.NamespaceList
		cidrs    networkingv1.ServiceCIDRList
		nodes    corev1.NodeList
		speakers seamarkv1alpha1.SpeakerStatusList
		allocs   seamarkv1alpha1.IPAllocationList
		secrets  corev1.SecretList
	)
	for _, l := range []client.ObjectList{&pools, &peers, &bgpAds, &l2Ads, &nss, &cidrs, &nodes, &speakers, &allocs} {
		if err := c.List(ctx, l); err != nil {
			return nil, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	if err := c.List(ctx, &secrets, client.InNamespace(namespace)); err != nil {
		if !apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("listing the Secrets of %s: %w", namespace, err)
		}
		fprintf(stderr, "note: cannot read the Secrets of %s; BGPPeers with a password are taken as valid\n", namespace)
		secrets.Items = assumedSecrets(peers.Items, namespace)
	}
	cfg, _ := config.Build(config.Resources{Pools: pools.Items, Peers: peers.Items, BGPAdvertisements: bgpAds.Items,
		L2Advertisements: l2Ads.Items, Namespaces: nss.Items, Secrets: secrets.Items, ServiceCIDRs: cidrs.Items})
	return &snapshot{Config: cfg, DefaultClass: defaultClass, Nodes: nodes.Items, Speakers: speakers.Items, Pools: pools.Items, Allocations: allocs.Items}, nil
}

// assumedSecrets stands in for the password Secrets the plugin may not
// read: they exist and hold the key (the password is not planned on).
func assumedSecrets(peers []seamarkv1alpha1.BGPPeer, namespace string) []corev1.Secret {
	var out []corev1.Secret
	for _, p := range peers {
		if r := p.Spec.PasswordSecretRef; r != nil {
			s := corev1.Secret{Data: map[string][]byte{r.Key: []byte("unread")}}
			s.Namespace, s.Name = namespace, string(r.Name)
			out = append(out, s)
		}
	}
	return out
}
