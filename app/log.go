package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/poolbot/poolbot/config"
)

// NewLogger returns the logger the config asks for: JSON or text (format
// "" picks def), at its level, writing to w.
func NewLogger(w io.Writer, c config.Log, def string) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
	}
	format := c.Format
	if format == "" {
		format = def
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}
