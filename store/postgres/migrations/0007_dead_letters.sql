-- Dead letters: a message Slack refuses for good (not_in_channel,
-- invalid_auth, channel_not_found…) stays in the outbox, set aside with the
-- time and the reason, until an operator sends it again (/pool outbox retry).
-- Pending leaves refused messages out.
ALTER TABLE outbox ADD COLUMN refused_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN refusal TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_refused ON outbox (refused_at, id);
