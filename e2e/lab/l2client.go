package lab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// The layer 2 client: sm-l2client sits on the fabric bridge, the nodes'
// own layer 2 segment, as a host next to the nodes would. It resolves
// Service addresses with ARP and NDP (arping, ndisc6) and watches its
// neighbour table (`ip -ts monitor neigh`) to time failovers from the
// client's side.
const NetnsL2Client = "sm-l2client"

// Addresses of sm-l2client on the fabric.
var (
	L2ClientAddr   = netip.MustParseAddr("198.18.1.100")
	L2ClientV6     = netip.MustParseAddr("2001:db8:18:1::100")
	l2ClientDevice = "fabric"
)

// NeighChange is one notification of sm-l2client's neighbour table.
type NeighChange struct {
	// At is when `ip -ts monitor neigh` printed it (microseconds).
	At time.Time
	// Addr is the neighbour's address, Dev the link.
	Addr netip.Addr
	Dev  string
	// LLAddr is the link-layer address ("" when the entry has none, e.g.
	// FAILED or INCOMPLETE).
	LLAddr string
	// State is the entry's state (REACHABLE, STALE, PERMANENT, FAILED, ...;
	// several flags are joined by spaces).
	State string
	// Deleted reports a removed entry.
	Deleted bool
}

// parseNeighLine parses one line of `ip -ts monitor neigh`:
// "[2006-01-02T15:04:05.000000] [Deleted ]ADDR dev DEV [lladdr MAC] [router] STATE...".
func parseNeighLine(line string, loc *time.Location) (NeighChange, bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "[") {
		return NeighChange{}, false
	}
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return NeighChange{}, false
	}
	at, err := time.ParseInLocation("2006-01-02T15:04:05.000000", line[1:end], loc)
	if err != nil {
		return NeighChange{}, false
	}
	f := strings.Fields(line[end+1:])
	c := NeighChange{At: at}
	if len(f) > 0 && f[0] == "Deleted" {
		c.Deleted = true
		f = f[1:]
	}
	if len(f) == 0 {
		return NeighChange{}, false
	}
	if c.Addr, err = netip.ParseAddr(f[0]); err != nil {
		return NeighChange{}, false
	}
	var state []string
	for i := 1; i < len(f); i++ {
		switch {
		case f[i] == "dev" && i+1 < len(f):
			c.Dev = f[i+1]
			i++
		case f[i] == "lladdr" && i+1 < len(f):
			c.LLAddr = f[i+1]
			i++
		case f[i] == "proxy", f[i] == "router", f[i] == "extern_learn", f[i] == "managed":
		case f[i] == strings.ToUpper(f[i]):
			state = append(state, f[i])
		}
	}
	c.State = strings.Join(state, " ")
	return c, true
}

// NeighWatch records sm-l2client's neighbour table changes as they
// happen.
type NeighWatch struct{ rec *recorder[NeighChange] }

// WatchNeigh starts recording sm-l2client's neighbour changes; Stop ends
// it.
func (l *Lab) WatchNeigh() (*NeighWatch, error) {
	rec, err := startRecorder(func(c NeighChange) time.Time { return c.At }, func(c NeighChange) NeighChange { return c },
		[]string{"-n", NetnsL2Client, "-ts", "monitor", "neigh"}, func(out io.Reader, add func(NeighChange)) {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if c, ok := parseNeighLine(sc.Text(), time.Local); ok {
					add(c)
				}
			}
		})
	if err != nil {
		return nil, err
	}
	return &NeighWatch{rec: rec}, nil
}

// Stop ends the recording.
func (w *NeighWatch) Stop() { w.rec.stop() }

// Wait waits up to timeout for the first change at or after since for
// which match is true, and returns it.
func (w *NeighWatch) Wait(since time.Time, timeout time.Duration, match func(NeighChange) bool) (NeighChange, error) {
	return w.rec.wait(since, timeout, match)
}

// Changes returns a copy of every change recorded so far.
func (w *NeighWatch) Changes() []NeighChange { return w.rec.all() }

var (
	arpingReply = regexp.MustCompile(`reply from ([0-9.]+) \[([0-9A-Fa-f:]{17})\]`)
	ndiscReply  = regexp.MustCompile(`Target link-layer address: ([0-9A-Fa-f:]{17})`)
)

// ARPing sends ARP requests for addr from sm-l2client (arping, up to
// count, stopping at the first reply) and returns the MAC address that
// answered.
func ARPing(addr netip.Addr, count int) (net.HardwareAddr, error) {
	out, err := NetnsExec(NetnsL2Client, "arping", "-f", "-c", fmt.Sprint(count), "-w", fmt.Sprint(count), "-I", l2ClientDevice, addr.String())
	m := arpingReply.FindStringSubmatch(string(out))
	if m == nil {
		return nil, fmt.Errorf("no ARP reply for %s on %s's %s: %w: %s", addr, NetnsL2Client, l2ClientDevice, err, strings.TrimSpace(string(out)))
	}
	return net.ParseMAC(m[2])
}

// NDisc sends Neighbor Solicitations for addr from sm-l2client (ndisc6,
// up to count) and returns the link-layer address of the Neighbor
// Advertisement.
func NDisc(addr netip.Addr, count int) (net.HardwareAddr, error) {
	out, err := NetnsExec(NetnsL2Client, "ndisc6", "-1", "-r", fmt.Sprint(count), addr.String(), l2ClientDevice)
	m := ndiscReply.FindStringSubmatch(string(out))
	if m == nil {
		return nil, fmt.Errorf("no Neighbor Advertisement for %s on %s's %s: %w: %s", addr, NetnsL2Client, l2ClientDevice, err, strings.TrimSpace(string(out)))
	}
	return net.ParseMAC(m[1])
}

// FlushNeigh empties sm-l2client's neighbour table, so that the next
// packet to an address resolves it again.
func FlushNeigh() error {
	return ipCmd("-n", NetnsL2Client, "neigh", "flush", "dev", l2ClientDevice)
}
