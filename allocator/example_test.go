package allocator_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/seamark-io/seamark/allocator"
)

func Example() {
	web, err := allocator.NewPool("web", []string{"203.0.113.0/30", "2001:db8::/126"}, false)
	if err != nil {
		panic(err)
	}
	a := allocator.New()
	a.SetPools([]allocator.Pool{web})

	// Dual stack: one request per family.
	for _, f := range []allocator.Family{allocator.IPv4, allocator.IPv6} {
		res, err := a.Assign(allocator.Request{Owner: "shop/frontend", Family: f, Pools: []string{"web"}})
		fmt.Println(res.Address, res.Pool, err)
	}

	// A requested address that another owner holds.
	_, err = a.Assign(allocator.Request{Owner: "shop/admin", Address: netip.MustParseAddr("203.0.113.1"), Pools: []string{"web"}})
	fmt.Println(errors.Is(err, allocator.ErrInUse), err)

	fmt.Printf("%+v\n", a.Stats("web", allocator.IPv4))
	// Output:
	// 203.0.113.1 web <nil>
	// 2001:db8::1 web <nil>
	// true assigning 203.0.113.1 to shop/admin: held by shop/frontend: address in use
	// {Capacity:2 Allocated:1 Available:1}
}

func ExampleShare() {
	a := allocator.New()
	a.SetPools([]allocator.Pool{{Name: "p", Ranges: []allocator.Range{allocator.MustParseRange("198.51.100.0/24")}}})
	share := func(port int32) allocator.Share {
		return allocator.Share{Key: "dns", Ports: []allocator.PortProto{{Protocol: "UDP", Port: port}}, Policy: allocator.PolicyCluster}
	}
	req := func(owner string, port int32) allocator.Request {
		return allocator.Request{Owner: owner, Family: allocator.IPv4, Pools: []string{"p"}, Share: share(port)}
	}
	udp, _ := a.Assign(req("kube-system/dns-udp", 53))
	tcp, _ := a.Assign(req("kube-system/dns-metrics", 9153))
	clash, _ := a.Assign(req("kube-system/dns-copy", 53))
	fmt.Println(udp.Address, tcp.Address, tcp.Shared)
	fmt.Println(clash.Address, clash.SharingConflict.Reason)
	// Output:
	// 198.51.100.1 198.51.100.1 true
	// 198.51.100.2 port UDP/53 already used by kube-system/dns-udp
}

func ExampleParseRange() {
	for _, s := range []string{"203.0.113.0/24", "203.0.113.10-203.0.113.20", "203.0.113.1/24"} {
		r, err := allocator.ParseRange(s)
		fmt.Println(r, r.Size(), err)
	}
	// Output:
	// 203.0.113.0/24 256 <nil>
	// 203.0.113.10-203.0.113.20 11 <nil>
	// invalid range 0 203.0.113.1/24 has host bits set; use 203.0.113.0/24
}
