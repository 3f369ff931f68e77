package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommunity(t *testing.T) {
	tests := []struct {
		in      string
		want    Community
		wantErr bool
	}{
		{in: "65000:100", want: Community{Value: 65000<<16 | 100}},
		{in: "0:0", want: Community{}},
		{in: "65535:65535", want: Community{Value: 0xFFFFFFFF}},
		{in: "64512:1:2", want: Community{Large: true, Global: 64512, Local1: 1, Local2: 2}},
		{in: "4294967295:4294967295:4294967295", want: Community{Large: true, Global: 4294967295, Local1: 4294967295, Local2: 4294967295}},
		{in: "no-export", want: Community{Value: 0xFFFFFF01}},
		{in: "no-advertise", want: Community{Value: 0xFFFFFF02}},
		{in: "no-export-subconfed", want: Community{Value: 0xFFFFFF03}},
		{in: "no-peer", want: Community{Value: 0xFFFFFF04}},
		{in: "blackhole", want: Community{Value: 65535<<16 | 666}},
		{in: "graceful-shutdown", want: GracefulShutdown},
		{in: "accept-own", want: Community{Value: 0xFFFF0001}},
		{in: "llgr-stale", want: Community{Value: 0xFFFF0006}},
		{in: "no-llgr", want: Community{Value: 0xFFFF0007}},
		{in: "65536:1", wantErr: true},
		{in: "1:65536", wantErr: true},
		{in: "1:2:4294967296", wantErr: true},
		{in: "01:2", wantErr: true},
		{in: "+1:2", wantErr: true},
		{in: "-1:2", wantErr: true},
		{in: "1:", wantErr: true},
		{in: ":1", wantErr: true},
		{in: "1", wantErr: true},
		{in: "1:2:3:4", wantErr: true},
		{in: "NO-EXPORT", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCommunity(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseCommunity(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommunity(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCommunity(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestCommunityString(t *testing.T) {
	for in, want := range map[string]string{"65000:100": "65000:100", "no-export": "65535:65281", "graceful-shutdown": "65535:0", "1:2:3": "1:2:3"} {
		c, err := ParseCommunity(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.String(); got != want {
			t.Errorf("ParseCommunity(%q).String() = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseCommunity: never panics; whatever parses prints as text that
// parses back to the same community, and that text is canonical.
func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"65000:100", "1:2:3", "no-export", "65536:1", "0:0:0", "01:1", "graceful-shutdown", "::", "4294967295:0:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCommunity(s)
		if err != nil {
			return
		}
		text := c.String()
		back, err := ParseCommunity(text)
		if err != nil {
			t.Fatalf("ParseCommunity(%q) = %v, whose text %q does not parse: %v", s, c, text, err)
		}
		if back != c {
			t.Fatalf("round trip of %q: %v -> %q -> %v", s, c, text, back)
		}
		if _, named := wellKnown[s]; !named && text != s {
			t.Fatalf("ParseCommunity accepted %q, which is not canonical (%q)", s, text)
		}
	})
}
