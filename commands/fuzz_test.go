package commands

import (
	"context"
	"strings"
	"testing"
)

// FuzzHandle runs arbitrary command lines as an admin against the real
// stack: whatever the input, the handler answers with text and never panics.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{"", "help up", "list l*", "status linux-ci", "up linux-ci standby=1 for=1h",
		"down [", "standby *-ci 1", "node reimage linux-ci 1,2,x", "image linux-ci rollback", "create x template=",
		"mute linux-ci a for=1d", "skip linux-ci next", "history [", "ttl linux-ci 99999999999999999999",
		"<!channel>", "status <https://x|click>", "down <!here>*", "node reimage linux-ci <@U1>", "help <!channel>"} {
		f.Add(s)
	}
	s := newStack(f)
	f.Fuzz(func(t *testing.T, line string) {
		rec := &replies{}
		if err := s.h.Handle(context.Background(), req("U-admin", line), rec); err != nil {
			t.Fatalf("Handle(%q): %v", line, err)
		}
		if len(rec.all) == 0 || rec.last().Text == "" {
			t.Fatalf("Handle(%q) answered %+v", line, rec.all)
		}
		// Whatever was typed, nothing of it reads as a ping or a link:
		// poolbot itself writes no <!…> and no <http…>.
		for _, r := range rec.all {
			for _, txt := range slackTexts(t, r) {
				if strings.Contains(txt, "<!") || strings.Contains(txt, "<http") {
					t.Fatalf("Handle(%q): %q reaches Slack", line, txt)
				}
			}
		}
	})
}
