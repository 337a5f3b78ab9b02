package pool

import (
	"context"
	"errors"
	"time"
)

// AuditEntry is one record of the audit trail: a command, a button press, a
// scheduled change or a denial.
type AuditEntry struct {
	ID        int64
	Time      time.Time
	Actor     string // Slack user id, or "scheduler", "watcher"
	ActorName string
	Channel   string
	Source    string // "slack", "console", "scheduler", "watcher"
	Command   string // the command line as typed, or a description
	Pool      string
	Before    string // settings or image before
	After     string // settings or image after
	Result    string // "ok", "denied", "error: …", "pending"
	RequestID string
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Pool  string // empty: every pool
	Limit int    // 0: a default of 20
}

// Saved is a pool's settings as they were before a scale-down, so that
// restore brings them back.
type Saved struct {
	Pool     string
	Settings Settings
	Time     time.Time
	By       string // who scaled it down: "scheduler" or a user id
}

// Override holds a pool against its schedule, set from Slack.
type Override struct {
	Pool     string
	Kind     string    // "hold": keep Settings until Until; "skip": skip the entry at SkipAt
	Settings Settings  // for "hold"
	Until    time.Time // zero: until the next scheduled entry after Created
	SkipAt   time.Time // for "skip": the instant of the entry to skip
	By       string
	Created  time.Time
}

// Mute silences alerts of a pool, of one condition or all ("").
type Mute struct {
	Pool      string
	Condition string
	Until     time.Time
	By        string
}

// Alert is the state of one alert group: a pool and a condition.
type Alert struct {
	Key        string // Pool + "/" + Condition
	Pool       string
	Condition  string
	Severity   string // "critical", "warning", "info"
	Firing     bool
	Incident   int // increments each time the alert starts firing again
	Count      int
	Summary    string
	Detail     string
	Channel    string
	MessageKey string // the outbox key of its Slack message
	StartedAt  time.Time
	UpdatedAt  time.Time
	NotifiedAt time.Time // last post or repeat
	ResolvedAt time.Time
}

// OutboxMessage is a Slack message waiting to be sent. Messages are sent in ID
// order; the sender records the ts of each post under its Key so that later
// "update" and "reply" messages with the same Key edit it or go to its thread.
type OutboxMessage struct {
	ID        int64
	Channel   string
	Key       string // identifies the Slack message; unique among posts
	Op        string // "post", "update", "reply" or "file"
	Text      string // plain-text fallback; a file's message
	Blocks    string // Block Kit JSON, may be empty; a file's OutboxFile as JSON
	Created   time.Time
	Attempts  int
	NotBefore time.Time // not sent before this instant (429 back-off)
	// RefusedAt is when Slack refused the message for good (a dead
	// letter, kept until an operator sends it again); zero while pending.
	RefusedAt time.Time
	Refusal   string // Slack's reason, such as "not_in_channel"
}

// OutboxFile is a picture an outbox message of Op "file" shares in its
// channel, with the message's Text beside it. The sender shares it once,
// even across a crash between Slack's answer and MarkSent.
type OutboxFile struct {
	Name    string `json:"name"` // file name, "digest-2026-12-01.png"
	Title   string `json:"title"`
	AltText string `json:"alt_text"` // for screen readers: the picture in words
	Data    []byte `json:"data"`
}

// Sent is the Slack message a post became.
type Sent struct {
	Key     string
	Channel string
	TS      string
}

// Lease is a time-limited hold on a key, shared by every replica on the
// store: the per-pool change lock. It lapses at Until unless its owner renews
// it, so a replica that dies frees what it held.
type Lease struct {
	Key   string
	Owner string    // who holds it: unique per holder (a replica id and a token)
	Info  string    // what others are told about the holder; opaque to the store
	Until time.Time // the lease lapses at this instant
}

// ErrNotFound is returned by Store lookups that find nothing.
var ErrNotFound = errors.New("not found")

// The store is split by what its users keep in it. Each package that keeps
// state declares the part it uses as its own interface, made of these, so
// that its tests can hand it a small fake and a reader sees what it touches.
// Every method of every part is safe for concurrent use, by goroutines and
// by replicas sharing the store, and returns an error wrapped with what it
// was doing; lookups that find nothing wrap ErrNotFound.

