//go:build integration

package speaker

import (
	"testing"

	"github.com/seamark-io/seamark/internal/testenv"
)

var env *testenv.Env

// runTests starts the real control plane for the integration tests.
func runTests(m *testing.M) { testenv.Main(m, &env) }
