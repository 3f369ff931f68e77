// Package speaker is the node agent's core: the plan, a pure function from
// the configuration snapshot, this node, the Services, their EndpointSlices
// and the cluster's ServiceCIDRs to what this node announces to which BGP
// peer (docs/architecture.md, "Announcing addresses"), and the controller-runtime glue that recomputes the
// plan on every relevant change and hands it to speaker/bgp.
//
// The plan never does I/O and imports no client-go; the glue (Reconciler)
// reads only from the manager's informer caches, coalesces every event into
// one work item, and so computes one plan per burst of changes. A plan
// change never resets a BGP session unless that peer's own settings
// changed: speaker/bgp diffs paths incrementally and resets a session only
// when its bgp.PeerConfig differs.
package speaker
