package commands

import (
	"context"
	"strings"
	"testing"
)

func TestRoleFor(t *testing.T) {
	h := mustNew(t, Options{Roles: []Grant{
		{Role: "viewer", Channels: []string{"C-ops"}},
		{Role: "operator", Groups: []string{"S-platform"}, Pools: []string{"linux-*"}},
		{Role: "admin", Users: []string{"U-alice"}},
		{Role: "operator", Users: []string{"U-bob"}, Pools: []string{"win-*", "mac-[ab]"}},
		{Role: "superuser", Users: []string{"U-eve"}},
	}})
	tests := []struct {
		name string
		req  Request
		pool string
		want Role
	}{
		{"nobody", Request{UserID: "U-x", ChannelID: "C-x"}, "linux-ci", RoleNone},
		{"channel grant", Request{UserID: "U-x", ChannelID: "C-ops"}, "linux-ci", RoleViewer},
		{"group grant on its pools", Request{UserID: "U-x", Groups: []string{"S-platform"}}, "linux-ci", RoleOperator},
		{"group grant elsewhere", Request{UserID: "U-x", Groups: []string{"S-platform"}}, "win-ci", RoleNone},
		{"pool names compare without case", Request{UserID: "U-x", Groups: []string{"S-platform"}}, "Linux-CI", RoleOperator},
		{"highest of several grants", Request{UserID: "U-x", ChannelID: "C-ops", Groups: []string{"S-platform"}}, "linux-ci", RoleOperator},
		{"channel grant where group grant does not reach", Request{UserID: "U-x", ChannelID: "C-ops", Groups: []string{"S-platform"}}, "win-ci", RoleViewer},
		{"user grant", Request{UserID: "U-alice"}, "anything", RoleAdmin},
		{"glob class", Request{UserID: "U-bob"}, "mac-b", RoleOperator},
		{"glob class miss", Request{UserID: "U-bob"}, "mac-c", RoleNone},
		{"anywhere counts restricted grants", Request{UserID: "U-bob"}, "", RoleOperator},
		{"unknown role grants nothing", Request{UserID: "U-eve"}, "linux-ci", RoleNone},
		{"empty ids match nothing", Request{}, "linux-ci", RoleNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.roleFor(tt.req, tt.pool); got != tt.want {
				t.Errorf("roleFor(%+v, %q) = %s, want %s", tt.req, tt.pool, got, tt.want)
			}
		})
	}
	if got := mustNew(t, Options{EveryoneAdmin: true}).roleFor(Request{UserID: "U-x"}, "p"); got != RoleAdmin {
		t.Errorf("EveryoneAdmin: role %s, want admin", got)
	}
}

func TestCommandTable(t *testing.T) {
	want := []string{"create", "down", "help", "history", "image", "list", "max", "mute", "node", "outbox", "schedule",
		"skip", "standby", "status", "ttl", "unmute", "unskip", "up", "waits", "whatif"}
	table, err := newCommandTable(builtins())
	if err != nil {
		t.Fatal(err)
	}
	got := table.names()
	if len(got) != len(want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("commands %v, want %v", got, want)
		}
	}
	for _, n := range got {
		c := table[n]
		if c.usage == "" || c.help == "" || c.role == RoleNone || c.run == nil {
			t.Errorf("command %s lacks usage, help, role or run", n)
		}
		if u, _, _ := cutWord(c.usage); u != n {
			t.Errorf("command %s: usage %q does not start with its name", n, c.usage)
		}
	}
}

func cutWord(s string) (string, string, bool) {
	for i, r := range s {
		if r == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// A command table that names a command twice is refused, as is an entry
// without a name: New would otherwise run whichever came last.
func TestCommandTableRefusesDuplicates(t *testing.T) {
	run := func(context.Context, *call) error { return nil }
	tests := []struct {
		name string
		cmds []*command
		want string // "" when the table is good
	}{
		{"distinct", []*command{{name: "up", run: run}, {name: "down", run: run}}, ""},
		{"twice", []*command{{name: "up", run: run}, {name: "down", run: run}, {name: "up", run: run}}, "up is in the command table twice"},
		{"no name", []*command{{usage: "x", run: run}}, "without a name"},
		{"no run", []*command{{name: "up"}}, "without a name or a run"},
		{"builtins twice", append(builtins(), builtins()[0]), "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := newCommandTable(tt.cmds)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && len(tab) != len(tt.cmds):
				t.Fatalf("%d commands indexed, want %d", len(tab), len(tt.cmds))
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
