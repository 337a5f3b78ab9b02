package watch

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Condition names, as they appear in alerts, mutes and buttons.
const (
	CondPoolState      = "pool-state"
	CondFailedNodes    = "failed-nodes"
	CondErrorLogs      = "error-logs"
	CondStuckNodes     = "stuck-nodes"
	CondAgentsOffline  = "agents-offline"
	CondSaturated      = "saturated"
	CondScheduleFailed = "schedule-failed"
	CondBudgetDaily    = "budget-daily"
	CondBudgetMonthly  = "budget-monthly"
	CondIdleWaste      = "idle-waste"
)

// Conditions lists every condition the watcher raises.
var Conditions = []string{CondPoolState, CondFailedNodes, CondErrorLogs, CondStuckNodes, CondAgentsOffline,
	CondSaturated, CondScheduleFailed, CondBudgetDaily, CondBudgetMonthly, CondIdleWaste, CondWaits, CondImageAge, CondAgentUpdate}

// finding is a condition holding for a pool now.
type finding struct {
	severity string
	count    int
	summary  string
	detail   []string    // lines for the thread; each is posted once
	nodes    []pool.Node // nodes the alert's buttons act on
}

// evaluate returns the conditions holding for p now, from what the watcher
// has seen of it (this cycle's fetches and earlier ones).
func (w *Watcher) evaluate(now time.Time, p *pool.Pool, ps *poolState) map[string]finding {
	out := map[string]finding{}
	switch p.State {
	case pool.StateUnhealthy, pool.StateOffline:
		s := fmt.Sprintf("Pool %s is %s", p.Name, p.State)
		if !p.OfflineSince.IsZero() {
			s += " since " + clockTime(p.OfflineSince)
		}
		if p.SizingAttempts > 0 {
			s += fmt.Sprintf(" (%d failed sizing attempts)", p.SizingAttempts)
		}
		out[CondPoolState] = finding{severity: "critical", count: 1, summary: s}
	}

	var failed, stuck, offline []pool.Node
	for _, n := range ps.nodes {
		switch {
		case n.State.Failed():
			failed = append(failed, n)
		case n.State.Class() == pool.ClassStarting && !n.StateChangedOn.IsZero() && now.Sub(n.StateChangedOn) > w.stuck:
			stuck = append(stuck, n)
		case n.State == pool.NodeOffline && !n.StateChangedOn.IsZero() && now.Sub(n.StateChangedOn) > w.offline:
			offline = append(offline, n)
		}
	}
	if len(failed) > 0 {
		// The count is of every agent that failed in this incident, so
		// that the message grows as more fail; the states are of now.
		ids := map[int]bool{}
		if a := w.alerts[p.Name+"/"+CondFailedNodes]; a != nil && a.Firing {
			ids = nodeIDs(a.Detail)
		}
		for _, n := range failed {
			ids[n.ID] = true
		}
		out[CondFailedNodes] = finding{severity: "critical", count: len(ids),
			summary: fmt.Sprintf("%s of %s failed (now %s)", plural(len(ids), "agent"), p.Name, byState(failed)),
			detail:  nodeLines(failed), nodes: failed}
	}
	if len(stuck) > 0 {
		out[CondStuckNodes] = finding{severity: "warning", count: len(stuck),
			summary: fmt.Sprintf("%s in %s starting for more than %s (%s)", plural(len(stuck), "agent"), p.Name, lasted(w.stuck), byState(stuck)),
			detail:  nodeLines(stuck), nodes: stuck}
	}
	if len(offline) > 0 {
		out[CondAgentsOffline] = finding{severity: "warning", count: len(offline),
			summary: fmt.Sprintf("%s in %s offline for more than %s", plural(len(offline), "agent"), p.Name, lasted(w.offline)),
			detail:  nodeLines(offline), nodes: offline}
	}

	// Error log entries: firing while new ones came within errorWindow.
	key := p.Name + "/" + CondErrorLogs
	prev := w.alerts[key]
	firing := prev != nil && prev.Firing
	switch {
	case !firing:
		ps.errorCount = 0 // a new incident counts from the entries that start it
	case ps.errorCount == 0: // after a restart, go on from what was stored
		ps.errorCount = prev.Count
		if ps.lastError.IsZero() {
			ps.lastError = prev.UpdatedAt
		}
	}
	var errLines []string
	latest := ""
	for _, e := range ps.newErrors {
		ps.errorCount++
		if e.Time.After(ps.lastError) {
			ps.lastError = e.Time
		}
		latest = e.Message
		// Without id and time: the same error repeated every sizing pass
		// goes to the thread once per incident.
		errLines = append(errLines, fmt.Sprintf(":x: %s: %s", e.Operation, e.Message))
	}
	ps.newErrors = nil
	if !ps.lastError.IsZero() && now.Sub(ps.lastError) <= errorWindow && ps.errorCount > 0 {
		summary := ""
		if latest == "" && firing {
			summary = prev.Summary
		} else {
			summary = fmt.Sprintf("%s in %s's diagnostics, the latest: %s", plural(ps.errorCount, "error"), p.Name, trim(latest, 200))
		}
		sev := "warning"
		if isCapacity(latest) || firing && prev.Severity == "critical" {
			sev = "critical"
		}
		out[CondErrorLogs] = finding{severity: sev, count: ps.errorCount, summary: summary, detail: errLines}
	}

	// Saturated: every agent busy at max and jobs waiting, for a while.
	if ps.haveNodes && p.Max > 0 && ps.counts.Busy >= p.Max && ps.queue > 0 {
		if ps.satSince.IsZero() {
			ps.satSince = now
		}
		if now.Sub(ps.satSince) >= w.saturated {
			out[CondSaturated] = finding{severity: "warning", count: ps.queue,
				summary: fmt.Sprintf("All %d agents of %s are busy at max and %s waiting", p.Max, p.Name,
					plural(ps.queue, "job"))}
		}
	} else {
		ps.satSince = time.Time{}
	}

	if ps.schedFailure != "" {
		out[CondScheduleFailed] = finding{severity: "warning", count: 1,
			summary: fmt.Sprintf("A scheduled change of %s failed: %s", p.Name, trim(ps.schedFailure, 300))}
	}

	if ps.waitFinding != nil {
		out[CondWaits] = *ps.waitFinding
	}

	w.driftFindings(now, p, ps, out)

	for _, f := range ps.costFindings {
		out[f.Condition] = finding{severity: f.Severity, count: f.Count, summary: f.Summary, detail: lines(f.Detail)}
	}
	w.group(p.Name, p.State, out)
	return out
}

