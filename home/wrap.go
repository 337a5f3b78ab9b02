package home

import (
	"context"
	"strings"

	"github.com/poolbot/poolbot/commands"
)

// Handler runs one command; bot.Handler's shape.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, resp commands.Responder) error
}

// Wrap returns next with the Home tab's part in typed commands: `/pool
// create` without arguments, typed by an admin in Slack, opens the create
// form; and a command that may change something refreshes the requester's
// Home tab once it is done, whether it came from the tab, a form or the
// slash command.
func (h *Home) Wrap(next Handler) Handler { return wrapped{h: h, next: next} }

type wrapped struct {
	h    *Home
	next Handler
}

// readOnly are the commands that change nothing.
var readOnly = map[string]bool{"": true, "help": true, "list": true, "status": true, "history": true, "schedule": true}

func (w wrapped) Handle(ctx context.Context, req commands.Request, resp commands.Responder) error {
	verb := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(req.Text), "/pool")))
	if req.Action == nil && verb == "create" && req.TriggerID != "" &&
		w.h.o.Roles.RoleFor(req, "") >= commands.RoleAdmin && len(w.h.o.Templates) > 0 {
		err := w.h.OpenCreate(ctx, req.TriggerID)
		if err == nil {
			return resp.Respond(ctx, commands.Reply{Text: "Fill in the form to create a pool, or type `/pool create <name> [template=T] …`."})
		}
		// Too late for the trigger, say: the command's usage line instead.
		w.h.o.Logger.Warn("open the create form", "user", req.UserID, "err", err)
	}
	err := w.next.Handle(ctx, req, resp)
	first, _, _ := strings.Cut(verb, " ")
	if (req.Source == "slack" || req.Source == "home") && (req.Action != nil || !readOnly[first]) {
		w.h.Refresh(req)
	}
	return err
}
