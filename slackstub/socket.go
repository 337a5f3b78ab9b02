package slackstub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// Ack is what a Socket Mode client sent back for an envelope.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
	Time       time.Time       `json:"-"`
	Conn       int             `json:"-"` // which connection (1-based) carried it
}

// Envelope is a Socket Mode message from Slack to the app.
type Envelope struct {
	EnvelopeID             string `json:"envelope_id,omitempty"`
	Type                   string `json:"type"`
	Payload                any    `json:"payload,omitempty"`
	AcceptsResponsePayload bool   `json:"accepts_response_payload,omitempty"`
	RetryAttempt           int    `json:"retry_attempt,omitempty"`
	RetryReason            string `json:"retry_reason,omitempty"`
	Reason                 string `json:"reason,omitempty"`
	NumConnections         int    `json:"num_connections,omitempty"`
}

// ErrNoSocket is returned when a push finds no open connection.
var ErrNoSocket = errors.New("slackstub: no open Socket Mode connection")

type socket struct {
	n      int
	conn   *websocket.Conn
	wmu    sync.Mutex // gorilla allows one writer at a time
	closed chan struct{}
	once   sync.Once
}

func (c *socket) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.conn.WriteJSON(v)
}

func (c *socket) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.conn.NetConn().Close()
	})
}

func (s *Stub) serveSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := s.wsUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	c := &socket{n: len(s.socks) + 1, conn: conn, closed: make(chan struct{})}
	s.socks = append(s.socks, c)
	s.sock = c
	s.notify()
	s.mu.Unlock()

	_ = c.write(Envelope{Type: "hello", NumConnections: 1})
	go s.readAcks(c)
}

func (s *Stub) readAcks(c *socket) {
	defer func() {
		c.close()
		s.mu.Lock()
		s.notify()
		s.mu.Unlock()
	}()
	for {
		var a Ack
		if err := c.conn.ReadJSON(&a); err != nil {
			return
		}
		s.mu.Lock()
		a.Time = s.now()
		a.Conn = c.n
		s.acks = append(s.acks, a)
		s.notify()
		s.mu.Unlock()
	}
}

// current returns the newest connection if it is still open.
func (s *Stub) current() (*socket, error) {
	s.mu.Lock()
	c := s.sock
	s.mu.Unlock()
	if c == nil {
		return nil, ErrNoSocket
	}
	select {
	case <-c.closed:
		return nil, ErrNoSocket
	default:
		return c, nil
	}
}

// Push sends an envelope on the newest open connection.
func (s *Stub) Push(e Envelope) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	if err := c.write(e); err != nil {
		return fmt.Errorf("push %s %s: %w", e.Type, e.EnvelopeID, err)
	}
	return nil
}

// PushSlashCommand delivers a slash command as Slack does in Socket Mode.
// Pushing the same envelope id again is a redelivery.
func (s *Stub) PushSlashCommand(envelopeID string, cmd slack.SlashCommand) error {
	return s.Push(Envelope{EnvelopeID: envelopeID, Type: "slash_commands", Payload: cmd, AcceptsResponsePayload: true})
}

// PushInteractive delivers an interaction payload (a button press).
func (s *Stub) PushInteractive(envelopeID string, cb slack.InteractionCallback) error {
	return s.Push(Envelope{EnvelopeID: envelopeID, Type: "interactive", Payload: cb, AcceptsResponsePayload: true})
}

// PushDisconnect asks the client to reconnect, as Slack does before it
// refreshes a connection.
func (s *Stub) PushDisconnect(reason string) error {
	return s.Push(Envelope{Type: "disconnect", Reason: reason})
}

// Ping sends a WebSocket ping on the newest open connection.
func (s *Stub) Ping() error {
	c, err := s.current()
	if err != nil {
		return err
	}
	return c.conn.WriteControl(websocket.PingMessage, []byte("stub"), time.Now().Add(5*time.Second))
}

// DropSocket cuts the newest connection without a close frame, as a dead
// network does.
func (s *Stub) DropSocket() {
	if c, err := s.current(); err == nil {
		c.close()
	}
}

// FailConnectionsOpen makes the next n apps.connections.open calls answer
// with the Slack error code (e.g. "internal_error", "invalid_auth").
func (s *Stub) FailConnectionsOpen(n int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openErrN, s.openErr = n, code
}

// Connections is how many Socket Mode connections were accepted in all.
func (s *Stub) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.socks)
}

// WaitForConnections waits until n connections were accepted in all and the
// newest is open.
func (s *Stub) WaitForConnections(n int, timeout time.Duration) error {
	err := s.waitFor(timeout, func() bool {
		if len(s.socks) < n {
			return false
		}
		select {
		case <-s.sock.closed:
			return false
		default:
			return true
		}
	})
	if err != nil {
		return fmt.Errorf("%d of %d connections: %w", s.Connections(), n, err)
	}
	return nil
}

// Acks returns every ack received, in order.
func (s *Stub) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// WaitForAcks waits until at least n acks arrived and returns them all.
func (s *Stub) WaitForAcks(n int, timeout time.Duration) ([]Ack, error) {
	err := s.waitFor(timeout, func() bool { return len(s.acks) >= n })
	a := s.Acks()
	if err != nil {
		return a, fmt.Errorf("%d of %d acks: %w", len(a), n, err)
	}
	return a, nil
}
