package speaker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
)

// A speaker started while the apiserver is away waits for it (logging
// once when the wait starts and once when it ends) instead of failing.
func TestWaitForAPIServer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, "etcd is down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"36","gitVersion":"v1.36.3"}`))
	}))
	defer srv.Close()
	var lines []string
	log := funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitForAPIServer(ctx, &rest.Config{Host: srv.URL}, log); err != nil {
		t.Fatalf("WaitForAPIServer: %v", err)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("%d requests, want 4 (three failures, then the answer)", got)
	}
	if len(lines) != 2 {
		t.Errorf("logged %q, want two lines (waiting, reached)", lines)
	}
	if !APIServerReachable(&rest.Config{Host: srv.URL}) {
		t.Error("APIServerReachable = false for an apiserver that answers")
	}

	// Stopped while waiting: the context's error, no hang.
	srv.Close()
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := WaitForAPIServer(ctx, &rest.Config{Host: srv.URL}, log); err == nil {
		t.Fatal("WaitForAPIServer returned nil without an apiserver")
	}
}
