package bgp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seamark-io/seamark/speaker/bfd"
)

func TestDecideBFD(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	up := bfd.SessionStatus{State: bfd.StateUp, Up: true, LastReceived: t0}
	down := func(downs uint64, benign bool, lastRx time.Time) bfd.SessionStatus {
		return bfd.SessionStatus{State: bfd.StateDown, Downs: downs, LastDownBenign: benign, LastReceived: lastRx}
	}
	started := bfdState{started: t0, everUp: true}
	tests := []struct {
		name      string
		state     bfdState
		status    bfd.SessionStatus
		now       time.Time
		want      bfdDecision
		wantState bfdState
	}{
		{
			name: "Up, nothing disabled: nothing to do", state: started, status: up, now: t0,
			wantState: started,
		},
		{
			name: "a failure disables the peer", state: started, status: down(1, false, t0), now: t0.Add(time.Second),
			want:      bfdDecision{disable: true},
			wantState: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0.Add(time.Second)},
		},
		{
			name: "the same Down seen again does nothing more", state: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0},
			status: down(1, false, t0), now: t0.Add(2 * time.Second),
			wantState: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0},
		},
		{
			name: "the router's own doing (AdminDown, replaced session) leaves BGP alone", state: started, status: down(1, true, t0), now: t0,
			want:      bfdDecision{benignDown: true},
			wantState: bfdState{started: t0, everUp: true, downs: 1},
		},
		{
			name: "Up again enables the disabled peer", state: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0},
			status: bfd.SessionStatus{State: bfd.StateUp, Up: true, Downs: 1}, now: t0.Add(3 * time.Second),
			want:      bfdDecision{enable: true, enableReason: "BFD session up"},
			wantState: bfdState{started: t0, everUp: true, downs: 1, disabledAt: t0},
		},
		{
			name: "a Down and the recovery seen at once: disable, then enable", state: started,
			status: bfd.SessionStatus{State: bfd.StateUp, Up: true, Downs: 1}, now: t0,
			want:      bfdDecision{disable: true, enable: true, enableReason: "BFD session up"},
			wantState: bfdState{started: t0, everUp: true, downs: 1, disabledAt: t0},
		},
		{
			name: "a router that still talks keeps the peer disabled", state: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0},
			status: down(1, false, t0.Add(59*time.Second)), now: t0.Add(time.Minute),
			wantState: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0},
		},
		{
			name: "a router silent for 10 s gets the peer back (it runs BFD only for established sessions)", state: bfdState{started: t0, everUp: true, downs: 1, disabled: true, disabledAt: t0},
			status: down(1, false, t0), now: t0.Add(bfdSilentRecovery + time.Second),
			want:      bfdDecision{enable: true, enableReason: "the router has sent no BFD packet for 10s"},
			wantState: bfdState{started: t0, everUp: true, downs: 1, disabledAt: t0},
		},
		{
			name: "never Up after 30 s: one hint", state: bfdState{started: t0},
			status: bfd.SessionStatus{State: bfd.StateDown}, now: t0.Add(bfdNeverUpHint + time.Second),
			want:      bfdDecision{hint: true},
			wantState: bfdState{started: t0, hinted: true},
		},
		{
			name: "the hint is given once", state: bfdState{started: t0, hinted: true},
			status: bfd.SessionStatus{State: bfd.StateDown}, now: t0.Add(time.Hour),
			wantState: bfdState{started: t0, hinted: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotState := decideBFD(tt.state, tt.status, tt.now)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(bfdDecision{})); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantState, gotState, cmp.AllowUnexported(bfdState{})); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}
