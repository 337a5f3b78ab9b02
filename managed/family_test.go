package managed

import "testing"

func TestFamily(t *testing.T) {
	for _, tc := range []struct {
		sku   string
		fam   string
		cores int
	}{
		{"Standard_D4ads_v5", "standardDADSv5Family", 4},
		{"Standard_D2s_v5", "standardDSv5Family", 2},
		{"Standard_D16ds_v5", "standardDDSv5Family", 16},
		{"Standard_NC4as_T4_v3", "standardNCASv3_T4Family", 4},
		{"Basic_A1", "Basic_A1", 0},
		{"Standard_X", "Standard_X", 0},
	} {
		if fam, cores := Family(tc.sku); fam != tc.fam || cores != tc.cores {
			t.Errorf("Family(%s) = %s, %d, want %s, %d", tc.sku, fam, cores, tc.fam, tc.cores)
		}
	}
}
