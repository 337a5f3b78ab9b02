package config

import (
	"strings"
	"testing"
	"time"
)

func TestImagePipelines(t *testing.T) {
	c := mustParse(t, minimal+"[[images]]\npool = \"linux-ci\"\nproject = \"platform\"\npipeline = 7\nrollout = \"auto\"\ncanary = \"20%\"\n")
	im, ok := c.ImageFor("Linux-CI")
	if !ok || im.Project != "platform" || im.Pipeline != 7 || im.Rollout != "auto" || im.Canary != "20%" ||
		im.Batch != 2 || im.OnlineWithin.Duration != 15*time.Minute || im.MinJobs != 3 {
		t.Fatalf("image pipeline %+v, %v", im, ok)
	}
	if _, ok := c.ImageFor("windows-ci"); ok {
		t.Error("windows-ci has an image pipeline it was not given")
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

func TestParseCanary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		size int
		want int
		bad  bool
	}{{"1", 10, 1, false}, {"3", 10, 3, false}, {"20%", 10, 2, false}, {"5%", 10, 1, false}, {"0", 10, 0, true}, {"x", 10, 0, true}, {"150%", 10, 0, true}} {
		got, err := ParseCanary(tc.in, tc.size)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseCanary(%q, %d) = %d, %v", tc.in, tc.size, got, err)
		}
	}
}

// FuzzParseCanary: any input gives a canary of 1 to size agents (or more
// when a count is written), or an error; never a panic or a zero.
func FuzzParseCanary(f *testing.F) {
	for _, s := range []string{"1", "20%", "0", "100%", "-3", "%", "9999999999999999999", "1e3"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, size int) {
		if size < 1 || size > 1000 {
			return
		}
		n, err := ParseCanary(s, size)
		if err == nil && (n < 1 || (strings.HasSuffix(s, "%") && n > size)) {
			t.Fatalf("ParseCanary(%q, %d) = %d", s, size, n)
		}
	})
}
