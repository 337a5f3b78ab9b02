package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
	"github.com/poolbot/poolbot/store/sqlite"
)

func TestMuted(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	for _, tc := range []struct {
		mute       pool.Mute
		pool, cond string
		want       bool
	}{
		{pool.Mute{Pool: "gpu", Condition: "failed-nodes", Until: later}, "gpu", "failed-nodes", true},
		{pool.Mute{Pool: "gpu", Condition: "failed-nodes", Until: later}, "gpu", "error-logs", false},
		{pool.Mute{Pool: "gpu", Until: later}, "gpu", "error-logs", true},
		{pool.Mute{Pool: "gpu-*", Until: later}, "gpu-nightly", "saturated", true},
		{pool.Mute{Pool: "gpu", Until: now}, "gpu", "failed-nodes", false}, // expired
		{pool.Mute{Pool: "linux", Until: later}, "gpu", "failed-nodes", false},
		{pool.Mute{Pool: "*", Condition: "idle-waste", Until: later}, "gpu", "idle-waste", true},
	} {
		if got := muted([]pool.Mute{tc.mute}, tc.pool, tc.cond, now); got != tc.want {
			t.Errorf("muted(%+v, %s, %s) = %v, want %v", tc.mute, tc.pool, tc.cond, got, tc.want)
		}
	}
}

func TestDetailLines(t *testing.T) {
	rem := remember("", []string{"a (node 1): lost", "b (node 2): lost"})
	if got := newLines(rem, []string{"b (node 2): lost", "c (node 3): lost", "c (node 3): lost"}); fmt.Sprint(got) != "[c (node 3): lost]" {
		t.Errorf("newLines = %v", got)
	}
	if ids := nodeIDs(rem + "\nnoise (node x)"); len(ids) != 2 || !ids[1] || !ids[2] {
		t.Errorf("nodeIDs = %v", ids)
	}
	var many []string
	for i := 0; i < 3*maxDetailLines; i++ {
		many = append(many, fmt.Sprint(i))
	}
	if n := len(strings.Split(remember(rem, many), "\n")); n != maxDetailLines {
		t.Errorf("remembered %d lines, want %d", n, maxDetailLines)
	}
}

func FuzzNodeIDs(f *testing.F) {
	f.Add("agent-1 (node 12): lost\nx (node -3)")
	f.Fuzz(func(t *testing.T, s string) {
		for id := range nodeIDs(s) {
			if !strings.Contains(s, fmt.Sprintf("(node %d)", id)) && !strings.Contains(s, "(node ") {
				t.Errorf("id %d not in %q", id, s)
			}
		}
	})
}

// TestRender checks the Block Kit of an alert: action ids unique within
// each block (Slack refuses duplicates), the buttons' command values, a URL
// button, and none once resolved.
func TestRender(t *testing.T) {
	w := New(Options{PoolURL: func(p pool.Pool) string {
		return fmt.Sprintf("https://dev.azure.com/o/_settings/agentpools?poolId=%d", p.ID)
	}})
	start := time.Date(2026, 1, 5, 0, 23, 0, 0, time.UTC)
	a := pool.Alert{Pool: "gpu", Condition: "failed-nodes", Severity: "critical", Firing: true, Incident: 2, Count: 3,
		Summary: "3 agents of gpu failed", StartedAt: start, UpdatedAt: start}
	nodes := []pool.Node{{ID: 7, Name: "vm-7", State: pool.NodeLost}, {ID: 8, Name: "vm-8"}, {ID: 9, Name: "vm-9"}}
	for _, tc := range []struct {
		name     string
		firing   bool
		values   []string
		noValues []string
	}{
		{"firing", true, []string{
			slackmsg.Command{Name: "mute", Args: []string{"gpu", "failed-nodes"}, Opts: map[string]string{"for": "1h"}}.Value(),
			slackmsg.Command{Name: "node", Args: []string{"reimage", "gpu", "7"}}.Value(),
			slackmsg.Command{Name: "node", Args: []string{"delete", "gpu", "7"}}.Value(),
			slackmsg.Command{Name: "node", Args: []string{"delete", "gpu", "8"}}.Value(), "poolId=0"}, []string{`"9"`}},
		{"resolved", false, nil, []string{`"mute"`, `"reimage"`, "poolId"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := a
			a.Firing = tc.firing
			a.ResolvedAt = start.Add(40 * time.Minute)
			text, blocks := w.render(a, pool.Pool{Name: "gpu"}, nodes)
			if text == "" || !strings.Contains(text, "gpu") {
				t.Errorf("text %q", text)
			}
			var bs []struct {
				Type     string `json:"type"`
				Elements []struct {
					ActionID string `json:"action_id"`
					Value    string `json:"value"`
					URL      string `json:"url"`
				} `json:"elements"`
			}
			if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
				t.Fatal(err)
			}
			var all string
			for _, b := range bs {
				seen := map[string]bool{}
				for _, e := range b.Elements {
					if e.ActionID != "" && seen[e.ActionID] {
						t.Errorf("action id %q twice in a block", e.ActionID)
					}
					seen[e.ActionID] = true
					all += e.Value + "|" + e.URL + "|"
				}
			}
			for _, v := range tc.values {
				if !strings.Contains(all, v) {
					t.Errorf("no button %q in %s", v, all)
				}
			}
			for _, v := range tc.noValues {
				if strings.Contains(all, v) {
					t.Errorf("button %q should not be there: %s", v, all)
				}
			}
		})
	}
}

