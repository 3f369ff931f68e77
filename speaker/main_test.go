package speaker

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The RSS benchmark runs its router in a child copy of the test binary,
	// so that the speaker's memory is measured alone.
	if spec := os.Getenv(routerHelperEnv); spec != "" {
		runRouterHelper(spec)
		return
	}
	runTests(m)
}
