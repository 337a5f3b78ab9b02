package cost

import "context"

// DailyCosts returns the pool's cost on each of the last n days, the
// oldest first and today last: the day's one figure (DayCost), 0 for a day
// with none. The Home tab draws it as a
// sparkline.
func (t *Tracker) DailyCosts(ctx context.Context, name string, n int) []float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	today := t.o.Clock.Now().In(t.loc)
	out := make([]float64, 0, n)
	for i := n - 1; i >= 0; i-- {
		out = append(out, t.dayCost(ctx, name, today.AddDate(0, 0, -i).Format("2006-01-02")).Value)
	}
	return out
}
