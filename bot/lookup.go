package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/slack-go/slack"
)

// outboxEvent is the metadata event_type of every message the outbox posts;
// its payload names the outbox message ({"id": 42, "key": "alert/…"}), so
// that a later process can tell whether Slack already has it.
const outboxEvent = "poolbot_outbox"

const (
	// lookupPage is how many messages one history call reads: Slack
	// suggests no more than 200 (its maximum is 999).
	lookupPage = 200
	// lookupPages bounds a lookup in a busy channel: past 2000 messages it
	// gives up and the message is posted.
	lookupPages = 10
	// lookupSkew is how far before a message's creation (the store's
	// clock) the lookup starts, for clocks that disagree with Slack's.
	lookupSkew = 5 * time.Minute
	// lookupGate paces history reads (Tier 3: 50+ a minute) apart from posts.
	lookupGate = "history"
)

func outboxMetadata(id int64, key string) *slack.SlackMetadata {
	return &slack.SlackMetadata{EventType: outboxEvent, EventPayload: map[string]any{"id": id, "key": key}}
}

// metadataID is the outbox id and key a message's metadata carries.
func metadataID(md slack.SlackMetadata) (int64, string, bool) {
	if md.EventType != outboxEvent {
		return 0, "", false
	}
	key, _ := md.EventPayload["key"].(string)
	switch v := md.EventPayload["id"].(type) {
	case float64: // how encoding/json reads a number into any
		if v != math.Trunc(v) || v < 1 || v > 1<<53 {
			return 0, "", false
		}
		return int64(v), key, true
	case json.Number:
		id, err := v.Int64()
		return id, key, err == nil
	case string:
		id, err := strconv.ParseInt(v, 10, 64)
		return id, key, err == nil
	}
	return 0, "", false
}

// slackTS is t as a Slack timestamp, for oldest and latest.
func slackTS(t time.Time) string {
	if t.Before(time.Unix(0, 0)) {
		return "0"
	}
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// errLookupIncomplete means the lookup read its page limit without
// reaching the message's creation time.
var errLookupIncomplete = fmt.Errorf("more than %d messages since it was created", lookupPage*lookupPages)

// FindPosted looks in Slack for the message the outbox posted for outbox
// message id with key: among channel's messages since oldest, or with
// threadTS set, among that thread's replies. It reads pages (newest first
// in a channel) until it finds it. A 429 is returned as from Post and keeps
// later lookups back for its Retry-After.
func (p *Poster) FindPosted(ctx context.Context, channel, threadTS string, oldest time.Time, id int64, key string) (ts string, found bool, err error) {
	where := channel
	if threadTS != "" {
		where = channel + " thread " + threadTS
	}
	cursor := ""
	for range lookupPages {
		if err := p.waitUntil(ctx, p.reserve(lookupGate, 0)); err != nil {
			return "", false, fmt.Errorf("look in %s for outbox message %d: %w", where, id, err)
		}
		var (
			msgs []slack.Message
			more bool
		)
		if threadTS == "" {
			var resp *slack.GetConversationHistoryResponse
			resp, err = p.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Oldest: slackTS(oldest), Limit: lookupPage, Cursor: cursor, IncludeAllMetadata: true})
			if err == nil {
				msgs, more, cursor = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			}
		} else {
			msgs, more, cursor, err = p.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: threadTS, Oldest: slackTS(oldest), Limit: lookupPage, Cursor: cursor,
				IncludeAllMetadata: true})
		}
		if err != nil {
			p.rateLimited(lookupGate, err)
			return "", false, fmt.Errorf("look in %s for outbox message %d: %w", where, id, err)
		}
		for _, m := range msgs {
			if got, k, ok := metadataID(m.Metadata); ok && got == id && k == key {
				return m.Timestamp, true, nil
			}
		}
		if !more || cursor == "" {
			return "", false, nil
		}
	}
	return "", false, fmt.Errorf("look in %s for outbox message %d: %w", where, id, errLookupIncomplete)
}
