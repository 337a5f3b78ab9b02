package config

import (
	"strings"
	"testing"
	"time"
)

func TestImagePipelines(t *testing.T) {
	c := mustParse(t, minimal+"[[images]]\npool = \"linux-ci\"\nproject = \"platform\"\npipeline = 7\nrollout = \"auto\"\ncanary = \"20%\"\n")
	im := c.Images[0].Defaults()
	if im.Project != "platform" || im.Pipeline != 7 || im.Rollout != "auto" || im.Canary != "20%" ||
		im.Batch != 2 || im.OnlineWithin.Duration != 15*time.Minute || im.MinJobs != 3 {
		t.Fatalf("image pipeline %+v", im)
	}
	for _, tc := range []struct{ doc, want string }{
		{"[[images]]\npool = \"a\"\nproject = \"p\"\n", "key images[0].pipeline: required"},
		{"[[images]]\npool = \"a\"\nproject = \"p\"\npipeline = 1\nrollout = \"yolo\"\n", `key images[0].rollout: "yolo" is not one of manual, auto`},
		{"[[images]]\npool = \"a\"\nproject = \"p\"\npipeline = 1\ncanary = \"0\"\n", "key images[0].canary"},
	} {
		_, err := parse("test.toml", []byte(minimal+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "test.toml:") {
			t.Errorf("%q: error %v; want file, line and %q", tc.doc, err, tc.want)
		}
	}
}
