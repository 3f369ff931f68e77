// Package grants is seamark-controller's allocation core: one unit that
// owns the address index and the whole allocation policy, and the protocol
// that carries its decisions out against the apiserver. It makes no API
// calls of its own (a Store does) and has no clock, so the same code runs
// in the controller and in the tests that interleave several controllers
// against a simulated apiserver.
//
// The invariants, on every interleaving of controllers (two at once, a
// frozen leader resumed with a stale cache, a crash between any two
// writes), explained in docs/allocation.md:
//
//   - I1: an IPAllocation is deleted, or a Service removed from it, only
//     after that Service's status no longer shows its address: the status
//     write (optimistic lock) comes first, the release after it succeeded.
//   - I2: the address a Service holds or shows wins every tie; a race never
//     switches a Service to another address. Of two locks a race left it,
//     the one its status shows stays.
//   - I3: no address is shown by two Services unless they share a key.
//   - I4: at most one address per family per Service.
//
// A duplicate found anyway (left by an older version, another controller
// or a hand edit) is resolved the same way on every controller: the
// Service its IPAllocation lists keeps the address; the other gets a new
// one and a warning.
package grants
