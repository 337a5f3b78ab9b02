package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
)

// How the sender shares a picture once (outbox Op "file").
//
// Slack's files upload v2 is three calls: files.getUploadURLExternal gives
// a file id and a URL, the bytes go to the URL, and
// files.completeUploadExternal shares the file in the channel as a message.
// Only the last is seen by anyone; a file never completed is private and
// lapses. So once the file id is known, and before the file is completed,
// the sender records "<outbox id> <file id>" under fileInflightKey(channel).
// A later run that finds a pending file named by that marker (or one whose
// own completion ended without an answer) looks for the file id among the
// files of the channel's messages since a little before the message was
// created, and records the message as sent if it is there instead of
// sharing it again. As with posts, a refused lookup (no channels:history)
// is logged once and the file is shared: twice is better than lost.

// fileInflightKey is the store key of channel's last attempted file share.
func fileInflightKey(channel string) string { return "outbox/inflight-file/" + channel }

// sendFile shares m's file in m.Channel with m.Text as its message, once,
// and records it; false means it stays pending until the time returned.
func (s *Sender) sendFile(ctx context.Context, log *slog.Logger, m pool.OutboxMessage) (bool, time.Time) {
	var f pool.OutboxFile
	err := json.Unmarshal([]byte(m.Blocks), &f)
	if err != nil || len(f.Data) == 0 || f.Name == "" {
		// Nothing to share: the text still says what it would have shown.
		log.Error("outbox: unreadable file; posting its text alone", "err", err)
		m.Op, m.Blocks = "post", ""
		return s.send(ctx, m)
	}
	if _, err := s.shareOnce(ctx, log, m, f); err != nil {
		return false, s.retry(ctx, log, m, err)
	}
	// Slack has it: record it even if ctx ended meanwhile (see send).
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.st.MarkSent(markCtx, m.ID, pool.Sent{Key: m.Key, Channel: m.Channel}); err != nil {
		// This run remembers the file id; a restart finds it in the channel.
		log.Error("outbox: mark file sent", "err", err)
		return false, time.Time{}
	}
	s.currentTerm().forget(m.ID)
	return true, time.Time{}
}

// shareOnce shares f unless Slack already has it from an earlier attempt,
// and returns its file id.
func (s *Sender) shareOnce(ctx context.Context, log *slog.Logger, m pool.OutboxMessage, f pool.OutboxFile) (string, error) {
	t := s.currentTerm()
	a, tried := t.get(m.ID)
	if a.ts != "" {
		return a.ts, nil // shared by this run; only MarkSent failed
	}
	if !tried || a.unsure {
		prev, fileID, err := s.fileInflight(ctx, m.Channel)
		if err != nil {
			return "", err
		}
		if prev == m.ID && fileID != "" {
			found, err := s.p.findFile(ctx, m.Channel, m.Created.Add(-lookupSkew), fileID)
			var rl *slack.RateLimitedError
			switch {
			case found:
				log.Info("outbox: Slack already has this file; not sharing it again", "file", fileID)
				t.set(m.ID, attempt{ts: fileID})
				return fileID, nil
			case err == nil:
				log.Info("outbox: an earlier attempt did not share the file; sharing it", "file", fileID)
			case ctx.Err() != nil, errors.As(err, &rl):
				return "", err
			default:
				s.lookupRefused(log, t, err)
			}
		}
	}
	fileID, err := s.p.shareFile(ctx, m.Channel, m.Text, f, func(fileID string) error {
		if err := s.st.Put(ctx, fileInflightKey(m.Channel), fmt.Sprintf("%d %s", m.ID, fileID)); err != nil {
			return fmt.Errorf("record in-flight file: %w", err)
		}
		t.set(m.ID, attempt{unsure: true})
		return nil
	})
	switch {
	case err == nil:
		t.set(m.ID, attempt{ts: fileID})
	case slackAnswered(err):
		t.set(m.ID, attempt{}) // Slack said no: the file is not shared
	}
	return fileID, err
}

