package sim

import (
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in   string
		want Faults
		err  bool
	}{
		{"", Faults{}, false},
		{"429=0.05,5xx=0.02,latency=200ms,drop=0.01", Faults{Rate429: 0.05, Rate5xx: 0.02, Latency: 200 * time.Millisecond, RateDrop: 0.01}, false},
		{" retry-after=2s , 429=1", Faults{Rate429: 1, RetryAfter: 2 * time.Second}, false},
		{"429=1.5", Faults{}, true},
		{"429", Faults{}, true},
		{"latency=fast", Faults{}, true},
		{"teapot=0.1", Faults{}, true},
		{"drop=NaN", Faults{}, true},
	}
	for _, tc := range tests {
		got, err := ParseFaults(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseFaults(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseFaults(f *testing.F) {
	f.Add("429=0.05,5xx=0.02,latency=200ms,drop=0.01")
	f.Add("retry-after=1s")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFaults(s)
		if err != nil {
			return
		}
		for _, r := range []float64{got.Rate429, got.Rate5xx, got.RateDrop} {
			if r < 0 || r > 1 {
				t.Fatalf("%q: rate %v out of range", s, r)
			}
		}
		if got.Latency < 0 || got.RetryAfter < 0 {
			t.Fatalf("%q: negative duration", s)
		}
	})
}

func FuzzPriceFilter(f *testing.F) {
	f.Add("serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and contains(productName, 'Windows')")
	f.Add("(armSkuName eq 'a' or armSkuName eq 'b') and priceType ne 'Reservation'")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseFilter(s, true)
		if err != nil {
			return
		}
		for _, it := range catalog[:10] {
			m(it)
		}
	})
}

func TestPriceFilterParentheses(t *testing.T) {
	tests := []struct {
		filter string
		n      int
	}{
		{"(armSkuName eq 'Standard_D4s_v5' or armSkuName eq 'Standard_D2s_v5') and armRegionName eq 'westeurope' and priceType eq 'Consumption'", 12},
		{"(armSkuName eq 'Standard_D4s_v5') or (armSkuName eq 'Standard_D2s_v5')", 28},
		{"armSkuName eq 'Standard_D4s_v5' and armRegionName eq 'eastus' and contains(productName, 'Windows')", 3},
		{"armSkuName eq 'Standard_D4s_v5' and armRegionName eq 'eastus' and priceType ne 'Consumption'", 1},
	}
	for _, tc := range tests {
		m, err := parseFilter(tc.filter, true)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		n := 0
		for _, it := range catalog {
			if m(it) {
				n++
			}
		}
		if n != tc.n {
			t.Errorf("%s: %d items, want %d", tc.filter, n, tc.n)
		}
	}
}
