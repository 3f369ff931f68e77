// Command seamark-lab runs seamark's lab on this machine (e2e/README.md): a real
// control plane, seamark, FRR and clients in network namespaces.
//
//	seamark-lab up [--nodes=3]   start the lab, create demo Services, print where they are routed
//	seamark-lab status           print the table again for every LoadBalancer Service
//	seamark-lab down             stop and remove everything the lab created
//
// Hidden subcommands run inside the lab's namespaces: `pod` (a backend
// pod's HTTP server, answering with its pod, node and the client address it
// saw), `fetch` (an HTTP client that counts the pods' replies) and
// `announce` (a hand-made BGP speaker the e2e suite uses to announce a
// prefix from a node seamark would not announce it from) and `hostile` (a
// router that floods a node with routes or sends it malformed UPDATEs).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/seamark-io/seamark/e2e/lab"
)

const usage = `Usage: seamark-lab <command> [flags]

Commands:
  up      Start the lab (tearing down any previous one), create demo Services
          and print where they are announced, routed and answered.
  status  Print the table for every LoadBalancer Service of the running lab.
  down    Stop every lab process and remove its namespaces, links and state.
`

func main() {
	if len(os.Args) < 2 {
		_, _ = fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "up":
		err = up(ctx, args)
	case "down":
		err = down(args)
	case "status":
		err = status(ctx, args)
	case "pod":
		err = pod(ctx, args)
	case "announce":
		err = announce(ctx, args)
	case "fetch":
		err = fetch(ctx, args)
	case "hostile":
		err = hostile(ctx, args)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		_, _ = fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "seamark-lab:", err)
		os.Exit(1)
	}
}

func commonFlags(name string) (*flag.FlagSet, *lab.Options) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	o := &lab.Options{}
	fs.StringVar(&o.StateDir, "state-dir", "", "State directory of the lab (default <repo>/e2e/.state).")
	return fs, o
}

func up(ctx context.Context, args []string) error {
	fs, o := commonFlags("up")
	fs.IntVar(&o.Nodes, "nodes", 3, "Number of nodes.")
	routers := fs.Int("routers", 1, "Number of routers (only 1 for now).")
	requests := fs.Int("requests", 30, "Requests sent from sm-client to each Service address.")
	_ = fs.Parse(args)
	if *routers != 1 {
		return fmt.Errorf("--routers=%d: the lab runs one router for now", *routers)
	}
	o.Progress = os.Stdout
	l, err := lab.Up(ctx, *o)
	if err != nil {
		return err
	}
	if err := l.ApplyDefaults(ctx); err != nil {
		return err
	}
	// web: externalTrafficPolicy Cluster, a backend on every node (ECMP over
	// all of them). web-local: Local, one backend on the first node.
	if err := l.CreateBackends(ctx, lab.DemoNamespace, "web", l.NodeList); err != nil {
		return err
	}
	if err := l.CreateBackends(ctx, lab.DemoNamespace, "web-local", l.NodeList[:1]); err != nil {
		return err
	}
	demos := []struct {
		name  string
		local bool
		hops  int
	}{{"web", false, len(l.NodeList)}, {"web-local", true, 1}}
	var rows []lab.Row
	for _, d := range demos {
		if _, err := l.CreateService(ctx, lab.DemoNamespace, d.name, d.name, lab.ServiceOptions{Local: d.local}); err != nil {
			return err
		}
	}
	for _, d := range demos {
		addrs, err := l.WaitIngress(ctx, lab.DemoNamespace, d.name, time.Minute)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			// Wait for the route to converge before sending traffic.
			_ = waitHops(l, a, d.hops, time.Minute)
			r, err := l.Observe(lab.DemoNamespace+"/"+d.name, a, *requests)
			if err != nil {
				return err
			}
			rows = append(rows, r)
		}
	}
	fmt.Println()
	lab.PrintTable(os.Stdout, rows, *requests)
	rules := "nft list ruleset"
	if l.KubeProxyMode == "iptables" {
		rules = "iptables-save"
	}
	fmt.Printf("\nThe lab is up. kubeconfig: %s\n  KUBECONFIG=%s kubectl get svc -A   (if you have kubectl)\n  vtysh --vty_socket %s/frr/%s -c 'show bgp summary'\n  ip -n %s route\n  ip netns exec %s %s   (kube-proxy's rules on %s)\n  %s status | %s down\n",
		l.Kubeconfig, l.Kubeconfig, l.StateDir, lab.NetnsRouter, lab.NetnsRouter, l.NodeList[0].Netns, rules, l.NodeList[0].Name, os.Args[0], os.Args[0])
	return nil
}

func waitHops(l *lab.Lab, a netip.Addr, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if hops, err := l.KernelNextHops(netip.PrefixFrom(a, a.BitLen()).String()); err == nil && len(hops) == n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("timed out")
}

