package main

import (
	"os"
	"reflect"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/poolbot/poolbot/config"
)

// TestDemoScheduleIsTheExample: the demo runs the office-hours schedule of
// config.example.toml, the one scheduler/week_test.go measures; only where
// changes are posted and the holidays may differ. Its second schedule is
// its Managed DevOps Pool's.
func TestDemoScheduleIsTheExample(t *testing.T) {
	type doc struct {
		Schedules []config.Schedule `toml:"schedules"`
	}
	var demo, example doc
	if err := toml.Unmarshal([]byte(demoConfig), &demo); err != nil {
		t.Fatalf("demo config: %v", err)
	}
	data, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := toml.Unmarshal(data, &example); err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	// The demo adds a schedule of its own for its Managed DevOps Pool.
	if len(demo.Schedules) != 2 || len(example.Schedules) != 1 || demo.Schedules[1].Name != "managed-office-hours" {
		t.Fatalf("%d schedules in the demo, %d in the example, want office-hours and managed-office-hours, and office-hours", len(demo.Schedules), len(example.Schedules))
	}
	d, e := demo.Schedules[0], example.Schedules[0]
	d.Channel, e.Channel = "", ""
	d.Skip, e.Skip = nil, nil
	if len(d.Entries) == 0 || !reflect.DeepEqual(d, e) {
		t.Errorf("demo schedule\n%s\nwant config.example.toml's\n%s", show(d), show(e))
	}
}

func show(s config.Schedule) string {
	b, _ := toml.Marshal(s)
	return string(b)
}
