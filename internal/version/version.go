// Package version reports which build of seamark is running. The release
// build (make image) stamps Version with
//
//	-ldflags "-X github.com/seamark-io/seamark/internal/version.Version=v0.1.0"
//
// and a plain go build falls back to what the Go toolchain recorded: the
// module version, else the VCS revision.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release this binary was built as; empty unless stamped
// with -ldflags -X.
var Version = ""

// Info is what a binary knows about its own build.
type Info struct {
	// Version is the stamped release, else the module version or the
	// VCS revision Go recorded, else "devel".
	Version string
	// Revision is the VCS commit the binary was built from, if recorded;
	// Modified says the working tree had uncommitted changes.
	Revision string
	Modified bool
	// GoVersion and Platform (GOOS/GOARCH) of the build.
	GoVersion string
	Platform  string
}

// Get returns the build information of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(Version, bi)
}

func get(stamped string, bi *debug.BuildInfo) Info {
	info := Info{Version: stamped, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if info.Version == "" {
			info.Version = "devel"
		}
		return info
	}
	info.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	switch {
	case info.Version != "":
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		info.Version = bi.Main.Version
	case info.Revision != "":
		info.Version = "devel-" + short(info.Revision)
	default:
		info.Version = "devel"
	}
	return info
}

// String is the one line --version prints after the program's name.
func (i Info) String() string {
	s := i.Version
	if i.Revision != "" {
		s += " (commit " + short(i.Revision)
		if i.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return fmt.Sprintf("%s %s %s", s, i.GoVersion, i.Platform)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
