package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ServiceClusterIPRange is the lab apiserver's Service range: dual-stack,
// from the benchmarking and documentation ranges (e2e/README.md, "Addresses").
const ServiceClusterIPRange = "198.19.0.0/16,2001:db8:19::/112"

// kcmControllers are the only controllers kube-controller-manager runs:
// EndpointSlices must come from the real controller, and added ServiceCIDRs
// must become Ready (service-cidr-controller); nothing schedules or evicts
// pods behind the lab's back.
const kcmControllers = "endpointslice,endpointslicemirroring,garbagecollector,namespace,serviceaccount-token,service-cidr-controller"

// pki holds the files of the lab's throwaway certificate authority.
type pki struct {
	CA, ServingCert, ServingKey, AdminCert, AdminKey, SAKey, SAPub string
	// KubeProxyCert and KubeProxyKey are the client certificate of the
	// built-in user system:kube-proxy (bound to ClusterRole
	// system:node-proxier by the apiserver's default RBAC).
	KubeProxyCert, KubeProxyKey string
}

func (l *Lab) pki() pki {
	p := func(n string) string { return l.path("pki", n) }
	return pki{
		CA: p("ca.crt"), ServingCert: p("apiserver.crt"), ServingKey: p("apiserver.key"),
		AdminCert: p("admin.crt"), AdminKey: p("admin.key"), SAKey: p("sa.key"), SAPub: p("sa.pub"),
		KubeProxyCert: p("kube-proxy.crt"), KubeProxyKey: p("kube-proxy.key"),
	}
}

// writePKI creates a CA, the apiserver's serving certificate, client
// certificates for an admin (group system:masters) and for kube-proxy, and
// the service-account key.
func writePKI(p pki) error {
	if err := os.MkdirAll(filepath.Dir(p.CA), 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seamark-lab-ca"},
		NotBefore: now, NotAfter: now.Add(10 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writePEM(p.CA, "CERTIFICATE", caDER); err != nil {
		return err
	}
	leaf := func(certFile, keyFile string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.NotBefore, tmpl.NotAfter = now, now.Add(10*24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(keyFile, "EC PRIVATE KEY", kb)
	}
	if err := leaf(p.ServingCert, p.ServingKey, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP(APIServerAddr.String()), net.ParseIP("127.0.0.1"), net.ParseIP("198.19.0.1")},
	}); err != nil {
		return err
	}
	if err := leaf(p.AdminCert, p.AdminKey, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "seamark-lab-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	if err := leaf(p.KubeProxyCert, p.KubeProxyKey, &x509.Certificate{
		SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "system:kube-proxy"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writePEM(p.SAKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	return writePEM(p.SAPub, "PUBLIC KEY", pub)
}

func writePEM(file, typ string, der []byte) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// writeKubeconfig writes a kubeconfig for the user with the client
// certificate cert and key: the apiserver over the management bridge.
func writeKubeconfig(file, user, cert, key string, p pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://%s:6443", APIServerAddr), CertificateAuthority: p.CA}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: user}
	cfg.CurrentContext = "lab"
	return clientcmd.WriteToFile(*cfg, file)
}

// startControlPlane starts etcd, kube-apiserver and kube-controller-manager
// in the sm-cp namespace and waits until the apiserver is ready.
func (l *Lab) startControlPlane(ctx context.Context) error {
	p := l.pki()
	if err := writePKI(p); err != nil {
		return fmt.Errorf("creating the lab's certificates: %w", err)
	}
	// The admin kubeconfig is what seamark and the lab use.
	if err := writeKubeconfig(l.Kubeconfig, "admin", p.AdminCert, p.AdminKey, p); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	if err := writeKubeconfig(l.kubeProxyKubeconfig(), "system:kube-proxy", p.KubeProxyCert, p.KubeProxyKey, p); err != nil {
		return fmt.Errorf("writing kube-proxy's kubeconfig: %w", err)
	}
	bin := func(n string) string { return filepath.Join(l.K8sBin, n) }
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy"} {
		if _, err := os.Stat(bin(b)); err != nil {
			return fmt.Errorf("finding %s: %w (run `make testbin`)", bin(b), err)
		}
	}
	if err := l.StartEtcd(); err != nil {
		return err
	}
	if err := l.StartAPIServer(ctx); err != nil {
		return err
	}
	if _, err := l.startProcess("kube-controller-manager", NetnsCP, bin("kube-controller-manager"),
		"--kubeconfig="+l.Kubeconfig,
		"--controllers="+kcmControllers,
		"--service-account-private-key-file="+p.SAKey, "--root-ca-file="+p.CA,
		"--leader-elect=false", "--secure-port=0",
		// EndpointSlice updates are batched for up to this long; the lab
		// wants them at once.
		"--endpointslice-updates-batch-period=0s",
	); err != nil {
		return err
	}
	return nil
}

// StartEtcd starts etcd in the sm-cp namespace on its data directory
// (again, after StopProcess("etcd"): the data survives).
func (l *Lab) StartEtcd() error {
	_, err := l.startProcess("etcd", NetnsCP, filepath.Join(l.K8sBin, "etcd"),
		"--data-dir="+l.path("etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=default=http://127.0.0.1:2380",
		// The lab's data is thrown away; fsync only slows the shared CPUs.
		"--unsafe-no-fsync", "--log-level=warn",
	)
	return err
}

// StartAPIServer starts kube-apiserver in the sm-cp namespace and waits
// until it is ready (etcd must run).
func (l *Lab) StartAPIServer(ctx context.Context) error {
	p := l.pki()
	if _, err := l.startProcess("kube-apiserver", NetnsCP, filepath.Join(l.K8sBin, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--advertise-address="+APIServerAddr.String(), "--secure-port=6443",
		"--tls-cert-file="+p.ServingCert, "--tls-private-key-file="+p.ServingKey,
		"--client-ca-file="+p.CA,
		"--service-account-issuer=https://"+APIServerAddr.String()+":6443",
		"--service-account-key-file="+p.SAPub, "--service-account-signing-key-file="+p.SAKey,
		"--service-cluster-ip-range="+ServiceClusterIPRange,
		"--authorization-mode=RBAC",
		// No serviceaccount controller creates "default" accounts; the lab's
		// pods never run, so they need none.
		"--disable-admission-plugins=ServiceAccount",
		"--cert-dir="+l.path("pki", "apiserver"),
	); err != nil {
		return err
	}
	rc, err := l.RestConfig()
	if err != nil {
		return err
	}
	if err := waitAPIServer(ctx, rc); err != nil {
		return fmt.Errorf("waiting for kube-apiserver (log: %s): %w", l.LogPath("kube-apiserver"), err)
	}
	return nil
}

// RestConfig reads the lab's kubeconfig.
func (l *Lab) RestConfig() (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading the lab kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 200, 400
	return rc, nil
}

func waitAPIServer(ctx context.Context, rc *rest.Config) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		_, last = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
