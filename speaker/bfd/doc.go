// Package bfd is seamark's Bidirectional Forwarding Detection: RFC 5880 asynchronous mode over
// RFC 5881 single-hop IPv4 and IPv6, as routers such as FRR's bfdd speak it. A Manager owns the
// node's receive sockets and its sessions; speaker/bgp starts one session per BGP peer that asks
// for BFD and disables the peer when its session goes down.
//
// The protocol itself is a pure state machine (fsm.go) driven by explicit time, so every rule of
// the RFC is table-tested with a fake clock; sessions wrap it with a goroutine, a timer and a socket.
// No echo mode, no demand mode, no authentication (RFC 5881 single-hop relies on TTL 255 instead),
// no multihop.
package bfd
