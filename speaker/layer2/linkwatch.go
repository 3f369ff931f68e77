package layer2

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// listLinks reads every link and address of the namespace through h.
func listLinks(h *netlink.Handle) ([]link, error) {
	all, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	kinds := make(map[int]string, len(all))
	for _, l := range all {
		kinds[l.Attrs().Index] = l.Type()
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	byLink := map[int][]netip.Prefix{}
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		bits, _ := a.Mask.Size()
		if ip.Is4In6() {
			ip = ip.Unmap()
		}
		byLink[a.LinkIndex] = append(byLink[a.LinkIndex], netip.PrefixFrom(ip, bits))
	}
	out := make([]link, 0, len(all))
	for _, l := range all {
		at := l.Attrs()
		up := at.Flags&net.FlagUp != 0 && at.OperState != netlink.OperDown && at.OperState != netlink.OperLowerLayerDown && at.OperState != netlink.OperNotPresent
		out = append(out, link{
			Name: at.Name, Index: at.Index, Kind: l.Type(), MAC: at.HardwareAddr,
			Up: up, Broadcast: at.Flags&net.FlagBroadcast != 0, Loopback: at.Flags&net.FlagLoopback != 0,
			MasterKind: kinds[at.MasterIndex], Addrs: byLink[at.Index],
		})
	}
	return out, nil
}

// watchLinks calls changed with the candidate interfaces (and the IPVS
// problem, see ipvsProblem) now and after every netlink link or address
// event, until done is closed. Events are coalesced: a burst costs one
// listing. The ARP sysctls have no events: they are read again every
// sysctlRecheck, so that turning strictARP on clears the problem.
func watchLinks(ns netns.NsHandle, done <-chan struct{}, changed func([]Interface, string), onError func(error)) error {
	var h *netlink.Handle
	var err error
	if ns.IsOpen() {
		h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	linkCh := make(chan netlink.LinkUpdate, 64)
	addrCh := make(chan netlink.AddrUpdate, 64)
	var nsp *netns.NsHandle
	if ns.IsOpen() {
		nsp = &ns
	}
	stop := make(chan struct{})
	errCb := func(err error) {
		select {
		case <-stop:
			return // closing the subscription at shutdown fails its last read
		default:
			onError(fmt.Errorf("netlink subscription: %w", err))
		}
	}
	if err := netlink.LinkSubscribeWithOptions(linkCh, stop, netlink.LinkSubscribeOptions{Namespace: nsp, ErrorCallback: errCb}); err != nil {
		h.Close()
		return fmt.Errorf("subscribing to link events: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrCh, stop, netlink.AddrSubscribeOptions{Namespace: nsp, ErrorCallback: errCb}); err != nil {
		close(stop)
		h.Close()
		return fmt.Errorf("subscribing to address events: %w", err)
	}
	refresh := func() {
		links, err := listLinks(h)
		if err != nil {
			onError(err)
			return
		}
		var problem string
		if slices.ContainsFunc(links, func(l link) bool { return l.Name == ipvsDevice }) {
			var ignore, announce int
			_ = inNetNS(ns, func() error {
				ignore, announce = readSysctl("net/ipv4/conf/all/arp_ignore"), readSysctl("net/ipv4/conf/all/arp_announce")
				return nil
			})
			problem = ipvsProblem(ignore, announce)
		}
		changed(candidates(links), problem)
	}
	refresh()
	go func() {
		defer h.Close()
		defer close(stop)
		recheck := time.NewTicker(sysctlRecheck)
		defer recheck.Stop()
		for {
			select {
			case <-done:
				return
			case <-recheck.C:
			case _, ok := <-linkCh:
				if !ok {
					return
				}
			case _, ok := <-addrCh:
				if !ok {
					return
				}
			}
			// Coalesce what is already queued.
			for drained := false; !drained; {
				select {
				case <-linkCh:
				case <-addrCh:
				default:
					drained = true
				}
			}
			refresh()
		}
	}()
	return nil
}

// sysctlRecheck is how often watchLinks reads the ARP sysctls again.
const sysctlRecheck = 30 * time.Second

// ipvsDevice is the dummy device kube-proxy's IPVS mode binds every
// Service address to.
const ipvsDevice = "kube-ipvs0"

// ipvsProblem says what is wrong when kube-proxy runs in IPVS mode (its
// device exists) without strictARP: the kernel of every node then answers
// ARP for the LoadBalancer addresses bound on kube-ipvs0, on every
// interface, and clients reach random nodes. strictARP sets arp_ignore 1
// and arp_announce 2; "" when they are set.
func ipvsProblem(arpIgnore, arpAnnounce int) string {
	if arpIgnore >= 1 && arpAnnounce >= 2 {
		return ""
	}
	return fmt.Sprintf("kube-proxy runs in IPVS mode without strictARP (arp_ignore=%d, arp_announce=%d): every node answers ARP for the addresses on %s; set strictARP: true in the kube-proxy configuration", arpIgnore, arpAnnounce, ipvsDevice)
}

// readSysctl reads an integer under /proc/sys, -1 when it cannot.
func readSysctl(name string) int {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return -1
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return v
}
