package leader_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/leader"
	"github.com/poolbot/poolbot/store/postgres/pgtest"
)

// freezer forwards TCP to the server until frozen; then it holds every byte
// and never closes the server side, as a network cut does.
type freezer struct {
	ln     net.Listener
	target string
	frozen chan struct{}
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, frozen: make(chan struct{})}
	var conns []net.Conn
	var cmu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, c, up)
			cmu.Unlock()
			go f.pipe(up, c)
			go f.pipe(c, up)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return // hold everything, close nothing
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

func (f *freezer) freeze() { close(f.frozen) }

// A leader cut off without its connection closing gives up after its check
// fails, and the server frees the lock after the session timeout, so another
// replica takes over; the two never lead at once.
func TestSilentCut(t *testing.T) {
	server := pgtest.ServerDSN(t)
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		t.Skip("POOLBOT_TEST_POSTGRES is not a URL with a host")
	}
	f := newFreezer(t, u.Host)
	viaProxy := *u
	viaProxy.Host = f.ln.Addr().String()

	var b [8]byte
	rand.Read(b[:])
	key := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	opts := fast
	opts.SessionTimeout = time.Second

	var mu sync.Mutex
	var active int
	var violations int
	lost := make(chan time.Time, 1)
	start := func(dsn, id string, onLost chan time.Time) *leader.Postgres {
		e, err := leader.New(dsn, key, id, opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		t.Cleanup(func() { cancel(); <-done })
		go func() {
			defer close(done)
			e.Run(ctx, func(lctx context.Context) {
				mu.Lock()
				active++
				if active > 1 {
					violations++
				}
				mu.Unlock()
				<-lctx.Done()
				mu.Lock()
				active--
				mu.Unlock()
				if onLost != nil {
					select {
					case onLost <- time.Now():
					default:
					}
				}
			})
		}()
		return e
	}
	cut := start(viaProxy.String(), "cut", lost)
	for deadline := time.Now().Add(10 * time.Second); !cut.IsLeader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replica behind the proxy never led")
		}
	}
	other := start(server, "other", nil)
	frozenAt := time.Now()
	f.freeze()
	select {
	case at := <-lost:
		if d := at.Sub(frozenAt); d > opts.CheckInterval+opts.CheckTimeout+200*time.Millisecond {
			t.Errorf("cut leader gave up %v after the cut", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cut leader never gave up")
	}
	for deadline := time.Now().Add(15 * time.Second); !other.IsLeader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no takeover within 15s of the cut")
		}
	}
	t.Logf("takeover %v after the cut", time.Since(frozenAt))
	mu.Lock()
	defer mu.Unlock()
	if violations > 0 {
		t.Errorf("two replicas led at once")
	}
}
