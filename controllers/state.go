package controllers

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// State is what the reconcilers of one controller share: the allocator
// (the in-memory index of IPAllocations), the config snapshot and the
// start-up gate. The allocator is not goroutine-safe; every use of it holds
// mu, and nothing holds mu across an API call.
type State struct {
	mu    sync.Mutex
	alloc *allocator.Allocator
	// seen maps a Service owner to when it was first seen without an
	// address, for seamark_allocation_duration_seconds.
	seen map[string]time.Time
	// adopted maps a Service owner to the addresses the start-up adopted
	// for it in memory; its first reconcile records and reports them.
	adopted map[string][]netip.Addr

	cfg atomic.Pointer[config.Config]

	// ready is closed once the index was rebuilt from the IPAllocations and
	// the addresses Services already show were confirmed.
	ready chan struct{}
}

// NewState returns an empty State; the controller opens it with Start.
func NewState() *State {
	s := &State{
		alloc:   allocator.New(),
		seen:    map[string]time.Time{},
		adopted: map[string][]netip.Addr{},
		ready:   make(chan struct{}),
	}
	empty, _ := config.Build(config.Resources{})
	s.cfg.Store(empty)
	return s
}

// Config returns the current config snapshot.
func (s *State) Config() *config.Config { return s.cfg.Load() }

// Ready is closed once the controller may grant addresses.
func (s *State) Ready() <-chan struct{} { return s.ready }

// waitReady blocks until the State is open, or ctx is done: reconcilers
// grant and repair nothing before the index is rebuilt.
func (s *State) waitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setConfig publishes a new snapshot and hands its pools to the allocator.
func (s *State) setConfig(cfg *config.Config) {
	pools := make([]allocator.Pool, 0, len(cfg.Pools))
	for _, p := range cfg.Pools {
		pools = append(pools, p.Allocator)
	}
	s.mu.Lock()
	s.alloc.SetPools(pools)
	s.cfg.Store(cfg)
	s.mu.Unlock()
}

// ownerOf is the allocator owner of a Service: "namespace/name".
func ownerOf(namespace, name string) string { return namespace + "/" + name }

// restoreAllocation records an IPAllocation in the allocator: every Service
// it lists holds its address. A Service already holding it keeps its share
// data; others get the share data of their cached Service (or the bare
// sharing key when the Service is not known yet).
func (s *State) restoreAllocation(ipa *seamarkv1alpha1.IPAllocation, shareFor func(ref seamarkv1alpha1.ServiceReference) allocator.Share) {
	addr, err := netip.ParseAddr(string(ipa.Spec.Address))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range ipa.Spec.Services {
		owner := ownerOf(ref.Namespace, ref.Name)
		if holds(s.alloc.Addresses(owner), addr) {
			continue
		}
		// A conflict means our own in-flight grant of the address lost the
		// race; the reconcile of that Service finds out from the apiserver.
		_, _ = s.alloc.Restore(owner, addr, shareFor(ref))
	}
}

// forgetAllocation releases the holds an IPAllocation that is gone recorded.
func (s *State) forgetAllocation(ipa *seamarkv1alpha1.IPAllocation) {
	addr, err := netip.ParseAddr(string(ipa.Spec.Address))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range ipa.Spec.Services {
		s.alloc.Release(ownerOf(ref.Namespace, ref.Name), addr)
	}
}

func holds(addrs []netip.Addr, a netip.Addr) bool {
	for _, b := range addrs {
		if a == b {
			return true
		}
	}
	return false
}

// firstSeen records when a Service was first seen waiting for an address.
func (s *State) firstSeen(owner string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[owner]; !ok {
		s.seen[owner] = now
	}
}

// doneSeen returns and forgets when a Service was first seen waiting.
func (s *State) doneSeen(owner string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.seen[owner]
	delete(s.seen, owner)
	return t, ok
}
