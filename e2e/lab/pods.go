package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A lab pod stands in for what a kubelet, a container runtime and a CNI
// plugin make of a pod: a network namespace of its own, a veth to its node
// (eth0 inside, p<hash> in the node), an address of each family from the
// node's pod CIDRs with a host route to it in the node, and one process: an
// HTTP server (`seamark-lab pod`) that answers with the pod's name, its
// node's name and the client address it saw. Its addresses are kept in
// pods/<namespace>.<name>.json in the state directory.

// PodPort is the port the pods serve HTTP on (the Services' targetPort).
const PodPort = 80

// podRecord is what the lab keeps of a pod it created.
type podRecord struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Node      string     `json:"node"`
	Netns     string     `json:"netns"`
	Veth      string     `json:"veth"`
	Addr      netip.Addr `json:"addr"`
	AddrV6    netip.Addr `json:"addrV6"`
}

func podKey(ns, name string) string { return ns + "." + name }

// PodNetns is the network namespace of pod ns/name.
func PodNetns(ns, name string) string { return Prefix + "pod-" + podKey(ns, name) }

// PodProcess is the name under which pod ns/name's server is recorded.
func PodProcess(ns, name string) string { return "pod-" + podKey(ns, name) }

func (l *Lab) podFile(ns, name string) string { return l.path("pods", podKey(ns, name)+".json") }

func (l *Lab) readPod(ns, name string) (podRecord, error) {
	var r podRecord
	b, err := os.ReadFile(l.podFile(ns, name))
	if err != nil {
		return r, fmt.Errorf("pod %s/%s has no network namespace of the lab: %w", ns, name, err)
	}
	return r, json.Unmarshal(b, &r)
}

