package pool

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseImage(t *testing.T) {
	gallery := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/ubuntu22"
	tests := []struct {
		in      string
		want    Image
		short   string
		wantErr string
	}{
		{in: gallery + "/versions/1.2.0", want: Image{ID: gallery + "/versions/1.2.0"}, short: "ubuntu22/versions/1.2.0"},
		{in: gallery + "/", want: Image{ID: gallery}, short: "ubuntu22"},
		{in: "Canonical:jammy:22_04-lts-gen2:latest", want: Image{Publisher: "Canonical", Offer: "jammy", SKU: "22_04-lts-gen2", Version: "latest"}, short: "Canonical:jammy:22_04-lts-gen2:latest"},
		{in: "", wantErr: "empty"},
		{in: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", wantErr: "not a compute gallery"},
		{in: "Canonical:jammy:latest", wantErr: "neither"},
		{in: "Canonical::sku:1", wantErr: "empty part"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseImage(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if got.Short() != tc.short {
				t.Errorf("Short() = %q, want %q", got.Short(), tc.short)
			}
			again, err := ParseImage(got.String())
			if err != nil || again != got {
				t.Errorf("String() does not round-trip: %q → %+v, %v", got.String(), again, err)
			}
		})
	}
}

func FuzzParseImage(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0")
	f.Add("a:b:c:d")
	f.Add("ubuntu-22.04/latest")
	f.Fuzz(func(t *testing.T, s string) {
		img, err := ParseImage(s)
		if err != nil {
			return
		}
		again, err := ParseImage(img.String())
		if err != nil || again != img {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, img, img.String(), again, err)
		}
	})
}

func TestSettingsValidate(t *testing.T) {
	p := Pool{Standby: 2, Max: 10, TTLMinutes: 30}
	tests := []struct {
		s       Settings
		wantErr string
	}{
		{Settings{Standby: Int(0)}, ""},
		{Settings{Standby: Int(10)}, ""},
		{Settings{Standby: Int(11)}, "cannot be more than max"},
		{Settings{Max: Int(1)}, "cannot be more than max"},
		{Settings{Max: Int(1), Standby: Int(1)}, ""},
		{Settings{Max: Int(0)}, "at least 1"},
		{Settings{Max: Int(1001)}, "at most 1000"},
		{Settings{Standby: Int(-1)}, "0 or more"},
		{Settings{TTLMinutes: Int(-5)}, "0 minutes or more"},
	}
	for _, tc := range tests {
		t.Run(tc.s.String(), func(t *testing.T) {
			err := tc.s.Validate(p)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestSettingsApplyAndString(t *testing.T) {
	p := Pool{Standby: 2, Max: 10, TTLMinutes: 30}
	s := Settings{Standby: Int(0), Recycle: Bool(true)}
	got := s.Apply(p)
	if got.Standby != 0 || got.Max != 10 || !got.Recycle {
		t.Fatalf("Apply = %+v", got)
	}
	if s.String() != "standby=0 recycle=true" || (Settings{}).String() != "no change" || !(Settings{}).Empty() {
		t.Fatalf("String = %q", s.String())
	}
	if Of(p).String() != "standby=2 max=10 ttl=30 recycle=false" {
		t.Fatalf("Of = %q", Of(p).String())
	}
}

func TestCount(t *testing.T) {
	nodes := []Node{{State: NodeIdle}, {State: NodeIdle}, {State: NodeAssigned}, {State: NodeCreatingCompute},
		{State: NodeOffline}, {State: NodeFailedVMPendingDelete}, {State: NodeUnhealthyVM}, {State: NodeDeletingCompute}}
	got := Count(nodes)
	want := Counts{Idle: 2, Busy: 1, Starting: 1, Offline: 1, Failed: 2, Going: 1}
	if got != want || got.Total() != len(nodes) {
		t.Fatalf("Count = %+v, want %+v", got, want)
	}
	if !NodeLost.Failed() || NodeIdle.Failed() {
		t.Fatal("Failed() wrong for lost or idle")
	}
}

func TestErrorWords(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{Kind: KindQuota, Op: "create pool", Pool: "x", Msg: "quota exceeded in westeurope for Standard_D4s_v5"})
	if KindOf(err) != KindQuota || !strings.Contains(err.Error(), "create pool x: quota exceeded in westeurope for Standard_D4s_v5") {
		t.Fatalf("%v (kind %v)", err, KindOf(err))
	}
	if KindOf(errors.New("plain")) != KindUnknown || KindOf(NotFound("y")) != KindNotFound {
		t.Fatal("KindOf wrong")
	}
}

func TestParseWellKnownImage(t *testing.T) {
	for s, ok := range map[string]bool{"ubuntu-22.04/latest": true, "windows-2022": true, "ubuntu-24.04/2025.1.2": true,
		"ubuntu": false, "ubuntu-22.04/": false, "debian-12": false, "Ubuntu-22.04": false} {
		img, err := ParseImage(s)
		if (err == nil) != ok || (ok && (!img.WellKnown() || img.ID != s)) {
			t.Errorf("ParseImage(%q) = %+v, %v", s, img, err)
		}
	}
}

func TestShortWellKnownImage(t *testing.T) {
	if got := (Image{ID: "ubuntu-22.04/latest"}).Short(); got != "ubuntu-22.04/latest" {
		t.Errorf("Short = %q", got)
	}
	if got := (Image{ID: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/u/versions/1.0"}).Short(); got != "u/versions/1.0" {
		t.Errorf("Short = %q", got)
	}
}
