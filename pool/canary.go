package pool

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseCanary reads a rollout's canary, "N" or "N%", against a pool of
// size agents: the number of canary agents, at least 1. config checks
// [[images]] canary with it and commands reads canary=… with it.
func ParseCanary(s string, size int) (int, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 100 {
			return 0, fmt.Errorf("canary=%s: write a percentage from 1%% to 100%%", s)
		}
		return max(1, n*size/100), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("canary=%s: write a number of agents (canary=2) or a share of the pool (canary=10%%)", s)
	}
	return n, nil
}