// TestRenderEscapes: a pool name and a summary quoting Azure DevOps' log
// reach Slack escaped, in the fallback and the blocks alike, and a button
// keeps a pool name with spaces as one argument.
func TestRenderEscapes(t *testing.T) {
	w := New(Options{})
	start := time.Date(2026, 1, 5, 0, 23, 0, 0, time.UTC)
	a := pool.Alert{Pool: "ci <!channel>", Condition: "error-logs", Severity: "warning", Firing: true, Incident: 1, Count: 1,
		Summary: "1 error, the latest: <https://x|click> & more", StartedAt: start, UpdatedAt: start}
	for _, firing := range []bool{true, false} {
		a.Firing = firing
		text, blocks := w.render(a, pool.Pool{Name: a.Pool}, []pool.Node{{ID: 3, Name: "vm 3", State: pool.NodeLost}})
		var bs slack.Blocks
		if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
			t.Fatal(err)
		}
		var values []string
		md := text
		for _, b := range bs.BlockSet {
			switch b := b.(type) {
			case *slack.SectionBlock:
				md += "\n" + b.Text.Text
			case *slack.ContextBlock:
				md += "\n" + b.ContextElements.Elements[0].(*slack.TextBlockObject).Text
			case *slack.ActionBlock:
				for _, e := range b.Elements.ElementSet {
					values = append(values, e.(*slack.ButtonBlockElement).Value)
				}
			}
		}
		for _, raw := range []string{"<!channel>", "<https://x|click>", " & more"} {
			if strings.Contains(md, raw) {
				t.Errorf("firing %t: %q reaches Slack unescaped:\n%s", firing, raw, md)
			}
		}
		if !strings.Contains(md, "*ci &lt;!channel&gt;*") || !strings.Contains(md, "&lt;https://x|click&gt; &amp; more") {
			t.Errorf("firing %t: not escaped as Slack escapes:\n%s", firing, md)
		}
		want := slackmsg.Command{Name: "node", Args: []string{"reimage", "ci <!channel>", "3"}}.Value()
		if firing && !slices.Contains(values, want) {
			t.Errorf("node button values %q, want %s among them", values, want)
		}
	}
}

// TestReplyEscapesLogLines: an Azure DevOps log line in an alert's thread
// reaches Slack escaped; the same line is still queued once.
func TestReplyEscapesLogLines(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := New(Options{Store: st, Owner: "test"})
	a := &pool.Alert{Channel: "C1", MessageKey: "alert/x/error-logs/1"}
	line := ":x: configurationJob: extension said <!channel> see <https://x|click> & retry"
	for range 2 {
		if err := w.reply(ctx, time.Now(), a, line); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := st.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := ":x: configurationJob: extension said &lt;!channel&gt; see &lt;https://x|click&gt; &amp; retry"
	if len(msgs) != 1 || msgs[0].Text != want {
		t.Errorf("queued %+v, want one reply %q", msgs, want)
	}
}
