package bgp

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-logr/logr"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// gobgpLogger adapts GoBGP's logger to logr: warnings and errors at V(0), GoBGP's (chatty) info at
// V(1), debug at V(2). It also feeds the session's diagnosis: GoBGP reports a failed TCP connect only
// as a debug line, and that is all the speaker ever sees of a TCP-MD5 mismatch (Linux drops the
// segments silently), so the adapter asks GoBGP for debug lines while the session is down and turns
// them into failed-attempt counts and a last error, whatever the logr verbosity.
//
// A GoBGP server keeps its logger for life and servers are reused across sessions, so the target is
// swapped with attach.
type gobgpLogger struct {
	sink atomic.Pointer[logSink]
	// wantDebug is set while the session is not established. Debug output is then cheap (no updates
	// flow), and it is the only place GoBGP reports connect errors.
	wantDebug atomic.Bool
	// notification is the last NOTIFICATION GoBGP sent or received, described: it says why an OPEN
	// exchange failed ("open message error, bad peer AS") better than the state change that follows
	// ("invalid-msg").
	notification atomic.Pointer[string]
	// resetCause describes why an established session is about to be reset (a malformed message,
	// or the prefix limit: enforcePrefixLimit); the Peer Down that follows takes it.
	resetCause atomic.Pointer[string]
}

type logSink struct {
	log logr.Logger
	// onProblem receives GoBGP's problem reports for the session; connectFailed marks a failed
	// connection attempt.
	onProblem func(problem string, connectFailed bool)
}

var _ gobgplog.Logger = (*gobgpLogger)(nil)

func newGoBGPLogger() *gobgpLogger {
	l := &gobgpLogger{}
	l.sink.Store(&logSink{log: logr.Discard()})
	return l
}

// attach directs the log to a session.
func (l *gobgpLogger) attach(log logr.Logger, onProblem func(problem string, connectFailed bool)) {
	l.sink.Store(&logSink{log: log, onProblem: onProblem})
	l.wantDebug.Store(true)
}

// detach stops problem reports once the session is gone; late lines of its teardown are still logged.
func (l *gobgpLogger) detach() {
	l.sink.Store(&logSink{log: l.sink.Load().log})
	l.wantDebug.Store(false)
}

func (l *gobgpLogger) logger() logr.Logger { return l.sink.Load().log }

// Panic, Fatal, Error, Warn, Info and Debug implement GoBGP's log.Logger (see gobgpLogger). Panic
// logs and panics.
func (l *gobgpLogger) Panic(msg string, fields gobgplog.Fields) {
	l.logger().Error(nil, msg, kv(fields)...)
	// GoBGP calls Panic for broken invariants and does not expect to continue.
	panic(fmt.Sprintf("gobgp: %s", msg))
}

// Fatal logs and panics (see below).
func (l *gobgpLogger) Fatal(msg string, fields gobgplog.Fields) {
	l.logger().Error(nil, msg, kv(fields)...)
	// A library must not os.Exit; an unrecovered panic still stops the process as GoBGP expects.
	panic(fmt.Sprintf("gobgp: %s", msg))
}

// Error is logged at V(0).
func (l *gobgpLogger) Error(msg string, fields gobgplog.Fields) {
	l.problem(msg, fields, false)
	l.logger().Error(nil, msg, kv(fields)...)
}

// Warn is logged at V(0).
func (l *gobgpLogger) Warn(msg string, fields gobgplog.Fields) {
	diagnosed := true
	switch {
	case msg == "sent notification" || msg == "received notification":
		d := describeProblem(msg, fields)
		l.notification.Store(&d)
	case strings.HasPrefix(msg, "Session will be reset due to malformed BGP"):
		// The only place GoBGP says what was malformed ("path total attribute length exceeds
		// message length"); the Peer Down that follows names only the notification's code.
		d := describeProblem(strings.TrimPrefix(msg, "Session will be reset due to "), fields)
		l.resetCause.Store(&d)
	default:
		diagnosed = false
	}
	l.problem(msg, fields, false)
	// A session with a diagnosis says it in its own line, once per state change ("BGP session lost",
	// "BGP session not established"); GoBGP's line would repeat it on every attempt or flap.
	if diagnosed && l.sink.Load().onProblem != nil {
		l.logger().V(1).Info(msg, kv(fields)...)
		return
	}
	l.logger().Info(msg, kv(fields)...)
}

