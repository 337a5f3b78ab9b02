package scheduler

import (
	"context"
	"errors"

	"github.com/poolbot/poolbot/pool"
)

// The scheduler's values in the store, one key per pool. Only this file
// spells them; the watcher reads a failure through Failure.

// appliedKey holds the last occurrence applied to pool name, JSON.
func appliedKey(name string) string { return "schedule.applied/" + name }

// claimedKey holds the last claim key this owner took for pool name.
func claimedKey(name string) string { return "schedule.claimed/" + name }

// claimTimeKey holds when the change claim names was claimed: a claim older
// than takeoverAfter whose change never landed was left by a replica that
// died.
func claimTimeKey(claim string) string { return "schedule.claimtime/" + claim }

// driftKey holds the hand change of pool name last reported.
func driftKey(name string) string { return "schedule.drift/" + name }

// autoStateKey holds the autopilot's last decision for pool name and when
// it was applied, JSON.
func autoStateKey(name string) string { return "autopilot.state/" + name }

// FailureKey holds the message of pool name's scheduled change that keeps
// failing, "" once it succeeds.
func FailureKey(name string) string { return "schedule.failure/" + name }

// Failure returns the message of pool name's scheduled change that keeps
// failing, or "" when it does not (it succeeded since, or never failed
// enough to be told). The watcher alerts on it. Errors are kv's.
func Failure(ctx context.Context, kv pool.KV, name string) (string, error) {
	v, err := kv.Get(ctx, FailureKey(name))
	if errors.Is(err, pool.ErrNotFound) {
		return "", nil
	}
	return v, err
}