func down(args []string) error {
	fs, o := commonFlags("down")
	_ = fs.Parse(args)
	if err := lab.Down(*o); err != nil {
		return err
	}
	if left := lab.Leftovers(*o); len(left) > 0 {
		return fmt.Errorf("left over after teardown: %v", left)
	}
	fmt.Println("The lab is down.")
	return nil
}

func status(ctx context.Context, args []string) error {
	fs, o := commonFlags("status")
	requests := fs.Int("requests", 30, "Requests sent from sm-client to each Service address.")
	_ = fs.Parse(args)
	l, err := lab.Attach(*o)
	if err != nil {
		return err
	}
	var svcs corev1.ServiceList
	if err := l.Client.List(ctx, &svcs); err != nil {
		return err
	}
	var rows []lab.Row
	for _, s := range svcs.Items {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		addrs := lab.IngressAddrs(&s)
		if len(addrs) == 0 {
			rows = append(rows, lab.Row{Service: s.Namespace + "/" + s.Name})
		}
		for _, a := range addrs {
			r, err := l.Observe(s.Namespace+"/"+s.Name, a, *requests)
			if err != nil {
				return err
			}
			rows = append(rows, r)
		}
	}
	sessions, err := l.SessionStates()
	if err != nil {
		return err
	}
	var peers []string
	for p := range sessions {
		peers = append(peers, p)
	}
	sort.Strings(peers)
	fmt.Println("BGP sessions at", lab.NetnsRouter+":")
	for _, p := range peers {
		fmt.Printf("  %-20s %s\n", p, sessions[p])
	}
	fmt.Println()
	lab.PrintTable(os.Stdout, rows, *requests)
	return nil
}

// pod runs a lab pod's HTTP server (in the pod's namespace).
func pod(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pod", flag.ExitOnError)
	name := fs.String("name", "", "The pod's namespace/name.")
	node := fs.String("node-name", "", "The pod's node.")
	port := fs.Int("port", lab.PodPort, "Port to serve HTTP on.")
	ready := fs.String("ready-file", "", "File created once the server listens.")
	_ = fs.Parse(args)
	if *name == "" || *node == "" {
		return errors.New("--name and --node-name are required")
	}
	return lab.ServePod(ctx, *name, *node, *port, *ready)
}

// announce runs a BGP session from --source to --router and announces
// --prefix on it until SIGTERM (in a node's namespace).
func announce(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("announce", flag.ExitOnError)
	router := fs.String("router", lab.RouterFabricAddr.String(), "Router address.")
	source := fs.String("source", "", "Local address of the session (the path's next hop).")
	prefix := fs.String("prefix", "", "Prefix to announce.")
	_ = fs.Parse(args)
	log := zap.New()
	return lab.Announce(ctx, log, *router, *source, *prefix)
}

// hostile runs a misbehaving router for one node until SIGTERM (in the
// router's namespace; e2e/lab/hostile.go).
func hostile(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hostile", flag.ExitOnError)
	mode := fs.String("mode", lab.HostileFlood, "flood: send --routes routes; malformed: send a malformed UPDATE on every session.")
	listen := fs.String("listen", "", "Address and port to accept the node's session on.")
	peer := fs.String("peer", "", "The node's address.")
	routes := fs.Int("routes", 100000, "Routes a flood sends.")
	_ = fs.Parse(args)
	ln, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	p, err := netip.ParseAddr(*peer)
	if err != nil {
		return fmt.Errorf("--peer: %w", err)
	}
	return lab.Hostile(ctx, zap.New(), lab.HostileOptions{Mode: *mode, Listen: ln, Peer: p, Routes: *routes})
}

// fetch sends requests and prints a lab.FetchResult as JSON.
func fetch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ExitOnError)
	count := fs.Int("count", 30, "Number of requests; 0: until SIGTERM or SIGINT, one every --interval.")
	timeout := fs.Duration("timeout", 2*time.Second, "Timeout of one request.")
	interval := fs.Duration("interval", 20*time.Millisecond, "Pause between requests with --count=0.")
	workers := fs.Int("workers", 1, "Requests sent in parallel (each worker sends --count).")
	timeline := fs.Bool("timeline", false, "Record every request's outcome.")
	watchICMP := fs.Bool("watch-icmp", true, "Record the ICMP errors received about the requests' packets (raw sockets: root).")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("fetch takes one URL")
	}
	return json.NewEncoder(os.Stdout).Encode(lab.Fetch(ctx, fs.Arg(0), lab.FetchOptions{
		Count: *count, Timeout: *timeout, Interval: *interval, Workers: *workers, Timeline: *timeline, WatchICMP: *watchICMP,
	}))
}