// fileInflight reads channel's in-flight file marker: the outbox id and
// file id, zero and "" when there is none.
func (s *Sender) fileInflight(ctx context.Context, channel string) (int64, string, error) {
	v, err := s.st.Get(ctx, fileInflightKey(channel))
	switch {
	case errors.Is(err, pool.ErrNotFound):
		return 0, "", nil
	case err != nil:
		return 0, "", fmt.Errorf("read in-flight file of %s: %w", channel, err)
	}
	idText, fileID, _ := strings.Cut(v, " ")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || fileID == "" {
		s.log.Warn("outbox: unreadable in-flight file marker; ignoring it", "channel", channel, "value", v)
		return 0, "", nil
	}
	return id, fileID, nil
}

// lane is channel's one-at-a-time lock for messages, shared by posts and
// file shares (a shared file is a message in the channel).
func (p *Poster) lane(channel string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lanes[channel]
	if l == nil {
		l = new(sync.Mutex)
		p.lanes[channel] = l
	}
	return l
}

// shareFile shares f in channel with text as its message through files
// upload v2, paced with the channel's posts, and returns the file id.
// before runs with the file id once Slack has given one and before the
// file is shared; an error from it stops the share.
func (p *Poster) shareFile(ctx context.Context, channel, text string, f pool.OutboxFile, before func(fileID string) error) (string, error) {
	gate := "post:" + channel
	lane := p.lane(channel)
	lane.Lock()
	defer lane.Unlock()
	if err := p.waitUntil(ctx, p.reserve(gate, postSpacing)); err != nil {
		return "", fmt.Errorf("share %s in %s: %w", f.Name, channel, err)
	}
	fileID, err := p.upload(ctx, channel, text, f, before)
	p.backOff(gate, postSpacing)
	if err != nil {
		p.rateLimited(gate, err)
		return "", fmt.Errorf("share %s in %s: %w", f.Name, channel, err)
	}
	return fileID, nil
}

func (p *Poster) upload(ctx context.Context, channel, text string, f pool.OutboxFile, before func(string) error) (string, error) {
	u, err := p.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{
		FileName: f.Name, FileSize: len(f.Data), AltTxt: f.AltText})
	if err != nil {
		return "", fmt.Errorf("files.getUploadURLExternal: %w", err)
	}
	if err := before(u.FileID); err != nil {
		return "", err
	}
	if err := p.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: u.UploadURL,
		Reader: bytes.NewReader(f.Data), Filename: f.Name}); err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	title := f.Title
	if title == "" {
		title = f.Name
	}
	if _, err := p.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: u.FileID, Title: title}}, Channel: channel, InitialComment: text}); err != nil {
		return "", fmt.Errorf("files.completeUploadExternal: %w", err)
	}
	return u.FileID, nil
}

// findFile reports whether a message in channel since oldest carries the
// file fileID, reading at most lookupPages pages of history.
func (p *Poster) findFile(ctx context.Context, channel string, oldest time.Time, fileID string) (bool, error) {
	cursor := ""
	for range lookupPages {
		if err := p.waitUntil(ctx, p.reserve(lookupGate, 0)); err != nil {
			return false, fmt.Errorf("look in %s for file %s: %w", channel, fileID, err)
		}
		resp, err := p.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: channel, Oldest: slackTS(oldest), Limit: lookupPage, Cursor: cursor})
		if err != nil {
			p.rateLimited(lookupGate, err)
			return false, fmt.Errorf("look in %s for file %s: %w", channel, fileID, err)
		}
		for _, m := range resp.Messages {
			for _, f := range m.Files {
				if f.ID == fileID {
					return true, nil
				}
			}
		}
		cursor = resp.ResponseMetaData.NextCursor
		if !resp.HasMore || cursor == "" {
			return false, nil
		}
	}
	return false, fmt.Errorf("look in %s for file %s: %w", channel, fileID, errLookupIncomplete)
}
