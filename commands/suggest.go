package commands

import (
	"strings"

	"github.com/poolbot/poolbot/typo"
)

// distance is the edit distance between a and b in runes, counting a swap
// of two neighbours as one edit (the commonest slip: "lsit"). Inputs are
// cut to 64 runes so that a long word costs no more than a short one.
func distance(a, b string) int {
	ra, rb := []rune(strings.ToLower(a)), []rune(strings.ToLower(b))
	if len(ra) > 64 {
		ra = ra[:64]
	}
	if len(rb) > 64 {
		rb = rb[:64]
	}
	return typo.Distance(string(ra), string(rb))
}

// suggest returns the candidate closest to word, if it is close enough to be
// a slip of the keyboard: at most a third of the word's length, and at most 3.
func suggest(word string, candidates []string) (string, bool) {
	limit := min(3, max(1, len([]rune(word))/3))
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := distance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best, best != ""
}
