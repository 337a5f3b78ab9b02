package commands

import (
	"path"
	"slices"
	"strings"
)

// Role is what a user may do: each role includes the ones below it.
type Role int

const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole reads a role name from the config; unknown names grant nothing.
func ParseRole(s string) Role {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "viewer":
		return RoleViewer
	case "operator":
		return RoleOperator
	case "admin":
		return RoleAdmin
	}
	return RoleNone
}

// roleFor returns the highest role any grant gives the requester for the
// named pool. With pool "", grants limited to some pools count too: it is
// the most the requester may do anywhere, which is what help and list need.
func (h *Handler) roleFor(req Request, poolName string) Role {
	if h.o.EveryoneAdmin {
		return RoleAdmin
	}
	best := RoleNone
	for _, g := range h.o.Roles {
		r := ParseRole(g.Role)
		if r <= best || !grants(g, req) {
			continue
		}
		if poolName != "" && !matchAny(g.Pools, poolName) {
			continue
		}
		best = r
	}
	return best
}

// Grant gives a role to Slack users, user groups and channels, optionally
// only for some pools ([[roles]]).
type Grant struct {
	Role     string // viewer, operator or admin
	Users    []string
	Groups   []string
	Channels []string
	Pools    []string // globs; empty: every pool
}

// grants reports whether g names the requester, one of their groups, or the
// channel they asked from.
func grants(g Grant, req Request) bool {
	if req.UserID != "" && slices.Contains(g.Users, req.UserID) {
		return true
	}
	if req.ChannelID != "" && slices.Contains(g.Channels, req.ChannelID) {
		return true
	}
	for _, grp := range req.Groups {
		if grp != "" && slices.Contains(g.Groups, grp) {
			return true
		}
	}
	return false
}

// matchAny reports whether name matches one of the globs; no globs match
// every name.
func matchAny(globs []string, name string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if globMatch(g, name) {
			return true
		}
	}
	return false
}

// globMatch matches pool names case-insensitively, as Azure DevOps compares
// them; a malformed glob matches nothing.
func globMatch(glob, name string) bool {
	ok, err := path.Match(strings.ToLower(glob), strings.ToLower(name))
	return err == nil && ok
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }
