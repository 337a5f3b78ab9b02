package change

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// RolloutPlan is how an image rollout moves a pool: a canary first,
// watched, then the rest in batches.
type RolloutPlan struct {
	Canary       int           // agents moved first; at least 1
	Batch        int           // idle agents reimaged at a time after the canary
	OnlineWithin time.Duration // a moved agent must come online within it
	Watch        time.Duration // how long the canary is watched
	// MaxFailureIncrease is how much more often (0.2: 20 points) than the
	// old image's recent jobs the new image's may fail, once MinJobs ran on it.
	MaxFailureIncrease float64
	MinJobs            int
}

func (p RolloutPlan) withDefaults() RolloutPlan {
	if p.Canary <= 0 {
		p.Canary = 1
	}
	if p.Batch <= 0 {
		p.Batch = 2
	}
	if p.OnlineWithin <= 0 {
		p.OnlineWithin = 15 * time.Minute
	}
	if p.Watch <= 0 {
		p.Watch = 30 * time.Minute
	}
	if p.MaxFailureIncrease <= 0 {
		p.MaxFailureIncrease = 0.2
	}
	if p.MinJobs <= 0 {
		p.MinJobs = 3
	}
	return p
}

// The phases of a rollout.
const (
	PhaseCanary     = "canary"   // the model has the new image; the canary is being moved
	PhaseWatch      = "watch"    // the canary is moved and watched
	PhaseBatches    = "batches"  // the rest are moved a batch at a time
	PhaseRollback   = "rollback" // the previous image is back on the model; moved agents go back
	PhaseDone       = "done"
	PhaseRolledBack = "rolledback"
)

// Rollout is a pool's image rollout as the store keeps it: enough to go on
// where it was after a restart or on another replica.
type Rollout struct {
	Pool   string
	Phase  string
	Paused bool
	// Held is set while the canary is watched: the model is back on the
	// previous image, so that agents the pool adds meanwhile do not get an
	// image not yet known to be good.
	Held       bool
	Before     pool.Image // the model's image before the rollout
	Image      pool.Image // the new image, as the model has it
	Plan       RolloutPlan
	Canary     []int     // node ids moved as the canary
	CanaryAt   time.Time // when they were reimaged
	Started    time.Time
	Ended      time.Time
	Baseline   float64   // the old image's recent job failure rate
	BaseJobs   int       // …over this many jobs
	Moved      []int     // node ids reimaged onto the new image (the canary included)
	Back       []int     // node ids reimaged back onto the previous image
	Online     []int     // moved node ids seen online on the new image
	Agents     []string  // names of the agents seen on the new image, whose jobs count
	NewJobs    int       // finished jobs that ran on the new image, as last counted
	NewFailed  int       // …of which failed
	Evidence   string    // why it was rolled back
	PhaseAt    time.Time // when it entered its phase (batches, rollback)
	Actor      Actor
	Command    string
	Channel    string
	Who        string
	MessageKey string
}

// PhaseSince is when the rollout entered its phase, as far as it records:
// the canary's reimage for the watch, the start otherwise.
func (r Rollout) PhaseSince() time.Time {
	switch {
	case r.Phase == PhaseWatch && !r.CanaryAt.IsZero():
		return r.CanaryAt
	case !r.PhaseAt.IsZero():
		return r.PhaseAt
	}
	return r.Started
}

// Active reports whether the rollout still has work.
func (r Rollout) Active() bool {
	return r.Phase == PhaseCanary || r.Phase == PhaseWatch || r.Phase == PhaseBatches || r.Phase == PhaseRollback
}

// RolloutKey is the store key of a pool's rollout.
func RolloutKey(name string) string { return "image.rollout/" + name }

var rolloutIndex = pool.Index{Key: "image.rollouts"} // the pools with an active rollout

// lostReimage is how long a canary agent may stay idle on the old image
// before its reimage is taken for lost and asked again.
const lostReimage = 5 * time.Minute

// baselineWindow is how far back the old image's failure rate is read.
const baselineWindow = 24 * time.Hour