// podRecords lists the pods the lab created.
func (l *Lab) podRecords() ([]podRecord, error) {
	entries, err := os.ReadDir(l.path("pods"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []podRecord
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(l.path("pods", e.Name()))
		if err != nil {
			return nil, err
		}
		var r podRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("reading %s: %w", e.Name(), err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// allocatePodAddrs picks the lowest host index from 2 that no pod of node n
// uses, and returns that host in each of n's pod CIDRs.
func (l *Lab) allocatePodAddrs(n Node) (netip.Addr, netip.Addr, error) {
	recs, err := l.podRecords()
	if err != nil {
		return netip.Addr{}, netip.Addr{}, err
	}
	used := map[netip.Addr]bool{}
	for _, r := range recs {
		used[r.Addr] = true
	}
	a := n.PodCIDR.Addr().Next() // .1 stays free, as a gateway would take it
	for i := 2; i < 255; i++ {
		a = a.Next()
		if !used[a] {
			b := a.As4()
			v6 := n.PodCIDRV6.Addr().As16()
			v6[15] = b[3]
			return a, netip.AddrFrom16(v6), nil
		}
	}
	return netip.Addr{}, netip.Addr{}, fmt.Errorf("node %s has no free address left in %s", n.Name, n.PodCIDR)
}

// vethName is the node's end of pod ns/name's veth: at most 15 bytes.
func vethName(ns, name string) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, ns+"/"+name)
	return fmt.Sprintf("p%08x", h.Sum32())
}

// startPod creates pod ns/name's namespace, veth, addresses and routes on
// node n and starts its HTTP server; it does not wait for the server (see
// waitPodServing).
func (l *Lab) startPod(n Node, ns, name string) (podRecord, error) {
	if _, err := os.Stat(l.podFile(ns, name)); err == nil {
		return podRecord{}, fmt.Errorf("pod %s/%s already has a network namespace", ns, name)
	}
	v4, v6, err := l.allocatePodAddrs(n)
	if err != nil {
		return podRecord{}, err
	}
	r := podRecord{Namespace: ns, Name: name, Node: n.Name, Netns: PodNetns(ns, name), Veth: vethName(ns, name), Addr: v4, AddrV6: v6}
	if err := os.MkdirAll(l.path("pods"), 0o755); err != nil {
		return r, err
	}
	// Recorded first: whatever of it exists is found and removed.
	b, _ := json.Marshal(r)
	if err := os.WriteFile(l.podFile(ns, name), b, 0o644); err != nil {
		return r, err
	}
	if err := ipCmd("netns", "add", r.Netns); err != nil {
		return r, err
	}
	// No duplicate address detection: eth0's addresses are usable at once.
	if _, err := NetnsExec(r.Netns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"); err != nil {
		return r, err
	}
	// The node's end carries the node's fabric addresses (as a CNI's
	// host-side veth carries its gateway address) and fe80::1, the pod's
	// IPv6 gateway: masquerading picks the out link's address, so a
	// request kube-proxy masquerades shows the pod the node's fabric
	// address whether the pod is on this node or another.
	if err := ipBatch(n.Netns, []string{
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", r.Veth, r.Netns),
		fmt.Sprintf("addr add %s/32 dev %s", n.Addr, r.Veth),
		fmt.Sprintf("addr add %s/128 dev %s nodad", n.AddrV6, r.Veth),
		fmt.Sprintf("addr add fe80::1/64 dev %s nodad", r.Veth),
		fmt.Sprintf("link set %s up", r.Veth),
		fmt.Sprintf("route add %s/32 dev %s src %s", r.Addr, r.Veth, n.Addr),
		fmt.Sprintf("route add %s/128 dev %s src %s", r.AddrV6, r.Veth, n.AddrV6),
	}); err != nil {
		return r, err
	}
	// The pod's end: its addresses as host addresses, everything through
	// the node (the node's fabric address is on-link through the veth).
	if err := ipBatch(r.Netns, []string{
		"link set lo up",
		fmt.Sprintf("addr add %s/32 dev eth0", r.Addr),
		fmt.Sprintf("addr add %s/128 dev eth0 nodad", r.AddrV6),
		"link set eth0 up",
		fmt.Sprintf("route add default via %s dev eth0 onlink", n.Addr),
		"route add default via fe80::1 dev eth0",
	}); err != nil {
		return r, err
	}
	_ = os.Remove(l.podReadyFile(ns, name))
	_, err = l.startProcess(PodProcess(ns, name), r.Netns, filepath.Join(l.Bin, "seamark-lab"), "pod",
		"--name="+ns+"/"+name, "--node-name="+n.Name, fmt.Sprintf("--port=%d", PodPort), "--ready-file="+l.podReadyFile(ns, name))
	return r, err
}

func (l *Lab) podReadyFile(ns, name string) string {
	return l.path("pods", podKey(ns, name)+".serving")
}

// waitPodServing waits until pod ns/name's server listens.
func (l *Lab) waitPodServing(ns, name string, timeout time.Duration) error {
	err := waitFor(timeout, func() bool {
		_, err := os.Stat(l.podReadyFile(ns, name))
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("waiting for pod %s/%s to serve (log %s): %w", ns, name, l.LogPath(PodProcess(ns, name)), err)
	}
	return nil
}

// Reply is what a lab pod answers: who it is and whom it saw.
type Reply struct {
	// Pod is the pod's namespace/name, Node its node.
	Pod, Node string
	// Client is the source address of the request as the pod saw it (no
	// port): the client's own under externalTrafficPolicy Local, a node's
	// when kube-proxy masqueraded the request.
	Client string
}

// String is the reply's body (one line) and its key in FetchResult.
func (r Reply) String() string {
	return fmt.Sprintf("pod=%s node=%s client=%s", r.Pod, r.Node, r.Client)
}

// ParseReply parses a pod's answer.
func ParseReply(s string) (Reply, error) {
	var r Reply
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pod":
			r.Pod = v
		case "node":
			r.Node = v
		case "client":
			r.Client = v
		}
	}
	if r.Pod == "" || r.Node == "" || r.Client == "" {
		return r, fmt.Errorf("not a lab pod's answer: %q", s)
	}
	return r, nil
}

// ServePod is a lab pod's process: it answers every HTTP request on port
// with a Reply, and creates readyFile once it listens.
func ServePod(ctx context.Context, pod, node string, port int, readyFile string) error {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			client := req.RemoteAddr
			if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
				client = ap.Addr().Unmap().String()
			}
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, Reply{Pod: pod, Node: node, Client: client}.String()+"\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	if readyFile != "" {
		if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
			return err
		}
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
