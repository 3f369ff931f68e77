package allocator

import ("testing";"time";"fmt";"strings")

func TestTmpWindows(t *testing.T) {
	owners := make([]string, 65534)
	for i := range owners { owners[i] = fmt.Sprintf("ns/svc-%d", i) }
	sums := make([]time.Duration, 66)
	for round := 0; round < 10; round++ {
		a := New()
		p, _ := NewPool("bench", []string{"198.18.0.0/16"}, false)
		a.SetPools([]Pool{p})
		for w := 0; w < 65; w++ {
			t0 := time.Now()
			for i := w*1000; i < w*1000+1000; i++ {
				a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: []string{"bench"}})
			}
			sums[w] += time.Since(t0)
		}
	}
	var sb strings.Builder
	for w := 0; w < 65; w++ { fmt.Fprintf(&sb, "%d:%d ", w, sums[w].Nanoseconds()/10000) }
	t.Log(sb.String())
}
