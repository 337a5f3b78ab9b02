package app

import (
	"context"
	"time"
)

// imageStep is how often the leader follows image builds and moves image
// rollouts on.
const imageStep = time.Minute

// runImages follows image builds and rollouts while this replica leads;
// their state is in the store, so a new leader goes on where the last
// one stopped.
func (a *App) runImages(ctx context.Context) error {
	for {
		if err := a.w.handler.StepImages(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("images: a build or rollout step failed; tried again next minute", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(imageStep):
		}
	}
}
