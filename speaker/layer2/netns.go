package layer2

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetNS runs fn with the calling goroutine's thread in network namespace
// ns, so that the sockets fn opens live there (a socket keeps the namespace
// it was created in). A closed handle (the default) runs fn where the
// process is. The thread is returned to its namespace before it is
// unlocked; if that fails the thread stays locked and is discarded by the
// runtime when the goroutine ends.
func inNetNS(ns netns.NsHandle, fn func() error) error {
	if !ns.IsOpen() {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("reading the current network namespace: %w", err)
	}
	defer func() { _ = orig.Close() }()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it is in the wrong namespace and must
		// never run another goroutine.
		return fmt.Errorf("returning from network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
