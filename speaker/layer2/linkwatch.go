package layer2

import (
	"fmt"
	"net"
	"net/netip"

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

// watchLinks calls changed with the candidate interfaces now and after
// every netlink link or address event, until done is closed. Events are
// coalesced: a burst costs one listing.
func watchLinks(ns netns.NsHandle, done <-chan struct{}, changed func([]Interface), onError func(error)) error {
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
	errCb := func(err error) { onError(fmt.Errorf("netlink subscription: %w", err)) }
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
		changed(candidates(links))
	}
	refresh()
	go func() {
		defer h.Close()
		defer close(stop)
		for {
			select {
			case <-done:
				return
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