// failureGroup are the conditions one failure of a pool raises together:
// a VM that fails logs an error and makes the pool unhealthy. They make one
// alert, as Alertmanager's inhibition would: the one already firing, else
// the first active in this order; the others' detail goes to its thread.
var failureGroup = []string{CondFailedNodes, CondErrorLogs, CondPoolState}

func (w *Watcher) group(name string, state pool.State, out map[string]finding) {
	leader := ""
	for _, c := range failureGroup {
		if a := w.alerts[name+"/"+c]; a != nil && a.Firing {
			leader = c
			break
		}
	}
	if leader == "" {
		for _, c := range failureGroup {
			if _, ok := out[c]; ok {
				leader = c
				break
			}
		}
	}
	if leader == "" {
		return
	}
	lf, active := out[leader]
	if !active {
		// The leader's own condition cleared but the failure goes on in
		// another form: it stays open as it was.
		a := w.alerts[name+"/"+leader]
		lf = finding{severity: a.Severity, count: a.Count, summary: a.Summary}
	}
	merged := active
	for _, c := range failureGroup {
		f, ok := out[c]
		if c == leader || !ok {
			continue
		}
		if a := w.alerts[name+"/"+c]; a != nil && a.Firing {
			continue // posted before the grouping began: left to resolve itself
		}
		lf.detail = append(lf.detail, f.detail...)
		lf.nodes = append(lf.nodes, f.nodes...)
		if c == CondPoolState && !strings.Contains(lf.summary, "; pool ") {
			lf.summary += "; pool " + string(state)
		}
		delete(out, c)
		merged = true
	}
	if merged {
		out[leader] = lf
	}
}

// nodeIDs reads the node ids of remembered detail lines "name (node N): …".
func nodeIDs(detail string) map[int]bool {
	ids := map[int]bool{}
	for _, l := range strings.Split(detail, "\n") {
		i := strings.Index(l, "(node ")
		if i < 0 {
			continue
		}
		var id int
		if _, err := fmt.Sscanf(l[i:], "(node %d)", &id); err == nil {
			ids[id] = true
		}
	}
	return ids
}

func isCapacity(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "quota") || strings.Contains(m, "capacity")
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func nodeLines(nodes []pool.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		name := n.Name
		if name == "" {
			name = fmt.Sprintf("node %d", n.ID)
		}
		l := fmt.Sprintf("%s (node %d): %s", name, n.ID, n.State)
		if !n.StateChangedOn.IsZero() {
			l += " since " + clockTime(n.StateChangedOn)
		}
		if n.ComputeState != "" {
			l += ", VM " + n.ComputeState
		}
		out = append(out, l)
	}
	return out
}

func byState(nodes []pool.Node) string {
	m := map[pool.NodeState]int{}
	for _, n := range nodes {
		m[n.State]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[pool.NodeState(k)])
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
