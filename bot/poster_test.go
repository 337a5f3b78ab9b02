package bot

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/slackstub"
)

func TestPosterConcurrentPostsArePaced(t *testing.T) {
	stub := slackstub.New()
	defer stub.Close()
	fake := clock.NewFake(time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC))
	stub.SetNow(fake.Now)
	advancer(t, fake, 100*time.Millisecond)
	p := NewPoster(slack.New("xoxb-x", slack.OptionAPIURL(stub.APIURL())), fake, quiet(t))
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := p.Post(context.Background(), "C1", "hi", nil, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	msgs := stub.Messages()
	if len(msgs) != 5 {
		t.Fatalf("%d messages", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if d := msgs[i].Time.Sub(msgs[i-1].Time); d < time.Second {
			t.Fatalf("messages %d and %d %v apart, want ≥ 1s", i-1, i, d)
		}
	}
}

func TestPosterUpdateHonoursRetryAfter(t *testing.T) {
	stub := slackstub.New()
	defer stub.Close()
	fake := clock.NewFake(time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC))
	stub.SetNow(fake.Now)
	advancer(t, fake, 250*time.Millisecond)
	p := NewPoster(slack.New("xoxb-x", slack.OptionAPIURL(stub.APIURL())), fake, quiet(t))
	ctx := context.Background()
	ts, err := p.Post(ctx, "C1", "v1", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	stub.RateLimit(1, 7*time.Second, "chat.update")
	err = p.Update(ctx, "C1", ts, "v2", nil)
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Fatalf("first update: %v, want a 7s rate limit", err)
	}
	at := fake.Now()
	if err := p.Update(ctx, "C1", ts, "v2", nil); err != nil {
		t.Fatal(err)
	}
	u := stub.Updates()
	if len(u) != 1 || u[0].Time.Sub(at) < 7*time.Second-250*time.Millisecond {
		t.Fatalf("update %+v went %v after the 429, want ≥ 7s", u, u[0].Time.Sub(at))
	}
}
