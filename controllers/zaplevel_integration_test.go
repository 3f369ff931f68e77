//go:build integration

package controllers_test

import (
	"os"

	"go.uber.org/zap/zapcore"
)

// zapLevel keeps the controllers quiet in tests unless SEAMARK_TEST_LOG is set.
func zapLevel() zapcore.Level {
	if os.Getenv("SEAMARK_TEST_LOG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