// peerDown is GoBGP's log message when an established session ends; the problem reported for it
// begins with it (describeProblem), which is how the session tells a down reason from the rest.
const peerDown = "Peer Down"

// Info is logged at V(1).
func (l *gobgpLogger) Info(msg string, fields gobgplog.Fields) {
	if msg == peerDown {
		if f := l.sink.Load().onProblem; f != nil {
			p := describeProblem(msg, fields)
			if d := l.resetCause.Swap(nil); d != nil {
				p += " (" + *d + ")"
			}
			f(p, false)
		}
	}
	l.logger().V(1).Info(msg, kv(fields)...)
}

// Debug is logged at V(2); its connect failures and state changes feed the session's diagnosis.
func (l *gobgpLogger) Debug(msg string, fields gobgplog.Fields) {
	switch msg {
	case "failed to connect":
		l.problem(msg, fields, true)
	case "state changed":
		// GoBGP does not decode a notification received before Established; the transition's
		// reason is all there is to say why an attempt failed.
		old, _ := fields["old"].(string)
		reason := fields["reason"]
		if n := l.notification.Swap(nil); n != nil {
			reason = *n
		}
		if fields["new"] == "BGP_FSM_IDLE" && (old == "BGP_FSM_OPENSENT" || old == "BGP_FSM_OPENCONFIRM") {
			if f := l.sink.Load().onProblem; f != nil {
				f(fmt.Sprintf("session closed in %s: %v", fsmStateNames[old], reason), false)
			}
		}
	}
	if v := l.logger().V(2); v.Enabled() {
		v.Info(msg, kv(fields)...)
	}
}

// SetLevel is a no-op: verbosity belongs to the logr logger.
func (l *gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel tells GoBGP which of its guarded debug lines to produce.
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if l.wantDebug.Load() || l.logger().V(2).Enabled() {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}

func (l *gobgpLogger) problem(msg string, fields gobgplog.Fields, connectFailed bool) {
	if f := l.sink.Load().onProblem; f != nil {
		f(describeProblem(msg, fields), connectFailed)
	}
}

// describeProblem renders a GoBGP problem report as one short sentence, e.g.
// "failed to connect: dial tcp 127.0.0.2:179: i/o timeout" or
// "received notification: open message error, bad peer AS".
func describeProblem(msg string, fields gobgplog.Fields) string {
	if code, ok := fields["Code"].(uint8); ok {
		sub, _ := fields["Subcode"].(uint8)
		return fmt.Sprintf("%s: %s", msg, bgp.NewNotificationErrorCode(code, sub))
	}
	if e, ok := fields["Data"].(*bgp.MessageError); ok {
		if e.Message != "" {
			// GoBGP's own words name the values: "as number mismatch expected 64999, received 64512".
			return fmt.Sprintf("%s: %s: %s", msg, bgp.NewNotificationErrorCode(e.TypeCode, e.SubTypeCode), e.Message)
		}
		return fmt.Sprintf("%s: %s", msg, bgp.NewNotificationErrorCode(e.TypeCode, e.SubTypeCode))
	}
	for _, k := range []string{"Error", "Err", "Reason"} {
		if v, ok := fields[k]; ok && v != nil {
			return fmt.Sprintf("%s: %v", msg, v)
		}
	}
	return msg
}

var fsmStateNames = map[string]SessionState{"BGP_FSM_OPENSENT": StateOpenSent, "BGP_FSM_OPENCONFIRM": StateOpenConfirm}

// kv turns GoBGP's fields into logr key/value pairs in a stable order, with lower-camel keys.
func kv(fields gobgplog.Fields) []any {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		key := k
		if key != "" {
			key = strings.ToLower(key[:1]) + key[1:]
		}
		out = append(out, key, fields[k])
	}
	return out
}
