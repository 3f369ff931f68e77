package lab

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		want    Reply
		wantErr bool
	}{
		{
			name: "a pod's answer round-trips",
			body: Reply{Pod: "demo/web-sm1", Node: "sm1", Client: "198.18.2.2"}.String() + "\n",
			want: Reply{Pod: "demo/web-sm1", Node: "sm1", Client: "198.18.2.2"},
		},
		{
			name: "an IPv6 client address is kept whole",
			body: "pod=e2e-ipv6/web6-sm2 node=sm2 client=2001:db8:18:1::11",
			want: Reply{Pod: "e2e-ipv6/web6-sm2", Node: "sm2", Client: "2001:db8:18:1::11"},
		},
		{name: "an answer without the client is not a pod's", body: "pod=a/b node=sm1", wantErr: true},
		{name: "another server's page is not a pod's answer", body: "<html>Welcome</html>", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReply(tc.body)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseReply(%q) error = %v, want error %v", tc.body, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
				t.Errorf("ParseReply(%q) (-want +got):\n%s", tc.body, diff)
			}
		})
	}
}
