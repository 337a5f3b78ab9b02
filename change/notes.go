package change

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
)

// Notes gathers what happened during one command, so that the command is
// logged in one line with its request id: the changes the Changer made and
// the failure told to the user. It is safe for concurrent use.
type Notes struct {
	mu      sync.Mutex
	changes []slog.Attr
	err     error
}

type notesKey struct{}

// WithNotes returns a context whose changes are noted in the returned Notes
// instead of each logged on a line of its own.
func WithNotes(ctx context.Context) (context.Context, *Notes) {
	n := &Notes{}
	return context.WithValue(ctx, notesKey{}, n), n
}

// NotesFrom returns the context's Notes, or nil.
func NotesFrom(ctx context.Context) *Notes {
	n, _ := ctx.Value(notesKey{}).(*Notes)
	return n
}

func (n *Notes) change(pool, before, after, result string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.changes = append(n.changes, slog.Group(strconv.Itoa(len(n.changes)),
		"pool", pool, "before", before, "after", after, "result", result))
}

// Fail notes the failure a command told its user, the first only.
func (n *Notes) Fail(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err == nil {
		n.err = err
	}
}

// Failed reports whether a failure was noted.
func (n *Notes) Failed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err != nil
}

// Attrs are the notes as log attributes: "changes" (pool, before, after,
// result each) and "err", where there were any.
func (n *Notes) Attrs() []any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var attrs []any
	if len(n.changes) > 0 {
		attrs = append(attrs, slog.Attr{Key: "changes", Value: slog.GroupValue(n.changes...)})
	}
	if n.err != nil {
		attrs = append(attrs, "err", n.err.Error())
	}
	return attrs
}
