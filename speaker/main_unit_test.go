//go:build !integration

package speaker

import (
	"os"
	"testing"
)

func runTests(m *testing.M) { os.Exit(m.Run()) }
