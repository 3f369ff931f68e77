package controllers

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/controllers/internal/grants"
)

// State is what the reconcilers of one controller share: the allocation
// unit (the address index and its policy), the config snapshot with its
// problems, and the start-up gate.
type State struct {
	unit *grants.Unit

	snap atomic.Pointer[snapshot]

	mu sync.Mutex
	// seen maps a Service owner to when it was first seen without an
	// address, for seamark_allocation_duration_seconds.
	seen map[string]time.Time

	// ready is closed once the index was rebuilt from the IPAllocations and
	// the addresses Services show.
	ready chan struct{}
}

// snapshot is one config with the problems found building it.
type snapshot struct {
	cfg      *config.Config
	problems config.Problems
}

// NewState returns an empty State; the controller opens it with Start.
func NewState(defaultClass bool) *State {
	s := &State{unit: grants.New(defaultClass), seen: map[string]time.Time{}, ready: make(chan struct{})}
	empty, problems := config.Build(config.Resources{})
	s.snap.Store(&snapshot{cfg: empty, problems: problems})
	return s
}

// Config returns the current config snapshot.
func (s *State) Config() *config.Config { return s.snap.Load().cfg }

// Problems returns the problems found building the current snapshot.
func (s *State) Problems() config.Problems { return s.snap.Load().problems }

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

// setConfig publishes a new snapshot and hands its pools to the unit.
func (s *State) setConfig(cfg *config.Config, problems config.Problems) {
	s.unit.SetConfig(cfg)
	s.snap.Store(&snapshot{cfg: cfg, problems: problems})
}

// ownerOf is the owner of a Service in the index: "namespace/name".
func ownerOf(namespace, name string) string { return grants.OwnerOf(namespace, name) }

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
