package allocator

import ("testing";"time";"fmt";"strings";"hash/maphash")

func TestTmpMapWindows(t *testing.T) {
	seed := maphash.MakeSeed()
	owners := make([]string, 65534)
	for i := range owners { owners[i] = fmt.Sprintf("ns/svc-%d", i) }
	sums := make([]time.Duration, 66)
	g := &grant{}
	for round := 0; round < 10; round++ {
		m := map[uint64]*grant{}
		for w := 0; w < 65; w++ {
			t0 := time.Now()
			for i := w*1000; i < w*1000+1000; i++ {
				h := maphash.String(seed, owners[i])
				if m[h] == nil { m[h] = g }
			}
			sums[w] += time.Since(t0)
		}
	}
	var sb strings.Builder
	for w := 0; w < 65; w++ { fmt.Fprintf(&sb, "%d:%d ", w, sums[w].Nanoseconds()/10000) }
	t.Log(sb.String())
}
