package app

import (
	"net/http"
	"time"

	"github.com/poolbot/poolbot/config"
)

// newServer is the HTTP server of a listener: every request bounded, so
// that a client that sends slowly, never finishes its body or keeps an
// idle connection open cannot hold a file descriptor for long.
func newServer(c config.Server, h http.Handler) *http.Server {
	read := c.ReadTimeout.Or(config.DefaultReadTimeout)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(read, 10*time.Second),
		ReadTimeout:       read,
		WriteTimeout:      c.WriteTimeout.Or(config.DefaultWriteTimeout),
		IdleTimeout:       c.IdleTimeout.Or(config.DefaultIdleTimeout),
		// Slack's headers are a few hundred bytes.
		MaxHeaderBytes: 64 << 10,
	}
}

// bodyTimeout bounds the Slack handler's body read: never longer than the
// server's whole-request bound, at most 5 s.
func bodyTimeout(c config.Server) time.Duration {
	return min(c.ReadTimeout.Or(config.DefaultReadTimeout), 5*time.Second)
}
