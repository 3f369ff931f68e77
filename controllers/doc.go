// Package controllers holds the thin reconcilers of seamark-controller:
//
//   - ServiceReconciler grants LoadBalancer Services their addresses, with an
//     IPAllocation object per address as the lock the apiserver arbitrates,
//     and writes status.loadBalancer.ingress (DESIGN.md §4);
//   - the config reconciler rebuilds the config snapshot and the pool set of
//     the allocator, and sets the Ready condition of BGPPeers and
//     advertisements from config.Problems;
//   - PoolReconciler keeps IPPool status (conditions, counts) and the
//     seamark.io/pool-protection finalizer;
//   - RepairReconciler removes IPAllocations whose Services are gone.
//
// Decisions are serialized through one allocator under one mutex; API writes
// run concurrently outside it.
package controllers
