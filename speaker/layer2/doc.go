// Package layer2 announces LoadBalancer addresses over ARP (IPv4) and NDP
// (IPv6) from one elected node per address, and keeps the election live
// with hashicorp/memberlist gossip among the speakers.
//
// It is the only package that imports mdlayher/arp, mdlayher/ndp,
// mdlayher/packet and hashicorp/memberlist, and it imports neither
// client-go nor controller-runtime: the speaker hands it plain values
// (Desired), computed by the speaker's pure planning.
//
// The pieces:
//   - election: rendezvous hashing (Elect) over the nodes that are live and
//     eligible for an address; pure.
//   - interfaces: which local interfaces answer for an address, followed
//     through netlink link and address events.
//   - responder: one AF_PACKET socket per interface that answers ARP
//     requests and Neighbor Solicitations (also unicast NUD probes) for
//     owned addresses and sends gratuitous ARP and unsolicited Neighbor
//     Advertisements; the address is never added to an interface.
//   - cluster: memberlist membership, node metadata (ready, interfaces),
//     and the "leaving" message of a graceful handover.
//   - Speaker: ties them together and repairs itself (stall guard,
//     re-announce on membership change, conflict detection).
//
// docs/layer2.md describes the behaviour for operators.
package layer2
