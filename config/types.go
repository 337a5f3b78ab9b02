package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "90s", "15m" or "4h", or in whole
// days as "90d".
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (write it like 90s, 15m, 4h or 90d): %q", b)
	}
	if v < 0 {
		return fmt.Errorf("duration must not be negative: %q", b)
	}
	d.Duration = v
	return nil
}

// ParseDuration reads a Go duration ("90s", "15m", "4h") or whole days
// ("90d").
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.Atoi(n)
		if err != nil || days > 100000 {
			return 0, fmt.Errorf("not a number of days: %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d.Duration == 0 {
		return def
	}
	return d.Duration
}

// Secret is a token, password or DSN. In the file it is written literally,
// as "${ENV_VAR}", or as "file:/path/to/secret"; it is resolved when loaded.
// It prints as "[redacted]" however it is formatted or logged.
type Secret struct {
	value  string
	source string // "env FOO", "file /path", "literal"
}

// NewSecret makes a Secret from a value, for tests and the demo.
func NewSecret(v string) Secret { return Secret{value: v, source: "literal"} }

func (s *Secret) UnmarshalText(b []byte) error {
	raw := string(b)
	switch {
	case strings.HasPrefix(raw, "${") && strings.HasSuffix(raw, "}"):
		name := raw[2 : len(raw)-1]
		v, ok := os.LookupEnv(name)
		if !ok {
			return fmt.Errorf("environment variable %s is not set", name)
		}
		*s = Secret{value: v, source: "env " + name}
	case strings.HasPrefix(raw, "file:"):
		path := strings.TrimPrefix(raw, "file:")
		v, err := os.ReadFile(path)
		if err != nil {
			// The error names the path, never the content.
			return fmt.Errorf("read secret file %s: %v", path, errorsOnly(err))
		}
		*s = Secret{value: strings.TrimRight(string(v), "\r\n"), source: "file " + path}
	default:
		*s = Secret{value: raw, source: "literal"}
	}
	return nil
}

func errorsOnly(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return "unreadable"
}

// Value is the secret itself. Pass it only to the client that needs it.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s.value != "" }

// Source says where the secret came from, without its value.
func (s Secret) Source() string { return s.source }

func (s Secret) String() string                { return "[redacted]" }
func (s Secret) GoString() string              { return "config.Secret([redacted])" }
func (s Secret) MarshalText() ([]byte, error)  { return []byte("[redacted]"), nil }
func (s Secret) LogValue() slog.Value          { return slog.StringValue("[redacted]") }
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, "[redacted]") }