// StartRollout sets pool name's model to img and starts moving its agents
// onto it through a canary (StepRollouts does the rest). Errors, with
// nothing changed: a rollout already running (KindConflict), a canary
// larger than the pool's max (KindInvalid), an image Azure refuses (in
// another region, unknown: its words).
func (c *Changer) StartRollout(ctx context.Context, a Actor, command, name string, img pool.Image, plan RolloutPlan, channel, who string) (Rollout, error) {
	plan = plan.withDefaults()
	unlock, err := c.Lock(ctx, name, a, command)
	if err != nil {
		return Rollout{}, err
	}
	defer unlock()
	if cur, err := c.Rollout(ctx, name); err == nil && cur.Active() {
		return Rollout{}, &pool.Error{Kind: pool.KindConflict, Pool: name,
			Msg: fmt.Sprintf("a rollout of `%s` to %s is already running (%s); pause, resume or cancel it with `/pool image %s pause|resume|cancel`",
				cur.Image.Short(), name, cur.Phase, name)}
	} else if err != nil && !errors.Is(err, pool.ErrNotFound) {
		return Rollout{}, fmt.Errorf("reading the rollout of %s: %w", name, err)
	}
	p, err := c.svc.Get(ctx, name)
	if err != nil {
		return Rollout{}, err
	}
	if p.ScaleSet == nil {
		return Rollout{}, &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: name + " has no scale set I can read"}
	}
	if plan.Canary > p.Max {
		return Rollout{}, &pool.Error{Kind: pool.KindInvalid, Pool: name,
			Msg: fmt.Sprintf("a canary of %d agents is larger than %s's max of %d", plan.Canary, name, p.Max)}
	}
	now := c.clock.Now()
	r := Rollout{Pool: name, Phase: PhaseCanary, Before: p.ScaleSet.Image, Plan: plan, Started: now,
		Actor: a, Command: command, Channel: channel, Who: who, MessageKey: "rollout/" + token()}
	r.Baseline, r.BaseJobs = c.failureRate(ctx, name, now.Add(-baselineWindow), nil)
	before, after, err := c.setImage(ctx, name, r.Before, img)
	if err != nil {
		c.auditRollout(ctx, r, "set image "+img.String(), "error: "+err.Error())
		return Rollout{}, err
	}
	r.Before, r.Image = before, after
	if err := c.saveRollout(ctx, r, true); err != nil {
		// The model has the image but no rollout is recorded: put it back.
		if _, _, berr := c.setImage(ctx, name, after, before); berr != nil {
			c.log.Error("rollout not recorded and its image not put back", "pool", name, "err", berr)
		}
		return Rollout{}, err
	}
	if err := c.store.Put(ctx, PreviousImageKey(name), before.String()); err != nil {
		c.log.Warn("previous image not recorded", "pool", name, "err", err)
	}
	c.auditRollout(ctx, r, "set image "+after.String()+" (rollout, canary "+fmt.Sprint(plan.Canary)+")", "ok")
	c.tellRollout(ctx, r, "post")
	return r, nil
}

// Rollout returns pool name's latest rollout; pool.ErrNotFound if none.
func (c *Changer) Rollout(ctx context.Context, name string) (Rollout, error) {
	v, err := c.store.Get(ctx, RolloutKey(name))
	if err != nil {
		return Rollout{}, err
	}
	var r Rollout
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return Rollout{}, fmt.Errorf("rollout of %s in the store: %w", name, err)
	}
	return r, nil
}

// ControlRollout pauses, resumes or cancels pool name's rollout. Cancel
// rolls back: the previous image on the model, moved idle agents reimaged.
func (c *Changer) ControlRollout(ctx context.Context, a Actor, command, name, op string) (Rollout, error) {
	unlock, err := c.Lock(ctx, name, a, command)
	if err != nil {
		return Rollout{}, err
	}
	defer unlock()
	r, err := c.Rollout(ctx, name)
	if errors.Is(err, pool.ErrNotFound) || (err == nil && !r.Active()) {
		return r, &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: "no image rollout is running on " + name}
	}
	if err != nil {
		return r, err
	}
	switch op {
	case "pause":
		r.Paused = true
	case "resume":
		r.Paused = false
	case "cancel":
		if r.Phase == PhaseRollback {
			return r, &pool.Error{Kind: pool.KindConflict, Pool: name, Msg: name + "'s rollout is already rolling back"}
		}
		r.Paused = false
		if err := c.rollBack(ctx, &r, "cancelled by "+a.Name); err != nil {
			return r, err
		}
	default:
		return r, &pool.Error{Kind: pool.KindInvalid, Pool: name, Msg: "unknown rollout operation " + op}
	}
	if err := c.saveRollout(ctx, r, r.Active()); err != nil {
		return r, err
	}
	c.auditRollout(ctx, r, op+" rollout", "ok")
	c.tellRollout(ctx, r, "update")
	return r, nil
}

