package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/sqlite"
)

// killedAfterShare is the store of a process killed after Slack shared the
// digest's picture and before the store recorded it: the MarkSent of the
// first "file" message ends the run, and the dead process writes nothing
// more.
type killedAfterShare struct {
	pool.Store
	kill context.CancelFunc

	mu    sync.Mutex
	files map[int64]bool
	dead  bool
}

var errKilled = errors.New("process killed")

func (k *killedAfterShare) Enqueue(ctx context.Context, m pool.OutboxMessage) (int64, error) {
	id, err := k.Store.Enqueue(ctx, m)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil && m.Op == "file" {
		k.files[id] = true
	}
	return id, err
}

func (k *killedAfterShare) MarkSent(ctx context.Context, id int64, s pool.Sent) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead || k.files[id] {
		k.dead = true
		k.kill()
		return errKilled
	}
	return k.Store.MarkSent(ctx, id, s)
}

func (k *killedAfterShare) isDead() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dead
}

// The daily digest carries its chart, shared once even when poolbot is
// killed between Slack sharing it and the store recording it: the next run
// on the same store finds the file in the channel and does not share it
// again. Over HTTP and Socket Mode alike.
func TestDigestChartSharedOnceAcrossRestart(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) { digestChartOnce(t, mode) })
	}
}

func digestChartOnce(t *testing.T, mode string) {
	s, simURL := startSim(t, 600)
	stub := slackstub.New()
	defer stub.Close()
	stub.SetFileDir(t.TempDir())
	dir := t.TempDir()
	configure := writeConfig
	if mode == "socket" {
		stub.RequireTokens("xoxb-test", "xapp-test")
		configure = socketConfig
	}
	cfg := configure(t, dir, simURL, stub.APIURL(), `
[alerts]
interval = "60s"
[cost]
digest_cron = "* * * * *"
digest_channel = "C0COST"
[cost.prices]
Standard_D4s_v5 = 0.192
Standard_NC4as_T4_v3 = 0.526
`)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "poolbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Yesterday and the day before had agents: the digest has a day to
	// tell and the chart days to draw.
	for i := 1; i <= 2; i++ {
		day := s.Now().UTC().AddDate(0, 0, -i).Format("2006-01-02")
		b, _ := json.Marshal(map[string]cost.Day{
			"linux-ci":   {InstanceHours: 30, IdleHours: 20, BusyHours: 10, Price: 0.192, Currency: "USD"},
			"windows-ci": {InstanceHours: 10, IdleHours: 2, BusyHours: 8, Price: 0.192, Currency: "USD"},
		})
		if err := st.Put(ctx, "cost/day/"+day, string(b)); err != nil {
			t.Fatal(err)
		}
	}

	// The first run shares the picture and dies before recording it.
	runCtx, kill := context.WithCancel(ctx)
	defer kill()
	k := &killedAfterShare{Store: st, kill: kill, files: map[int64]bool{}}
	var logs logBuffer
	log, _ := NewLogger(&logs, config.Log{}, "json")
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	// A killed process flushes nothing at its end: no shutdown to speak of
	// (the default would retry the dead store's MarkSent for 5 s).
	killed := *cfg
	killed.Server.ShutdownTimeout = config.Duration{Duration: time.Millisecond}
	a, err := New(ctx, Options{Config: &killed, Logger: log, Clock: s, Owner: "first", Store: k})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !k.isDead() {
		if time.Now().After(deadline) {
			t.Fatalf("the digest's picture was never shared; files %d, messages %d", len(stub.Files()), len(stub.Messages()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-done // killed: its error does not matter
	a.Close()
	st.Close()
	if n := len(stub.Files()); n != 1 {
		t.Fatalf("%d files shared before the restart, want 1", n)
	}
	historyBefore := stub.Calls("conversations.history")

	// The next run, on the same store file, finds it in the channel.
	b, err := New(ctx, Options{Config: cfg, Logger: log, Clock: s, Owner: "second"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx2, stop := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- b.Run(ctx2) }()
	deadline = time.Now().Add(30 * time.Second)
	for {
		pending, err := b.Store().Pending(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, m := range pending {
			if m.Op == "file" {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the picture is still in the outbox after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done2; err != nil {
		t.Error(err)
	}

	files := stub.Files()
	if len(files) != 1 {
		t.Fatalf("%d files in the channel after the restart, want 1", len(files))
	}
	f := files[0]
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("the picture is not a PNG: %v", err)
	}
	if f.Channel != "C0COST" || img.Bounds().Dx() < 600 || f.Path == "" || !bytes.Contains([]byte(f.Comment), []byte("linux-ci $")) {
		t.Errorf("file %s in %s (%v, saved at %q), message %q", f.Name, f.Channel, img.Bounds(), f.Path, f.Comment)
	}
	if stub.Calls("files.completeUploadExternal") != 1 {
		t.Errorf("%d completions, want 1", stub.Calls("files.completeUploadExternal"))
	}
	if stub.Calls("conversations.history") <= historyBefore {
		t.Error("the restart did not look for the picture in the channel")
	}
	// The digest's text went once too, before its picture.
	var digests, withFile int
	for _, m := range stub.Messages() {
		if m.Channel != "C0COST" {
			continue
		}
		if len(m.Files) > 0 {
			withFile++
			if digests == 0 {
				t.Error("the picture came before the digest's text")
			}
		} else {
			digests++
		}
	}
	if digests != 1 || withFile != 1 {
		t.Errorf("%d digests and %d pictures in the channel, want 1 and 1", digests, withFile)
	}
}
