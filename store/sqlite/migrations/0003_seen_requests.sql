-- Signed Slack requests seen, each kept until its signature's 5-minute
-- window ends, so that the same request sent again runs nothing on any
-- replica. Expired rows are deleted as new ones arrive.
CREATE TABLE seen_requests (
	request_key TEXT PRIMARY KEY,
	until_at TEXT NOT NULL
);
CREATE INDEX seen_requests_until ON seen_requests (until_at);
