package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// Console reads `/pool …` lines and prints the replies and the messages
// posted to channels as text: the demo's Slack.
type Console struct {
	Handle  func(ctx context.Context, r commands.Request, resp commands.Responder) error
	Out     io.Writer
	User    string // default U0DEMO
	Channel string // default C0DEMO
	Prompt  bool   // print a prompt (an interactive terminal)
	// Wait, when set, lets a script write "wait 2h": it returns once that
	// much of the bot's (simulated) time has passed.
	Wait func(ctx context.Context, d time.Duration) error

	mu  sync.Mutex // serializes writes to Out
	seq int
}

// Run handles each line of in until its end or ctx's.
func (c *Console) Run(ctx context.Context, in io.Reader) error {
	if c.User == "" {
		c.User = "U0DEMO"
	}
	if c.Channel == "" {
		c.Channel = "C0DEMO"
	}
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
		close(lines)
	}()
	for {
		if c.Prompt {
			c.printf("poolbot> ")
		}
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return <-errc
			}
			c.line(ctx, line)
		}
	}
}

func (c *Console) line(ctx context.Context, line string) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return
	}
	if d, ok := strings.CutPrefix(line, "wait "); ok && c.Wait != nil {
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || dur <= 0 {
			c.printf("(wait takes a duration, like wait 90m)\n")
			return
		}
		c.printf("> wait %s\n", dur)
		if err := c.Wait(ctx, dur); err != nil {
			c.printf("error: %v\n", err)
		}
		return
	}
	text, ok := strings.CutPrefix(line, "/pool")
	if !ok || (text != "" && text[0] != ' ') {
		c.printf("(type /pool help; only /pool commands, and wait DURATION in a script, are understood)\n")
		return
	}
	c.seq++
	req := commands.Request{
		UserID: c.User, UserName: "demo", ChannelID: c.Channel,
		Text: strings.TrimSpace(text), Source: "console", RequestID: fmt.Sprintf("console-%d", c.seq),
	}
	if !c.Prompt {
		c.printf("> %s\n", line)
	}
	if err := c.Handle(ctx, req, consoleResponder{c}); err != nil {
		c.printf("error: %v\n", err)
	}
	c.printf("\n")
}

func (c *Console) printf(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.Out, format, a...)
}

type consoleResponder struct{ c *Console }

func (r consoleResponder) Respond(_ context.Context, rep commands.Reply) error {
	out := RenderBlocks(rep.Blocks)
	if out == "" {
		out = plain(rep.Text) + "\n"
	}
	r.c.printf("%s", out)
	return nil
}

// Messages prints what is posted to the stub's channels as it arrives,
// until ctx ends; Drain prints what is left.
type Messages struct {
	Stub *slackstub.Stub
	C    *Console

	mu              sync.Mutex
	posted, updated int
}

// Run prints new messages every interval until ctx ends.
func (m *Messages) Run(ctx context.Context, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
			m.Drain()
		}
	}
}

// Drain prints the messages posted or updated since the last call.
func (m *Messages) Drain() {
	m.mu.Lock()
	defer m.mu.Unlock()
	msgs, ups := m.Stub.Messages(), m.Stub.Updates()
	for _, msg := range msgs[m.posted:] {
		head := fmt.Sprintf("[%s] ", msg.Channel)
		if msg.ThreadTS != "" {
			head = fmt.Sprintf("[%s, in thread] ", msg.Channel)
		}
		m.C.printf("%s%s", head, indentAfterFirst(strings.TrimRight(RenderJSON(msg.Blocks, msg.Text), "\n")+m.files(msg)))
	}
	for _, u := range ups[m.updated:] {
		m.C.printf("[%s, updated] %s", u.Channel, indentAfterFirst(RenderJSON(u.Blocks, u.Text)))
	}
	m.posted, m.updated = len(msgs), len(ups)
}

// Backlog prints the channels as they stand now, the way someone opening
// Slack sees them: each message in its latest version with the number of
// replies in its thread, rather than every post and edit that led there.
// Drain then prints only what comes after.
func (m *Messages) Backlog() {
	m.mu.Lock()
	defer m.mu.Unlock()
	msgs, ups := m.Stub.Messages(), m.Stub.Updates()
	latest := map[string]slackstub.Update{}
	for _, u := range ups {
		latest[u.Channel+" "+u.TS] = u
	}
	replies := map[string]int{}
	for _, msg := range msgs {
		if msg.ThreadTS != "" {
			replies[msg.Channel+" "+msg.ThreadTS]++
		}
	}
	for _, msg := range msgs {
		if msg.ThreadTS != "" {
			continue
		}
		k := msg.Channel + " " + msg.TS
		text, blocks := msg.Text, msg.Blocks
		if u, ok := latest[k]; ok {
			text, blocks = u.Text, u.Blocks
		}
		out := strings.TrimRight(RenderJSON(blocks, text), "\n")
		switch n := replies[k]; n {
		case 0:
		case 1:
			out += "\n(1 reply in thread)"
		default:
			out += fmt.Sprintf("\n(%d replies in thread)", n)
		}
		m.C.printf("[%s] %s", msg.Channel, indentAfterFirst(out))
	}
	m.posted, m.updated = len(msgs), len(ups)
}

// files names the files shared with a message and where the local Slack
// saved them, so that the console's reader can open the picture.
func (m *Messages) files(msg slackstub.Message) string {
	var b strings.Builder
	for _, id := range msg.Files {
		f, ok := m.Stub.File(id)
		if !ok {
			continue
		}
		where := f.Path
		if where == "" {
			where = "not saved"
		}
		fmt.Fprintf(&b, "\n(picture %s: %s)", f.Name, where)
	}
	return b.String()
}

func indentAfterFirst(s string) string {
	s = strings.TrimRight(s, "\n")
	return strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
