// Package allocator hands out LoadBalancer addresses from pools: pure
// address allocation over net/netip with no I/O, no logging and no clock.
//
// The pieces:
//   - Range, parsed by ParseRange from a CIDR or an a-b range in canonical
//     form, and Pool, a named list of ranges with the ServiceCIDR
//     reserved-address rules (see Pool);
//   - Allocator, which keeps a free-space index per pool and family (an
//     ordered set of free intervals, so the lowest free address, a specific
//     address and a release are O(log n) on a /8 or a /64 alike) and the
//     grants, with their owners and sharing data (see Share);
//   - sentinel errors for every refusal a caller branches on.
//
// The controller rebuilds an Allocator from IPAllocation objects at start
// (SetPools, then Restore for each), then calls Assign and Release as
// Services change. The apiserver stays the arbiter: the Allocator only
// picks addresses that are free as far as it knows.
package allocator
