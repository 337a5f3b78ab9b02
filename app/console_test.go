package app

import (
	"context"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/slackstub"
)

// Backlog shows each message once, in its latest version, with its thread's
// size; Drain afterwards shows only what is new.
func TestMessagesBacklog(t *testing.T) {
	stub := slackstub.New()
	defer stub.Close()
	api := slack.New("xoxb-test", slack.OptionAPIURL(stub.APIURL()))
	ctx := context.Background()
	post := func(text, thread string) string {
		t.Helper()
		opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
		if thread != "" {
			opts = append(opts, slack.MsgOptionTS(thread))
		}
		_, ts, err := api.PostMessageContext(ctx, "#ops", opts...)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	alert := post("alert: 1 agent failed", "")
	post("node 1 failed", alert)
	post("node 2 failed", alert)
	if _, _, _, err := api.UpdateMessageContext(ctx, "#ops", alert, slack.MsgOptionText("alert: 2 agents failed", false)); err != nil {
		t.Fatal(err)
	}
	post("digest: $12.00", "")

	var out strings.Builder
	m := &Messages{Stub: stub, C: &Console{Out: &out}}
	m.Backlog()
	want := "[#ops] alert: 2 agents failed\n    (2 replies in thread)\n[#ops] digest: $12.00\n"
	if out.String() != want {
		t.Errorf("backlog:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	post("node 3 failed", alert)
	m.Drain()
	if want := "[#ops, in thread] node 3 failed\n"; out.String() != want {
		t.Errorf("after the backlog, Drain printed:\n%s\nwant:\n%s", out.String(), want)
	}
}