// StepRollouts moves every active rollout on by one step. The leader calls
// it every minute or so; a step is idempotent, so one cut by a restart is
// done again by the next call, on this replica or another.
func (c *Changer) StepRollouts(ctx context.Context) error {
	names, err := c.activeRollouts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := c.StepRollout(ctx, name); err != nil && pool.KindOf(err) != pool.KindBusy {
			errs = append(errs, fmt.Errorf("rollout of %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// StepRollout moves pool name's rollout on by one step.
func (c *Changer) StepRollout(ctx context.Context, name string) error {
	sys := Actor{ID: "poolbot", Name: "poolbot", Source: "rollout"}
	unlock, err := c.Lock(ctx, name, sys, "image rollout")
	if err != nil {
		return err
	}
	defer unlock()
	r, err := c.Rollout(ctx, name)
	if err != nil {
		return err
	}
	if !r.Active() || r.Paused {
		return nil
	}
	before := r.Phase
	if err := c.step(ctx, &r); err != nil {
		return err
	}
	if err := c.saveRollout(ctx, r, r.Active()); err != nil {
		return err
	}
	if r.Phase != before || !r.Active() {
		c.tellRollout(ctx, r, "update")
	}
	return nil
}

func (c *Changer) step(ctx context.Context, r *Rollout) error {
	p, err := c.svc.Get(ctx, r.Pool)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	onNew := func(n pool.Node) bool {
		return n.Image == r.Image || slices.Contains(r.Moved, n.ID) && n.Image.IsZero()
	}
	switch r.Phase {
	case PhaseRollback:
		return c.stepBack(ctx, r, p.Nodes)
	case PhaseCanary:
		// The canary is first the agents the pool made on the new image
		// since the rollout began (it grew), then idle ones reimaged.
		var fresh, ids []int
		for _, n := range p.Nodes {
			if n.Image == r.Image && !slices.Contains(r.Moved, n.ID) && !n.State.Failed() && n.State.Class() != pool.ClassGoing && len(fresh) < r.Plan.Canary {
				fresh = append(fresh, n.ID)
			}
		}
		for _, n := range p.Nodes {
			if n.State == pool.NodeIdle && !onNew(n) && len(fresh)+len(ids) < r.Plan.Canary {
				ids = append(ids, n.ID)
			}
		}
		if len(fresh)+len(ids) == 0 {
			return nil // no idle agent yet; new ones get the image as the pool grows, and are the canary
		}
		// Recorded before Azure hears of it, so that a restart watches them.
		r.Canary, r.CanaryAt, r.Phase = append(fresh, ids...), now, PhaseWatch
		r.Moved = append(r.Moved, r.Canary...)
		if err := c.saveRollout(ctx, *r, true); err != nil {
			return err
		}
		if len(fresh) > 0 {
			c.auditRollout(ctx, *r, "canary: new nodes "+joinInts(fresh)+" on "+r.Image.String(), "ok")
		}
		if len(ids) == 0 {
			return nil
		}
		err := c.svc.ReimageNodes(ctx, r.Pool, ids)
		c.auditRollout(ctx, *r, "reimage canary nodes "+joinInts(ids), result(err))
		return err
	}
	// Watch and batches: the agents on the new image must stay healthy.
	if bad := c.health(ctx, r, p.Nodes, now); bad != "" {
		return c.rollBack(ctx, r, bad)
	}
	if r.Phase == PhaseWatch && !r.Held {
		moving := false
		var lost []int
		for _, n := range p.Nodes {
			if slices.Contains(r.Canary, n.ID) && n.Image != r.Image && !n.State.Failed() {
				moving = true // its reimage has not taken the model's image yet
				if n.State == pool.NodeIdle && now.Sub(r.CanaryAt) > lostReimage {
					lost = append(lost, n.ID)
				}
			}
		}
		if len(lost) > 0 {
			// Still idle on the old image: the reimage was recorded but a
			// restart cut it before Azure heard of it. Ask again; the
			// canary is watched from now.
			r.CanaryAt = now
			if err := c.saveRollout(ctx, *r, true); err != nil {
				return err
			}
			err := c.svc.ReimageNodes(ctx, r.Pool, lost)
			c.auditRollout(ctx, *r, "reimage canary nodes "+joinInts(lost)+" again", result(err))
			return err
		}
		if !moving {
			_, _, err := c.setImage(ctx, r.Pool, r.Image, r.Before)
			c.auditRollout(ctx, *r, "hold the model on "+r.Before.String()+" while the canary is watched", result(err))
			if err != nil {
				return err
			}
			r.Held = true
		}
	}
	if r.Phase == PhaseWatch {
		if !r.Held || now.Sub(r.CanaryAt) < r.Plan.Watch || (r.NewJobs < r.Plan.MinJobs && now.Sub(r.CanaryAt) < 3*r.Plan.Watch) {
			return nil
		}
		_, _, err := c.setImage(ctx, r.Pool, r.Before, r.Image)
		c.auditRollout(ctx, *r, "canary healthy: set image "+r.Image.String()+" again", result(err))
		if err != nil {
			return err
		}
		r.Phase, r.Held, r.PhaseAt = PhaseBatches, false, now
		c.auditRollout(ctx, *r, fmt.Sprintf("rollout: canary healthy after %d jobs, %d failed", r.NewJobs, r.NewFailed), "ok")
	}
	// Batches: one at a time, each online before the next; busy agents wait for their job.
	var idle []int
	left := 0
	for _, n := range p.Nodes {
		switch {
		case onNew(n) && n.State.Class() == pool.ClassStarting:
			return nil // the previous batch is still coming up
		case onNew(n) || n.State.Class() == pool.ClassGoing || n.State.Failed():
		case n.State == pool.NodeIdle:
			idle = append(idle, n.ID)
			left++
		default:
			left++
		}
	}
	if left == 0 {
		r.Phase, r.Ended = PhaseDone, now
		c.auditRollout(ctx, *r, "rollout of "+r.Image.String()+" done", "ok")
		return nil
	}
	if len(idle) > r.Plan.Batch {
		idle = idle[:r.Plan.Batch]
	}
	if len(idle) == 0 {
		return nil
	}
	r.Moved = append(r.Moved, idle...)
	if err := c.saveRollout(ctx, *r, true); err != nil {
		return err
	}
	err = c.svc.ReimageNodes(ctx, r.Pool, idle)
	c.auditRollout(ctx, *r, "reimage nodes "+joinInts(idle), result(err))
	if err == nil {
		c.tellRollout(ctx, *r, "update")
	}
	return err
}

// health returns why the agents on the new image are unhealthy, or "".
func (c *Changer) health(ctx context.Context, r *Rollout, nodes []pool.Node, now time.Time) string {
	var bad []string
	seen := map[int]bool{}
	for _, n := range nodes {
		seen[n.ID] = true
		moved := slices.Contains(r.Moved, n.ID)
		if !moved && n.Image != r.Image {
			continue
		}
		if !slices.Contains(r.Agents, n.Name) {
			r.Agents = append(r.Agents, n.Name)
		}
		if (n.State == pool.NodeIdle || n.State == pool.NodeAssigned) && n.Image == r.Image && !slices.Contains(r.Online, n.ID) {
			r.Online = append(r.Online, n.ID)
		}
		switch {
		case n.State.Failed():
			bad = append(bad, fmt.Sprintf("agent %s is %s", n.Name, n.State))
		case moved && n.State.Class() == pool.ClassStarting && now.Sub(r.CanaryAt) > r.Plan.OnlineWithin && slices.Contains(r.Canary, n.ID):
			bad = append(bad, fmt.Sprintf("agent %s did not come online within %s", n.Name, r.Plan.OnlineWithin))
		}
	}
	for _, id := range r.Canary {
		if !seen[id] && !slices.Contains(r.Online, id) {
			bad = append(bad, fmt.Sprintf("canary node %d was deleted before it came online", id))
		}
	}
	var failed []string
	rate, total := c.failureRate(ctx, r.Pool, r.CanaryAt, func(j pool.Job) bool {
		on := slices.Contains(r.Agents, j.Agent) && !j.Assigned.Before(r.CanaryAt)
		if on && j.Result == "failed" {
			failed = append(failed, fmt.Sprintf("%d (%s on %s)", j.RequestID, j.Definition, j.Agent))
		}
		return on
	})
	r.NewJobs, r.NewFailed = total, len(failed)
	if total >= r.Plan.MinJobs && rate > r.Baseline+r.Plan.MaxFailureIncrease {
		bad = append(bad, fmt.Sprintf("%d of %d jobs on it failed (%.0f%%; the old image's recent rate is %.0f%% over %d jobs): %s",
			len(failed), total, 100*rate, 100*r.Baseline, r.BaseJobs, strings.Join(first(failed, 5), ", ")))
	}
	if len(bad) > 0 {
		if logs, err := c.svc.Logs(ctx, r.Pool, 0); err == nil {
			var errs []string
			for _, l := range logs {
				if l.Level == "error" && !l.Time.Before(r.CanaryAt) {
					errs = append(errs, l.Message)
				}
			}
			if len(errs) > 0 {
				bad = append(bad, "Azure DevOps says: "+strings.Join(first(errs, 2), " / "))
			}
		}
	}
	return strings.Join(bad, "; ")
}

// failureRate is the share of finished jobs (since, matching keep) that
// failed, and their number; canceled jobs are left out.
func (c *Changer) failureRate(ctx context.Context, name string, since time.Time, keep func(pool.Job) bool) (float64, int) {
	page, err := c.svc.JobHistory(ctx, name, pool.JobQuery{Since: since, MaxCalls: 5})
	if err != nil {
		c.log.Warn("job history not read for a rollout", "pool", name, "err", err)
	}
	failed, total := 0, 0
	for _, j := range page.Jobs {
		if j.Result == "canceled" || j.Result == "" || (keep != nil && !keep(j)) {
			continue
		}
		total++
		if j.Result == "failed" {
			failed++
		}
	}
	if total == 0 {
		return 0, 0
	}
	return float64(failed) / float64(total), total
}

// rollBack puts the previous image back on the model; the moved agents go
// back in the next steps. One alert tells why.
func (c *Changer) rollBack(ctx context.Context, r *Rollout, why string) error {
	_, _, err := c.setImage(ctx, r.Pool, r.Image, r.Before)
	c.auditRollout(ctx, *r, "roll back to "+r.Before.String()+": "+why, result(err))
	if err != nil {
		return err
	}
	r.Phase, r.Evidence, r.PhaseAt = PhaseRollback, why, c.clock.Now()
	if r.Channel != "" || c.channel != "" {
		ch := r.Channel
		if ch == "" {
			ch = c.channel
		}
		text := fmt.Sprintf(":rotating_light: The image `%s` of *%s* is being rolled back to `%s`: %s. %d jobs ran on it, %d failed.",
			r.Image.Short(), r.Pool, r.Before.Short(), why, r.NewJobs, r.NewFailed)
		if _, err := c.store.Enqueue(ctx, pool.OutboxMessage{Channel: ch, Key: r.MessageKey + "/alert", Op: "post", Text: text, Created: c.clock.Now()}); err != nil {
			c.log.Error("rollback alert not queued", "pool", r.Pool, "err", err)
		}
	}
	return nil
}

// stepBack reimages the moved agents still on the new image (idle ones;
// busy ones after their job) until none is left.
func (c *Changer) stepBack(ctx context.Context, r *Rollout, nodes []pool.Node) error {
	var idle []int
	left := 0
	for _, n := range nodes {
		if n.Image != r.Image || n.State.Class() == pool.ClassGoing || n.State.Failed() {
			continue
		}
		left++
		if n.State == pool.NodeIdle || n.State == pool.NodeOffline {
			idle = append(idle, n.ID)
		}
	}
	if left == 0 {
		r.Phase, r.Ended = PhaseRolledBack, c.clock.Now()
		c.auditRollout(ctx, *r, "rolled back to "+r.Before.String(), "ok")
		return nil
	}
	if len(idle) == 0 {
		return nil
	}
	r.Back = append(r.Back, idle...)
	err := c.svc.ReimageNodes(ctx, r.Pool, idle)
	c.auditRollout(ctx, *r, "reimage nodes "+joinInts(idle)+" back to "+r.Before.String(), result(err))
	return err
}

// saveRollout writes r and keeps the index of active rollouts.
func (c *Changer) saveRollout(ctx context.Context, r Rollout, active bool) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.record(ctx, func(ctx context.Context) error { return c.store.Put(ctx, RolloutKey(r.Pool), string(b)) }); err != nil {
		return &pool.Error{Kind: pool.KindUnavailable, Pool: r.Pool, Err: err,
			Msg: "poolbot's store did not answer, so the rollout could not be recorded"}
	}
	return c.record(ctx, func(ctx context.Context) error { return rolloutIndex.Set(ctx, c.store, r.Pool, active) })
}

func (c *Changer) activeRollouts(ctx context.Context) ([]string, error) {
	return rolloutIndex.Names(ctx, c.store)
}

func (c *Changer) auditRollout(ctx context.Context, r Rollout, what, res string) {
	e := c.entry(r.Actor, r.Command, r.Pool, r.Phase, what, res)
	if err := c.record(ctx, func(ctx context.Context) error { _, err := c.store.AddAudit(ctx, *e); return err }); err != nil {
		c.log.Error("rollout step not audited", "pool", r.Pool, "step", what, "err", err)
	}
	c.log.Info("rollout", "pool", r.Pool, "phase", r.Phase, "step", what, "result", res)
}

// tell posts or updates the rollout's one message.
func (c *Changer) tellRollout(ctx context.Context, r Rollout, op string) {
	if r.Channel == "" {
		return
	}
	m := pool.OutboxMessage{Channel: r.Channel, Key: r.MessageKey, Op: op, Text: r.Progress(), Created: c.clock.Now()}
	if _, err := c.store.Enqueue(ctx, m); err != nil {
		c.log.Error("rollout message not queued", "pool", r.Pool, "err", err)
	}
}

// Progress is the rollout's line, for its message and `status`.
func (r Rollout) Progress() string {
	head := fmt.Sprintf("%s's rollout of `%s` on *%s* (was `%s`)", r.Who, r.Image.Short(), r.Pool, r.Before.Short())
	var s string
	switch r.Phase {
	case PhaseCanary:
		s = fmt.Sprintf(":hourglass: %s: waiting for %d idle or new agent(s) to be the canary", head, r.Plan.Canary)
	case PhaseWatch:
		s = fmt.Sprintf(":mag: %s: canary %s reimaged, watched for %s (%d jobs on it, %d failed)", head, joinInts(r.Canary), r.Plan.Watch, r.NewJobs, r.NewFailed)
	case PhaseBatches:
		s = fmt.Sprintf(":arrows_counterclockwise: %s: canary healthy; %d agents moved, %d at a time", head, len(r.Moved), r.Plan.Batch)
	case PhaseDone:
		s = fmt.Sprintf(":white_check_mark: %s: done in %s, %d agents moved", head, r.Ended.Sub(r.Started).Round(time.Minute), len(r.Moved))
	case PhaseRollback:
		s = fmt.Sprintf(":rewind: %s: rolling back: %s", head, r.Evidence)
	case PhaseRolledBack:
		s = fmt.Sprintf(":leftwards_arrow_with_hook: %s: rolled back in %s: %s", head, r.Ended.Sub(r.Started).Round(time.Minute), r.Evidence)
	}
	if r.Paused {
		s += " — *paused*"
	}
	return s
}

func joinInts(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func result(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
