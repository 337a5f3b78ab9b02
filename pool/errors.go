package pool

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what sort of failure an Error is.
type Kind int

const (
	KindUnknown     Kind = iota
	KindNotFound         // no such pool, node, scale set or image
	KindInvalid          // the request itself is wrong
	KindAuth             // credentials missing, expired or rejected
	KindPermission       // authenticated, but not allowed
	KindThrottled        // rate limited; RetryAfter says when to try again
	KindQuota            // a subscription quota or capacity limit
	KindConflict         // someone else is changing it, or it already exists
	KindUnavailable      // the service did not answer usefully
	KindBusy             // poolbot itself is busy with this pool
)

// Error is a failure told in words a Slack user understands.
type Error struct {
	Kind       Kind
	Op         string // "update pool", "set image", …
	Pool       string
	Msg        string // the user-facing explanation
	RetryAfter time.Duration
	Err        error // the underlying error, for logs
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	switch {
	case e.Op != "" && e.Pool != "":
		return fmt.Sprintf("%s %s: %s", e.Op, e.Pool, msg)
	case e.Op != "":
		return fmt.Sprintf("%s: %s", e.Op, msg)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// NotFound is the error for a pool that does not exist.
func NotFound(name string) error {
	return &Error{Kind: KindNotFound, Pool: name, Msg: fmt.Sprintf("no pool named %q", name)}
}
