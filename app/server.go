package app

import (
	"net/http"
	"time"

	"github.com/poolbot/poolbot/config"
)

// newServer is the HTTP server of a listener: every request bounded, so
// that a client that sends slowly, never finishes its body or keeps an
// idle connection open cannot hold a file descriptor for long.
//
// A request's headers get half of read_timeout and its body, read by the
// signature check under its own deadline, the other half: the check's
// deadline replaces the connection's, so the two halves keep the whole
// request within read_timeout.
func newServer(c config.Server, h http.Handler) *http.Server {
	read := c.ReadTimeout.Or(config.DefaultReadTimeout)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: read / 2,
		ReadTimeout:       read,
		WriteTimeout:      c.WriteTimeout.Or(config.DefaultWriteTimeout),
		IdleTimeout:       c.IdleTimeout.Or(config.DefaultIdleTimeout),
		// Slack's headers are a few hundred bytes.
		MaxHeaderBytes: 64 << 10,
	}
}

// bodyTimeout bounds the Slack handler's body read: the half of
// read_timeout the headers leave.
func bodyTimeout(c config.Server) time.Duration {
	return c.ReadTimeout.Or(config.DefaultReadTimeout) / 2
}
