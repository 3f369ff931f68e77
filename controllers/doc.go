// Package controllers holds the thin reconcilers of seamark-controller:
//
//   - ServiceReconciler grants LoadBalancer Services their addresses: it
//     reads the Service from the cache and hands it to grants.Unit.Sync,
//     which decides, writes the IPAllocation locks the apiserver
//     arbitrates, writes status.loadBalancer.ingress under an optimistic
//     lock and only then releases (docs/allocation.md); the reconciler
//     emits the events and metrics;
//   - the config reconciler rebuilds the config snapshot and the pool set of
//     the unit, and sets the Ready condition of BGPPeers and
//     advertisements from config.Problems;
//   - the pool reconciler keeps IPPool status (conditions, counts) and the
//     seamark.io/pool-protection finalizer;
//   - the repair reconciler removes Services that are gone from
//     IPAllocations (grants.Unit.Repair);
//   - the announced reconciler keeps the seamark.io/Announced condition of
//     Services: every node's plan (package plan, the speaker's own
//     planning) with the SpeakerStatuses, written when its reason changes
//     (docs/status.md).
//
// The allocation policy and the index live in controllers/internal/grants;
// nothing here decides who gets an address.
package controllers
