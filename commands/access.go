package commands

import "strings"

// RoleFor is the highest role the requester holds for the named pool, or
// anywhere when pool is "": what other surfaces (the Home tab, forms) show
// and offer, decided by the same grants the commands check.
func (h *Handler) RoleFor(req Request, pool string) Role { return h.roleFor(req, pool) }

// CheckPoolName says why name cannot name a new pool, in the words `create`
// answers with; nil when it can.
func CheckPoolName(name string) error {
	if !poolName.MatchString(name) || strings.HasSuffix(name, ".") {
		return usagef("%q cannot name a pool: use up to 63 letters, digits, '-', '_' or '.', starting with a letter or digit", name)
	}
	return nil
}
