package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Version is the BFD protocol version this package speaks (RFC 5880 §4.1).
const Version = 1

// packetLen is the length of a control packet without authentication, the only kind this package
// sends and accepts.
const packetLen = 24

// State is a BFD session state (RFC 5880 §4.1), as carried in the Sta field.
type State uint8

// Session states, with their wire values.
const (
	StateAdminDown State = 0
	StateDown      State = 1
	StateInit      State = 2
	StateUp        State = 3
)

// String returns the RFC's name of the state.
func (s State) String() string {
	switch s {
	case StateAdminDown:
		return "AdminDown"
	case StateDown:
		return "Down"
	case StateInit:
		return "Init"
	case StateUp:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is a diagnostic code (RFC 5880 §4.1): why the local system last left Up.
type Diag uint8

// Diagnostic codes, with their wire values.
const (
	DiagNone                  Diag = 0
	DiagControlDetectExpired  Diag = 1
	DiagEchoFailed            Diag = 2
	DiagNeighborDown          Diag = 3
	DiagForwardingPlaneReset  Diag = 4
	DiagPathDown              Diag = 5
	DiagConcatenatedPathDown  Diag = 6
	DiagAdminDown             Diag = 7
	DiagReverseConcatPathDown Diag = 8
)

// String returns the RFC's name of the diagnostic, in one word.
func (d Diag) String() string {
	switch d {
	case DiagNone:
		return "None"
	case DiagControlDetectExpired:
		return "ControlDetectionTimeExpired"
	case DiagEchoFailed:
		return "EchoFunctionFailed"
	case DiagNeighborDown:
		return "NeighborSignaledSessionDown"
	case DiagForwardingPlaneReset:
		return "ForwardingPlaneReset"
	case DiagPathDown:
		return "PathDown"
	case DiagConcatenatedPathDown:
		return "ConcatenatedPathDown"
	case DiagAdminDown:
		return "AdministrativelyDown"
	case DiagReverseConcatPathDown:
		return "ReverseConcatenatedPathDown"
	}
	return fmt.Sprintf("Diag(%d)", uint8(d))
}

// Packet is a BFD control packet (RFC 5880 §4.1) without authentication. The intervals are
// durations; the wire carries microseconds.
type Packet struct {
	// Diag is the sender's diagnostic: why it last left Up.
	Diag Diag
	// State is the sender's session state.
	State State
	// Poll and Final are the P and F bits of a Poll Sequence (RFC 5880 §6.5).
	Poll, Final bool
	// ControlPlaneIndependent is the C bit: BFD does not share fate with the control plane.
	ControlPlaneIndependent bool
	// Demand is the D bit; this package never sets it and ignores it on receive.
	Demand bool
	// DetectMult is the detection time multiplier; never 0 in a valid packet.
	DetectMult uint8
	// MyDiscriminator is the sender's discriminator; never 0 in a valid packet.
	MyDiscriminator uint32
	// YourDiscriminator is the receiver's discriminator as the sender knows it, or 0.
	YourDiscriminator uint32
	// DesiredMinTx, RequiredMinRx and RequiredMinEchoRx are the intervals, exact to the microsecond.
	DesiredMinTx, RequiredMinRx, RequiredMinEchoRx time.Duration
}

// Reasons a received packet is discarded (RFC 5880 §6.8.6). Parse wraps one of them; callers count
// drops by errors.Is.
var (
	ErrTruncated          = errors.New("shorter than a BFD control packet")
	ErrVersion            = errors.New("not BFD version 1")
	ErrLength             = errors.New("length field does not match the packet")
	ErrAuth               = errors.New("authentication present, none configured")
	ErrDetectMultZero     = errors.New("detect multiplier 0")
	ErrMultipoint         = errors.New("multipoint bit set")
	ErrMyDiscrZero        = errors.New("my discriminator 0")
	ErrYourDiscrNeeded    = errors.New("your discriminator 0 in a state other than Down or AdminDown")
	ErrPollAndFinal       = errors.New("poll and final bits both set")
	errUnknownDiscr       = errors.New("your discriminator names no session")
	errUnknownPeer        = errors.New("no session for the addresses")
	errWrongSource        = errors.New("discriminator of a session with another peer address")
	errTTL                = errors.New("TTL or hop limit not 255 (RFC 5881 GTSM)")
	errQueueFull          = errors.New("session receive queue full")
	errNoControlMessage   = errors.New("no TTL in the control message")
	errAddressUnavailable = errors.New("no destination address in the control message")
)

// Flag bits of the second byte.
const (
	bitPoll        = 0x20
	bitFinal       = 0x10
	bitCPI         = 0x08
	bitAuth        = 0x04
	bitDemand      = 0x02
	bitMultipoint  = 0x01
	maxWireMicros  = math.MaxUint32
	microsPerTick  = int64(time.Microsecond)
	stateBitsShift = 6
)

// Parse decodes a control packet and applies the checks of RFC 5880 §6.8.6 that need no session:
// version, length, no authentication, detect multiplier, multipoint, My Discriminator, and a Your
// Discriminator of 0 only in states Down and AdminDown. It also refuses Poll and Final together
// (§6.5). Bytes after the length the packet declares are ignored, as the RFC allows.
func Parse(b []byte) (Packet, error) {
	if len(b) < packetLen {
		return Packet{}, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	}
	if v := b[0] >> 5; v != Version {
		return Packet{}, fmt.Errorf("%w: version %d", ErrVersion, v)
	}
	flags := b[1]
	if flags&bitAuth != 0 {
		return Packet{}, ErrAuth
	}
	if l := int(b[3]); l < packetLen || l > len(b) {
		return Packet{}, fmt.Errorf("%w: length %d, %d bytes received", ErrLength, l, len(b))
	}
	p := Packet{
		Diag:                    Diag(b[0] & 0x1f),
		State:                   State(flags >> stateBitsShift),
		Poll:                    flags&bitPoll != 0,
		Final:                   flags&bitFinal != 0,
		ControlPlaneIndependent: flags&bitCPI != 0,
		Demand:                  flags&bitDemand != 0,
		DetectMult:              b[2],
		MyDiscriminator:         binary.BigEndian.Uint32(b[4:]),
		YourDiscriminator:       binary.BigEndian.Uint32(b[8:]),
		DesiredMinTx:            micros(binary.BigEndian.Uint32(b[12:])),
		RequiredMinRx:           micros(binary.BigEndian.Uint32(b[16:])),
		RequiredMinEchoRx:       micros(binary.BigEndian.Uint32(b[20:])),
	}
	switch {
	case p.DetectMult == 0:
		return Packet{}, ErrDetectMultZero
	case flags&bitMultipoint != 0:
		return Packet{}, ErrMultipoint
	case p.MyDiscriminator == 0:
		return Packet{}, ErrMyDiscrZero
	case p.YourDiscriminator == 0 && p.State != StateDown && p.State != StateAdminDown:
		return Packet{}, fmt.Errorf("%w: state %s", ErrYourDiscrNeeded, p.State)
	case p.Poll && p.Final:
		return Packet{}, ErrPollAndFinal
	}
	return p, nil
}

// Append encodes p onto b. Intervals are rounded down to whole microseconds and saturate at the
// field's maximum (about 71 minutes); negative ones encode as 0.
func (p Packet) Append(b []byte) []byte {
	var flags byte
	flags |= byte(p.State&3) << stateBitsShift
	if p.Poll {
		flags |= bitPoll
	}
	if p.Final {
		flags |= bitFinal
	}
	if p.ControlPlaneIndependent {
		flags |= bitCPI
	}
	if p.Demand {
		flags |= bitDemand
	}
	b = append(b, Version<<5|byte(p.Diag&0x1f), flags, p.DetectMult, packetLen)
	b = binary.BigEndian.AppendUint32(b, p.MyDiscriminator)
	b = binary.BigEndian.AppendUint32(b, p.YourDiscriminator)
	b = binary.BigEndian.AppendUint32(b, wireMicros(p.DesiredMinTx))
	b = binary.BigEndian.AppendUint32(b, wireMicros(p.RequiredMinRx))
	b = binary.BigEndian.AppendUint32(b, wireMicros(p.RequiredMinEchoRx))
	return b
}

func micros(v uint32) time.Duration { return time.Duration(int64(v) * microsPerTick) }

func wireMicros(d time.Duration) uint32 {
	us := int64(d / time.Microsecond)
	switch {
	case us <= 0:
		return 0
	case us > maxWireMicros:
		return maxWireMicros
	}
	return uint32(us)
}
