package pool

import (
	"context"
	"time"
)

// Intent is a change to a pool written to the store before it is sent to
// Azure (write-ahead), so that a process killed in the middle leaves a
// record a restart can reconcile against Azure. Its outcome is written after
// the call, with the audit entry and the Slack messages it causes, in one
// transaction. A long operation (an image swap) records its Step as it goes.
type Intent struct {
	ID        int64
	Kind      string // "settings", "image", "nodes", "create"
	Pool      string
	Actor     string // as in AuditEntry
	ActorName string
	Channel   string
	Source    string
	RequestID string
	Command   string
	Before    string // what Azure had, as the audit shows it
	Target    string // what the change asks for, in the same form
	Replica   string // the replica applying it
	Step      string // how far a long operation got
	// MessageKey is the outbox key of the Slack message that shows the
	// change's progress, "" when there is none.
	MessageKey string
	// Notice is the message to queue when the change is applied, whoever
	// finishes it: the scheduler's line for the channel. Nil: none.
	Notice *OutboxMessage
	State  string // IntentOpen, IntentApplied, IntentFailed, IntentNotApplied
	Result string // the audit result once finished
	// Reported is set once the person or channel was told the outcome.
	Reported bool
	Created  time.Time
	Updated  time.Time
}

// Intent states.
const (
	IntentOpen       = "open"
	IntentApplied    = "applied"
	IntentFailed     = "failed"      // Azure refused it
	IntentNotApplied = "not applied" // interrupted before Azure had it
)

// Outcome is what FinishIntent records, all or nothing.
type Outcome struct {
	State    string
	Result   string
	Audit    *AuditEntry     // the change's audit entry, nil for none
	Messages []OutboxMessage // queued with the outcome
	Puts     map[string]string
	Reported bool // the outcome is told by Messages
}

// IntentStore keeps intents. The sqlite and postgres stores implement it.
// Every method is safe for concurrent use by replicas sharing the store.
type IntentStore interface {
	// BeginIntent records an open intent and queues msgs with it; it
	// returns the intent's ID.
	BeginIntent(ctx context.Context, in Intent, msgs ...OutboxMessage) (int64, error)
	// StepIntent records how far an open intent got, with o's audit entry,
	// messages and values in the same transaction (o's State, Result and
	// Reported are not used). ErrNotFound: the intent is not open (someone
	// finished it) and nothing was written.
	StepIntent(ctx context.Context, id int64, step string, o Outcome) error
	// FinishIntent closes an open intent with o in one transaction: its
	// state, the audit entry, the messages and the values put. Of two
	// callers finishing the same intent exactly one succeeds; the other
	// gets ErrNotFound and writes nothing.
	FinishIntent(ctx context.Context, id int64, o Outcome) error
	// MarkReported records that the request's finished intents were told
	// to the person who asked.
	MarkReported(ctx context.Context, requestID string) error
	// Unsettled returns open intents and finished ones never reported,
	// oldest first.
	Unsettled(ctx context.Context) ([]Intent, error)
	// ReportIntent marks one finished intent reported and queues msgs with
	// it. ErrNotFound: it was reported already.
	ReportIntent(ctx context.Context, id int64, msgs ...OutboxMessage) error
	// ReleaseLeases ends every lease whose owner starts with prefix: a
	// restarted replica's, whose holders died with its previous process.
	// It returns the keys released.
	ReleaseLeases(ctx context.Context, ownerPrefix string) ([]string, error)
}
