package managed

import (
	"strconv"
	"strings"
	"unicode"
)

// Family names a VM size's quota family as usages lists it, and its vCPUs:
// Standard_D4ads_v5 → standardDADSv5Family, 4; Standard_NC4as_T4_v3 →
// standardNCASv3_T4Family, 4. A size it cannot read gives its own name.
func Family(sku string) (string, int) {
	parts := strings.Split(strings.TrimPrefix(sku, "Standard_"), "_")
	if len(parts) < 2 {
		return sku, 0
	}
	first, version := parts[0], parts[len(parts)-1]
	i := strings.IndexFunc(first, unicode.IsDigit)
	if i <= 0 {
		return sku, 0
	}
	j := i
	for j < len(first) && unicode.IsDigit(rune(first[j])) {
		j++
	}
	cores, _ := strconv.Atoi(first[i:j])
	fam := "standard" + strings.ToUpper(first[:i]+first[j:]) + version
	for _, mid := range parts[1 : len(parts)-1] {
		fam += "_" + mid
	}
	return fam + "Family", cores
}