// AuditLog keeps the audit trail.
type AuditLog interface {
	// AddAudit appends e (a zero Time is the store clock's now) and
	// returns its ID, which increases with every entry.
	AddAudit(ctx context.Context, e AuditEntry) (int64, error)
	// Audit returns the entries q selects, newest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// SavedStore keeps each pool's settings from before a scale-down.
type SavedStore interface {
	// SaveSettings records s unless settings are already saved for the
	// pool (a second scale-down must not overwrite what restore brings back).
	// It reports whether it wrote.
	SaveSettings(ctx context.Context, s Saved) (bool, error)
	SavedSettings(ctx context.Context, pool string) (Saved, error) // ErrNotFound
	ClearSavedSettings(ctx context.Context, pool string) error
}

// OverrideStore keeps the holds and skips set against schedules.
type OverrideStore interface {
	PutOverride(ctx context.Context, o Override) error // one per pool and Kind; replaces
	DeleteOverride(ctx context.Context, pool, kind string) error
	Overrides(ctx context.Context) ([]Override, error) // by pool, then kind
}

// AlertStore keeps the alerts' state and the mutes that silence them.
type AlertStore interface {
	PutMute(ctx context.Context, m Mute) error // one per pool and condition; replaces
	Mutes(ctx context.Context) ([]Mute, error) // by pool, then condition
	DeleteMute(ctx context.Context, pool, condition string) error
	PutAlert(ctx context.Context, a Alert) error // by Key; replaces
	Alerts(ctx context.Context) ([]Alert, error) // by Key
}

// Enqueuer queues Slack messages: every part of poolbot that tells Slack
// something writes it here first, and the outbox sender posts it.
type Enqueuer interface {
	// Enqueue adds a message to the outbox and returns its ID. A message
	// whose Op and Key equal a pending one's may be merged by the sender.
	Enqueue(ctx context.Context, m OutboxMessage) (int64, error)
}

// DeadLetters are the messages Slack refused for good, kept for an operator.
type DeadLetters interface {
	// Refused lists the dead letters, oldest first (limit <= 0: 100).
	Refused(ctx context.Context, limit int) ([]OutboxMessage, error)
	// Requeue makes the dead letters ids (all of them when ids is empty)
	// pending again, due at once with no attempts counted, and returns how
	// many it requeued. Safe to call from several replicas at once: each
	// message is requeued once.
	Requeue(ctx context.Context, ids []int64) (int, error)
}

// Outbox is the Slack messages waiting to be sent, as the sender sees them.
type Outbox interface {
	Enqueuer
	DeadLetters
	Pending(ctx context.Context, limit int) ([]OutboxMessage, error) // unsent, ID order
	// MarkSent removes m from the outbox. For a post it records s as the
	// message Key names; for an update or reply it records s only when Key
	// names no message yet (it was posted in place of a missing original),
	// so that later edits go to it after a restart.
	MarkSent(ctx context.Context, id int64, s Sent) error
	// Retry records a failed attempt and when to try again.
	Retry(ctx context.Context, id int64, notBefore time.Time) error
	SentMessage(ctx context.Context, key string) (Sent, error) // ErrNotFound

	// Refuse sets message id aside as a dead letter: Slack refused it for
	// good. It stays in the store with reason and the time, out of Pending,
	// until Requeue. ErrNotFound when id is not in the outbox.
	Refuse(ctx context.Context, id int64, reason string, at time.Time) error
}

// KV keeps small values under keys: log cursors, the last applied schedule
// entry, the previous image of a pool. A key belongs to the package that
// writes it, which builds it with a function of its own (such as
// scheduler.FailureKey); no package spells another's key.
type KV interface {
	Get(ctx context.Context, key string) (string, error) // ErrNotFound
	Put(ctx context.Context, key, value string) error
}

// Claims make a thing happen once across replicas.
type Claims interface {
	// Claim records key as done by owner if no one has claimed it, and
	// reports whether this call claimed it. It makes a scheduled change or an
	// alert happen once across replicas.
	Claim(ctx context.Context, key, owner string) (bool, error)
}

// Leases are time-limited holds on keys, shared by every replica.
type Leases interface {
	// TakeLease takes the lease on key for owner until the given instant, in
	// one atomic step across replicas, if it is free, lapsed, or already
	// owner's (then it is renewed and its Info replaced). It reports whether
	// owner holds it now, and the lease as it stands: owner's, or the current
	// holder's. A lease has lapsed when its Until is not after the store
	// clock's now, so replicas' clocks must agree to well within a lease's
	// length.
	TakeLease(ctx context.Context, key, owner, info string, until time.Time) (held bool, current Lease, err error)
	// ReleaseLease ends owner's lease on key at once. Releasing a lease that
	// owner does not hold (lapsed and taken, or never taken) does nothing.
	ReleaseLease(ctx context.Context, key, owner string) error
	// CurrentLease returns the lease held on key, or ErrNotFound when there
	// is none or it has lapsed.
	CurrentLease(ctx context.Context, key string) (Lease, error)
}

// Replays remembers keys for a while: the signed Slack requests seen.
type Replays interface {
	// Remember records key until the instant until and reports whether
	// this call recorded it: false when key is recorded already with an
	// until after now. Of concurrent calls with one key, on any replica,
	// exactly one reports true. Keys whose until is at or before now are
	// forgotten, and their records deleted in passing. It keeps the signed
	// Slack requests seen, so that one sent again runs nothing; now is the
	// clock that checks signatures, not the store's.
	Remember(ctx context.Context, key string, now, until time.Time) (bool, error)
}

// Store keeps poolbot's own state: every part above. Every change is written
// here before it is reported. Implementations: store/sqlite (embedded),
// store/postgres and store/memstore (in memory, for tests); the first two
// also implement IntentStore.
type Store interface {
	AuditLog
	SavedStore
	OverrideStore
	AlertStore
	Outbox
	KV
	Claims
	Leases
	Replays
	// JobStore keeps the pools' job history and its read cursors.
	JobStore

	Close() error
}
