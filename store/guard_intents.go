package store

import (
	"context"
	"errors"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// The write-ahead records of changes (pool.IntentStore) and the job history
// are writes like any other: a guarded store refuses them once its file has
// gone. The replay window (Remember) is not guarded: what it records matters
// only for minutes, and refusing it would hide the store's own error behind
// "could not check for a repeat". Guarded must implement pool.IntentStore
// itself, since change finds it by a type assertion that an embedded
// pool.Store would hide.
var _ pool.IntentStore = (*Guarded)(nil)

var errNoIntents = errors.New("this store keeps no intents")

func (g *Guarded) intents() (pool.IntentStore, error) {
	is, ok := g.Store.(pool.IntentStore)
	if !ok {
		return nil, errNoIntents
	}
	return is, nil
}

func (g *Guarded) BeginIntent(ctx context.Context, in pool.Intent, msgs ...pool.OutboxMessage) (int64, error) {
	is, err := g.intents()
	if err == nil {
		err = g.guard()
	}
	if err != nil {
		return 0, err
	}
	return is.BeginIntent(ctx, in, msgs...)
}

func (g *Guarded) StepIntent(ctx context.Context, id int64, step string, o pool.Outcome) error {
	is, err := g.intents()
	if err == nil {
		err = g.guard()
	}
	if err != nil {
		return err
	}
	return is.StepIntent(ctx, id, step, o)
}

func (g *Guarded) FinishIntent(ctx context.Context, id int64, o pool.Outcome) error {
	is, err := g.intents()
	if err == nil {
		err = g.guard()
	}
	if err != nil {
		return err
	}
	return is.FinishIntent(ctx, id, o)
}

func (g *Guarded) MarkReported(ctx context.Context, requestID string) error {
	is, err := g.intents()
	if err == nil {
		err = g.guard()
	}
	if err != nil {
		return err
	}
	return is.MarkReported(ctx, requestID)
}

// Unsettled only reads.
func (g *Guarded) Unsettled(ctx context.Context) ([]pool.Intent, error) {
	is, err := g.intents()
	if err != nil {
		return nil, err
	}
	return is.Unsettled(ctx)
}

func (g *Guarded) ReportIntent(ctx context.Context, id int64, msgs ...pool.OutboxMessage) error {
	is, err := g.intents()
	if err == nil {
		err = g.guard()
	}
	if err != nil {
		return err
	}
	return is.ReportIntent(ctx, id, msgs...)
}

func (g *Guarded) ReleaseLeases(ctx context.Context, ownerPrefix string) ([]string, error) {
	is, err := g.intents()
	if err == nil {
		err = g.guard()
	}
	if err != nil {
		return nil, err
	}
	return is.ReleaseLeases(ctx, ownerPrefix)
}

func (g *Guarded) AddJobs(ctx context.Context, p string, jobs []pool.Job, cursor string) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.AddJobs(ctx, p, jobs, cursor)
}

func (g *Guarded) DeleteJobs(ctx context.Context, before time.Time) (int64, error) {
	if err := g.guard(); err != nil {
		return 0, err
	}
	return g.Store.DeleteJobs(ctx, before)
}
