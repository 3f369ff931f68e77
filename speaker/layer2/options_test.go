package layer2

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

// TestZeroOptionsRunInTheProcessNamespace: a Speaker built without a
// NetNS (as seamark-speaker builds it) watches the process's own links.
// The zero netns handle is fd 0, which netns counts as open; entering it
// failed every start with "failed to set into network namespace 0".
func TestZeroOptionsRunInTheProcessNamespace(t *testing.T) {
	s := New(Options{NodeName: "n", Logger: testr.New(t)})
	if s.opts.NetNS.IsOpen() {
		t.Fatalf("NetNS defaults to %v, want the process's namespace", s.opts.NetNS)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
