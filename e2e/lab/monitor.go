package lab

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// recorder keeps what an `ip monitor` reports, in arrival order, and wakes
// those waiting for a change; RouteWatch and NeighWatch are made of one.
type recorder[T any] struct {
	at    func(T) time.Time // when a change happened
	clone func(T) T         // a copy that shares nothing with the record

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	changes []T
	notify  chan struct{} // closed and replaced on every change
}

// startRecorder starts `ip args...` and read, which parses its output and
// calls add for every change, until the recorder is stopped.
func startRecorder[T any](at func(T) time.Time, clone func(T) T, args []string, read func(out io.Reader, add func(T))) (*recorder[T], error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ip", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting ip %s: %w", strings.Join(args, " "), err)
	}
	r := &recorder[T]{at: at, clone: clone, cancel: cancel, done: make(chan struct{}), notify: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer func() { _ = cmd.Wait() }()
		read(out, r.add)
	}()
	// ip monitor subscribes before it prints anything; give it a moment.
	time.Sleep(100 * time.Millisecond)
	return r, nil
}

func (r *recorder[T]) add(c T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	close(r.notify)
	r.notify = make(chan struct{})
}

// stop ends the recording.
func (r *recorder[T]) stop() {
	r.cancel()
	<-r.done
}

// wait waits up to timeout for the first change at or after since for
// which match is true, and returns a copy of it.
func (r *recorder[T]) wait(since time.Time, timeout time.Duration, match func(T) bool) (T, error) {
	deadline := time.After(timeout)
	from := 0
	for {
		r.mu.Lock()
		for ; from < len(r.changes) && r.at(r.changes[from]).Before(since); from++ {
		}
		for i := from; i < len(r.changes); i++ {
			if match(r.changes[i]) {
				c := r.clone(r.changes[i])
				r.mu.Unlock()
				return c, nil
			}
		}
		notify := r.notify
		r.mu.Unlock()
		select {
		case <-notify:
		case <-deadline:
			var zero T
			return zero, fmt.Errorf("no matching change in %s", timeout)
		}
	}
}

// all returns a copy of every change recorded so far.
func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]T, len(r.changes))
	for i, c := range r.changes {
		out[i] = r.clone(c)
	}
	return out
}
