// Package console is the demo's Slack in a terminal: it reads `/pool` lines,
// runs them through the commands handler as a Slack user would, and prints
// the replies and the messages posted to the local Slack's channels as text,
// Block Kit rendered for a terminal (RenderBlocks).
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// Console reads `/pool …` lines and prints the replies and the messages
// posted to channels as text: the demo's Slack. The buttons of the latest
// reply that had any can be pressed: "/pool confirm" and "/pool cancel"
// press the confirmation's, and "/pool LABEL" the button so labelled.
type Console struct {
	Handle  func(ctx context.Context, r commands.Request, resp commands.Responder) error
	Out     io.Writer
	User    string // default U0DEMO
	Channel string // default C0DEMO
	Prompt  bool   // print a prompt (an interactive terminal)
	// Wait, when set, lets a script write "wait 2h": it returns once that
	// much of the bot's (simulated) time has passed.
	Wait func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex // serializes writes to Out; guards buttons
	seq     int
	buttons []consoleButton // of the latest reply that had buttons
}

// MaxLine is the longest line the console reads; a longer one is refused
// and the console reads on.
const MaxLine = 1 << 20

// consoleButton is a button a reply showed, to be pressed by typing.
type consoleButton struct {
	label, actionID, value string
}

// input is a line read, or the length of one refused.
type input struct {
	text    string
	refused int
}

// Run handles each line of in until its end or ctx's.
func (c *Console) Run(ctx context.Context, in io.Reader) error {
	if c.User == "" {
		c.User = "U0DEMO"
	}
	if c.Channel == "" {
		c.Channel = "C0DEMO"
	}
	lines := make(chan input)
	errc := make(chan error, 1)
	go func() {
		err := readLines(in, MaxLine, func(l input) bool {
			select {
			case lines <- l:
				return true
			case <-ctx.Done():
				return false
			}
		})
		errc <- err
		close(lines)
	}()
	for {
		if c.Prompt {
			c.printf("poolbot> ")
		}
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				return <-errc
			}
			if l.refused > 0 {
				c.printf("(a line of %d bytes was refused: a line may hold at most %d bytes, 1 MiB)\n", l.refused, MaxLine)
				continue
			}
			c.line(ctx, l.text)
		}
	}
}

// readLines reads lines of at most max bytes from in and hands each to
// emit, until the end of input or emit returns false. A longer line is
// read to its end without being kept and handed on as refused.
func readLines(in io.Reader, max int, emit func(input) bool) error {
	r := bufio.NewReaderSize(in, 64*1024)
	var buf []byte
	n := 0
	for {
		frag, more, err := r.ReadLine()
		if err == io.EOF {
			if n > 0 { // a last line without its newline
				emitLine(buf, n, max, emit)
			}
			return nil
		}
		if err != nil {
			return err
		}
		n += len(frag)
		if n <= max {
			buf = append(buf, frag...)
		}
		if more {
			continue
		}
		if !emitLine(buf, n, max, emit) {
			return nil
		}
		buf, n = buf[:0], 0
	}
}

func emitLine(buf []byte, n, max int, emit func(input) bool) bool {
	if n > max {
		return emit(input{refused: n})
	}
	return emit(input{text: string(buf)})
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
		c.printf("(type /pool help; only /pool commands, /pool confirm or /pool cancel for a reply's buttons, and wait DURATION in a script, are understood)\n")
		return
	}
	text = strings.TrimSpace(text)
	c.seq++
	req := commands.Request{
		UserID: c.User, UserName: "demo", ChannelID: c.Channel,
		Text: text, Source: "console", RequestID: fmt.Sprintf("console-%d", c.seq),
	}
	if !c.Prompt {
		c.printf("> %s\n", line)
	}
	if b, ok, known := c.button(text); known {
		if !ok {
			c.printf("(no reply shown has a %s button: run the command first, then /pool %s)\n\n", strings.ToLower(text), strings.ToLower(text))
			return
		}
		c.printf("(pressed [%s])\n", b.label)
		req.Text, req.Action = "", &commands.Action{ActionID: b.actionID, Value: b.value}
	}
	if err := c.Handle(ctx, req, consoleResponder{c}); err != nil {
		c.printf("error: %v\n", err)
	}
	if req.Action == nil && (text == "" || strings.EqualFold(text, "help")) {
		c.printf("In this console: /pool confirm or /pool cancel presses the buttons of the latest reply that has them\n(or type a button's label: /pool Change image)")
		if c.Wait != nil {
			c.printf("; wait 2h lets time pass")
		}
		c.printf(".\n")
	}
	c.printf("\n")
}

// button finds the button text presses: "confirm" and "cancel" by action,
// else by label. known is false when text is a command, not a press; a
// press is used once.
func (c *Console) button(text string) (b consoleButton, ok, known bool) {
	word := strings.ToLower(text)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.buttons {
		if b.actionID == word || strings.EqualFold(b.label, text) {
			c.buttons = append(c.buttons[:i:i], c.buttons[i+1:]...)
			if b.actionID == "confirm" || b.actionID == "cancel" {
				c.buttons = nil // the pair goes together
			}
			return b, true, true
		}
	}
	return consoleButton{}, false, word == "confirm" || word == "cancel"
}

// keepButtons remembers the buttons of a reply that has any.
func (c *Console) keepButtons(blocks []slack.Block) {
	var bs []consoleButton
	add := func(e *slack.ButtonBlockElement) {
		if e != nil && e.URL == "" && e.Text != nil {
			bs = append(bs, consoleButton{label: e.Text.Text, actionID: e.ActionID, value: e.Value})
		}
	}
	for _, bl := range blocks {
		switch v := bl.(type) {
		case *slack.ActionBlock:
			if v.Elements != nil {
				for _, e := range v.Elements.ElementSet {
					if btn, ok := e.(*slack.ButtonBlockElement); ok {
						add(btn)
					}
				}
			}
		case *slack.SectionBlock:
			if v.Accessory != nil {
				add(v.Accessory.ButtonElement)
			}
		}
	}
	if len(bs) > 0 {
		c.mu.Lock()
		c.buttons = bs
		c.mu.Unlock()
	}
}

func (c *Console) printf(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.Out, format, a...)
}

type consoleResponder struct{ c *Console }

func (r consoleResponder) Respond(_ context.Context, rep commands.Reply) error {
	r.c.keepButtons(rep.Blocks)
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
		out := strings.TrimRight(RenderJSON(blocks, text), "\n") + m.files(msg)
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
