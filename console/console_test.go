package console

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
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
	// The digest's chart: a shared file, saved by the local Slack.
	dir := t.TempDir()
	stub.SetFileDir(dir)
	if _, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Content: "png", FileSize: 3,
		Filename: "digest.png", InitialComment: "chart of the digest", Channel: "#ops"}); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	m := &Messages{Stub: stub, C: &Console{Out: &out}}
	m.Backlog()
	want := "[#ops] alert: 2 agents failed\n    (2 replies in thread)\n[#ops] digest: $12.00\n" +
		"[#ops] chart of the digest\n    (picture digest.png: " + filepath.Join(dir, "digest.png") + ")\n"
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

// The console reads on past a line over MaxLine, and presses the buttons of
// the latest reply that showed some.
func TestConsoleLinesAndButtons(t *testing.T) {
	var got []commands.Request
	handle := func(_ context.Context, r commands.Request, resp commands.Responder) error {
		got = append(got, r)
		if r.Text == "down *-ci" {
			return resp.Respond(context.Background(), commands.Reply{Text: "Scale down?", Blocks: []slack.Block{
				slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "Scale down 2 pools?", false, false), nil, nil),
				slack.NewActionBlock("confirm-1",
					slack.NewButtonBlockElement("confirm", "pending-1", slack.NewTextBlockObject(slack.PlainTextType, "Scale down", false, false)),
					slack.NewButtonBlockElement("cancel", "pending-1", slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false))),
			}})
		}
		return resp.Respond(context.Background(), commands.Reply{Text: "ok"})
	}
	var out strings.Builder
	c := &Console{Handle: handle, Out: &out}
	in := "/pool list " + strings.Repeat("x", MaxLine) + "\n" + // one byte over
		"/pool confirm\n/pool down *-ci\n/pool list\n/pool scale DOWN\n/pool cancel\n" +
		"/pool down *-ci\n/pool cancel\n/pool help\n/pool " + strings.Repeat("y", MaxLine-6) // the longest line, at the end of input
	if err := c.Run(context.Background(), strings.NewReader(in)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	o := out.String()
	for _, w := range []string{
		fmt.Sprintf("(a line of %d bytes was refused: a line may hold at most 1048576 bytes, 1 MiB)\n", MaxLine+11),
		"> /pool confirm\n(no reply shown has a confirm button",
		"> /pool scale DOWN\n(pressed [Scale down])\nok\n",
		"> /pool cancel\n(no reply shown has a cancel button", // the pair went with the press
		"> /pool cancel\n(pressed [Cancel])\nok\n",
		"> /pool help\nok\nIn this console: /pool confirm or /pool cancel presses the buttons",
	} {
		if !strings.Contains(o, w) {
			t.Errorf("output lacks %q:\n%s", w, o)
		}
	}
	want := []string{"down *-ci", "list", "action:confirm:pending-1", "down *-ci", "action:cancel:pending-1", "help", strings.Repeat("y", MaxLine-6)}
	var seen []string
	for _, r := range got {
		if r.Action != nil {
			seen = append(seen, "action:"+r.Action.ActionID+":"+r.Action.Value)
			if r.Text != "" || r.UserID != "U0DEMO" {
				t.Errorf("press %+v: text %q, user %q", r.Action, r.Text, r.UserID)
			}
			continue
		}
		seen = append(seen, r.Text)
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("requests %.200q\nwant %.200q", seen, want)
	}
}
