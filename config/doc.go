// Package config turns seamark's custom resources, and the few core objects
// they refer to, into one validated, read-only snapshot: the ONLY code that
// interprets the specs of IPPool, BGPPeer, BGPAdvertisement and
// L2Advertisement. The controller and the speaker both read the same meaning
// out of the CRDs through it.
//
// Build never fails as a whole. Each object with a problem gets a Problem
// (kind, name, field, reason, sentence), classed Invalid (the object itself
// is wrong; it is left out) or Transient (it refers to something missing that
// may appear; see each check for what is kept). Every other object is kept,
// so one bad object never breaks the rest of the cluster.
//
// A *Config is immutable once built. Consumers publish it with
// atomic.Pointer[Config] and replace it whole; nothing in it may be modified.
//
// The package imports the API types and apimachinery only: no client-go, no
// controller-runtime, no I/O, no logging.
package config
