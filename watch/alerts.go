package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// reconcile brings the alerts of pool p in line with the conditions active
// now, as Alertmanager does: a new incident is posted once, a change of its
// count or summary edits the message in place, new detail goes to its
// thread, a long-firing alert is repeated in the thread after the repeat
// interval, and an alert clear for resolveAfter is marked resolved in place.
// Every state change is stored before its messages are queued; every post
// and reply is claimed in the store so that no replica or restart sends it
// twice.
func (w *Watcher) reconcile(ctx context.Context, now time.Time, p pool.Pool, ps *poolState, active map[string]finding, mutes []pool.Mute) error {
	var errs []error
	conds := make([]string, 0, len(active))
	for c := range active {
		conds = append(conds, c)
	}
	sort.Strings(conds)
	for _, c := range conds {
		delete(ps.clearSince, c)
		if err := w.fire(ctx, now, p, c, active[c], muted(mutes, p.Name, c, now)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range Conditions {
		if _, ok := active[c]; ok {
			continue
		}
		a := w.alerts[p.Name+"/"+c]
		if a == nil || !a.Firing {
			delete(ps.clearSince, c)
			continue
		}
		since, ok := ps.clearSince[c]
		if !ok {
			ps.clearSince[c] = now
			since = now
		}
		if now.Sub(since) < w.resolveA {
			continue
		}
		if err := w.resolve(ctx, now, p, a); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(ps.clearSince, c)
	}
	return errors.Join(errs...)
}

func (w *Watcher) fire(ctx context.Context, now time.Time, p pool.Pool, cond string, f finding, isMuted bool) error {
	key := p.Name + "/" + cond
	a := w.alerts[key]
	if a == nil || !a.Firing {
		next := &pool.Alert{Key: key, Pool: p.Name, Condition: cond, Severity: f.severity, Firing: true,
			Count: f.count, Summary: f.summary, Channel: w.route(p.Name), StartedAt: now, UpdatedAt: now}
		if a != nil {
			next.Incident = a.Incident
		}
		next.Incident++
		// Stored before it is posted: a restart finds it firing and unposted
		// rather than posting a second incident.
		if err := w.put(ctx, next); err != nil {
			return err
		}
		a = next
	}
	changed := a.Count != f.count || a.Summary != f.summary || a.Severity != f.severity
	if changed {
		a.Count, a.Summary, a.Severity, a.UpdatedAt = f.count, f.summary, f.severity, now
	}
	if a.MessageKey == "" {
		if isMuted {
			if changed {
				return w.put(ctx, a)
			}
			return nil
		}
		return w.post(ctx, now, p, a, f)
	}
	dirty := changed
	if changed {
		text, blocks := w.render(*a, p, f.nodes)
		if err := w.enqueue(ctx, now, a, "update", text, blocks); err != nil {
			return err
		}
	}
	if fresh := newLines(a.Detail, f.detail); len(fresh) > 0 {
		if err := w.reply(ctx, now, a, strings.Join(fresh, "\n")); err != nil {
			return err
		}
		a.Detail = remember(a.Detail, fresh)
		dirty = true
	}
	if !isMuted && now.Sub(a.NotifiedAt) >= w.repeat {
		msg := fmt.Sprintf(":repeat: Still firing after %s: %s", lasted(now.Sub(a.StartedAt)), a.Summary)
		if err := w.reply(ctx, now, a, msg); err != nil {
			return err
		}
		a.NotifiedAt = now
		dirty = true
	}
	if dirty {
		return w.put(ctx, a)
	}
	return nil
}

// post queues an incident's first message and its detail. The claim on the
// message key makes it happen once across replicas and restarts.
func (w *Watcher) post(ctx context.Context, now time.Time, p pool.Pool, a *pool.Alert, f finding) error {
	mk := fmt.Sprintf("alert/%s/%s/%d", a.Pool, a.Condition, a.Incident)
	claimed, err := w.o.Store.Claim(ctx, mk, w.o.Owner)
	if err != nil {
		return fmt.Errorf("claim alert %s: %w", mk, err)
	}
	a.MessageKey, a.NotifiedAt = mk, now
	if claimed {
		text, blocks := w.render(*a, p, f.nodes)
		if _, err := w.o.Store.Enqueue(ctx, pool.OutboxMessage{Channel: a.Channel, Key: mk, Op: "post",
			Text: text, Blocks: blocks, Created: now}); err != nil {
			a.MessageKey = ""
			return fmt.Errorf("queue alert %s: %w", mk, err)
		}
	}
	if len(f.detail) > 0 {
		if err := w.reply(ctx, now, a, strings.Join(f.detail, "\n")); err != nil {
			return err
		}
		a.Detail = remember("", f.detail)
	}
	return w.put(ctx, a)
}

func (w *Watcher) resolve(ctx context.Context, now time.Time, p pool.Pool, a *pool.Alert) error {
	a.Firing, a.ResolvedAt, a.UpdatedAt = false, now, now
	if err := w.put(ctx, a); err != nil {
		return err
	}
	if a.MessageKey == "" { // muted all along: nothing was said
		return nil
	}
	text, blocks := w.render(*a, p, nil)
	if err := w.enqueue(ctx, now, a, "update", text, blocks); err != nil {
		return err
	}
	return w.reply(ctx, now, a, fmt.Sprintf(":white_check_mark: Resolved after %s.", lasted(now.Sub(a.StartedAt))))
}

// enqueue queues an edit of the alert's message. Edits are idempotent: no
// claim, and the sender may merge pending edits of one message.
func (w *Watcher) enqueue(ctx context.Context, now time.Time, a *pool.Alert, op, text, blocks string) error {
	if _, err := w.o.Store.Enqueue(ctx, pool.OutboxMessage{Channel: a.Channel, Key: a.MessageKey, Op: op,
		Text: text, Blocks: blocks, Created: now}); err != nil {
		return fmt.Errorf("queue %s of %s: %w", op, a.MessageKey, err)
	}
	return nil
}

// reply queues a thread reply once: claimed by its text's hash.
func (w *Watcher) reply(ctx context.Context, now time.Time, a *pool.Alert, text string) error {
	h := fnv.New64a()
	h.Write([]byte(text))
	ck := fmt.Sprintf("%s/reply/%x", a.MessageKey, h.Sum64())
	claimed, err := w.o.Store.Claim(ctx, ck, w.o.Owner)
	if err != nil {
		return fmt.Errorf("claim reply %s: %w", ck, err)
	}
	if !claimed {
		return nil
	}
	// Replies carry Azure DevOps' log lines and pool names: escaped here,
	// after the claim on the text as written, so that the claim key stays.
	if _, err := w.o.Store.Enqueue(ctx, pool.OutboxMessage{Channel: a.Channel, Key: a.MessageKey, Op: "reply",
		Text: slackmsg.Escape(trim(text, 3500)), Created: now}); err != nil {
		return fmt.Errorf("queue reply to %s: %w", a.MessageKey, err)
	}
	return nil
}

func (w *Watcher) put(ctx context.Context, a *pool.Alert) error {
	w.alerts[a.Key] = a
	if err := w.o.Store.PutAlert(ctx, *a); err != nil {
		return fmt.Errorf("save alert %s: %w", a.Key, err)
	}
	return nil
}

// route returns the channel of a pool's alerts: the first route whose globs
// match it, else the default channel.
func (w *Watcher) route(name string) string {
	for _, r := range w.o.Alerts.Routes {
		for _, g := range r.Pools {
			if ok, _ := path.Match(g, name); ok {
				return r.Channel
			}
		}
	}
	return w.o.DefaultChannel
}

// muted reports whether a mute covers the pool's condition now. A mute's
// pool may be a glob; an empty condition mutes them all.
func muted(mutes []pool.Mute, name, cond string, now time.Time) bool {
	for _, m := range mutes {
		if !m.Until.After(now) {
			continue
		}
		if m.Condition != "" && m.Condition != cond {
			continue
		}
		if m.Pool == name || m.Pool == "" || m.Pool == "*" {
			return true
		}
		if ok, _ := path.Match(m.Pool, name); ok {
			return true
		}
	}
	return false
}

// newLines returns the lines not yet in the remembered detail.
func newLines(remembered string, lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(remembered, "\n") {
		seen[l] = true
	}
	var out []string
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// remember adds lines to the remembered detail, keeping the newest.
func remember(remembered string, lines []string) string {
	var all []string
	if remembered != "" {
		all = strings.Split(remembered, "\n")
	}
	all = append(all, lines...)
	if len(all) > maxDetailLines {
		all = all[len(all)-maxDetailLines:]
	}
	return strings.Join(all, "\n")
}
