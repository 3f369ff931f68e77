package version

import (
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGet(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"a stamped release wins over what go recorded", "v0.1.0",
			&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.9"}, Settings: vcs("false")},
			"v0.1.0 (commit 0123456789ab) go1.26.0 "},
		{"a go install of a tagged module reports the module version", "",
			&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.2.0"}},
			"v0.2.0 go1.26.0 "},
		{"a build from a dirty checkout says so", "",
			&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")},
			"devel-0123456789ab (commit 0123456789ab, modified) go1.26.0 "},
		{"a build without VCS information is devel", "",
			&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			"devel go1.26.0 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := get(tt.stamped, tt.bi)
			info.Platform = ""
			if diff := cmp.Diff(tt.want, info.String()); diff != "" {
				t.Errorf("String() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetWithoutBuildInfo(t *testing.T) {
	if got := get("", nil).Version; got != "devel" {
		t.Errorf("Version = %q, want devel", got)
	}
	if got := get("v1.0.0", nil).Version; got != "v1.0.0" {
		t.Errorf("Version = %q, want v1.0.0", got)
	}
}
