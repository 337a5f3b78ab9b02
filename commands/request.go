// Package commands is the /pool grammar: a request (who, from where, the
// text) in, a reply (Block Kit blocks with a plain-text fallback) out,
// whatever transport carried it.
package commands

import (
	"context"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
)

// Request is one command, typed or clicked.
type Request struct {
	UserID    string
	UserName  string
	Groups    []string // Slack user-group ids the user belongs to
	ChannelID string
	Text      string // what follows "/pool", e.g. "up linux-ci for=3h"
	Source    string // "slack", "home" (the Home tab and forms) or "console"
	RequestID string
	// Action is set when the request comes from a button press.
	Action *Action
	// TriggerID lets the request open a form (views.open) within 3 s of
	// Slack sending it; empty from the console.
	TriggerID string
}

// Action is a button press on a message poolbot posted.
type Action struct {
	ActionID string
	Value    string
}

// Reply is what a command answers.
type Reply struct {
	Text            string // plain-text fallback; always set
	Blocks          []slack.Block
	InChannel       bool // visible to the channel (changes), else ephemeral
	ReplaceOriginal bool // edits the message the request came from (progress, confirmations)
}

// Responder delivers replies to the person who asked. A command may respond
// more than once (progress of a long change), at most 5 times.
type Responder interface {
	Respond(ctx context.Context, r Reply) error
}

// Scheduler is what commands need of the scheduler.
type Scheduler interface {
	// Next returns the pool's next n scheduled changes from now, in its
	// schedule's time zone; none when no schedule claims the pool.
	Next(ctx context.Context, pool string, n int) ([]pool.Change, error)
	// Hold keeps the pool at s against its schedule until the given time, or
	// until its next scheduled change when until is zero. It returns the end
	// of the hold.
	Hold(ctx context.Context, pool string, s pool.Settings, until time.Time, by string) (time.Time, error)
	// Release ends a hold (after `down`, for example).
	Release(ctx context.Context, pool string) error
	// Skip skips the pool's next scheduled change and returns it.
	Skip(ctx context.Context, pool string, by string) (pool.Change, error)
	// Unskip undoes the pool's skip; pool.ErrNotFound when nothing is
	// skipped.
	Unskip(ctx context.Context, pool string) error
	// Daytime returns the settings the pool should have when it is up: those
	// saved before its last scale-down, or its schedule's working-hours
	// entry; false when there are none.
	Daytime(ctx context.Context, pool string) (pool.Settings, bool, error)
}
