package layer2

import (
	"bytes"
	"crypto/sha256"
	"net/netip"

	"github.com/seamark-io/seamark/plan"
)

// Score is the rendezvous (highest-random-weight) score of node for the
// election key: sha256(node + "#" + key). The lowest score wins. Every
// speaker computes the same scores from the same names, so the owner of an
// address needs no consensus round, and removing a node moves only the
// addresses it owned.
func Score(node string, key netip.Addr) [sha256.Size]byte {
	return sha256.Sum256([]byte(node + "#" + key.String()))
}

// Elect returns the candidate with the lowest Score for key, or "" when
// there is none. Duplicate names count once; the order of candidates does
// not matter. It is O(len(candidates)) hashes.
func Elect(key netip.Addr, candidates []string) string {
	var (
		best      string
		bestScore [sha256.Size]byte
	)
	for _, c := range candidates {
		s := Score(c, key)
		if best == "" || bytes.Compare(s[:], bestScore[:]) < 0 {
			best, bestScore = c, s
		}
	}
	return best
}

// Better reports whether node a beats node b for key.
func Better(a, b string, key netip.Addr) bool {
	sa, sb := Score(a, key), Score(b, key)
	return bytes.Compare(sa[:], sb[:]) < 0
}

// ElectionKey returns the key addresses of one Service are elected by
// (plan.ElectionKey, which the planning uses).
func ElectionKey(addrs []netip.Addr) netip.Addr { return plan.ElectionKey(addrs) }
