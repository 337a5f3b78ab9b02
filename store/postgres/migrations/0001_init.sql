-- poolbot's state. Times are TIMESTAMPTZ (UTC, microseconds); NULL is the zero time.

CREATE TABLE audit (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	logged_at TIMESTAMPTZ,
	actor TEXT NOT NULL,
	actor_name TEXT NOT NULL,
	channel TEXT NOT NULL,
	source TEXT NOT NULL,
	command TEXT NOT NULL,
	pool TEXT NOT NULL,
	before_value TEXT NOT NULL,
	after_value TEXT NOT NULL,
	result TEXT NOT NULL,
	request_id TEXT NOT NULL
);
CREATE INDEX audit_pool ON audit (pool, id);

CREATE TABLE saved_settings (
	pool TEXT PRIMARY KEY,
	standby BIGINT,
	max_agents BIGINT,
	ttl_minutes BIGINT,
	recycle BOOLEAN,
	saved_at TIMESTAMPTZ,
	saved_by TEXT NOT NULL
);

CREATE TABLE overrides (
	pool TEXT NOT NULL,
	kind TEXT NOT NULL,
	standby BIGINT,
	max_agents BIGINT,
	ttl_minutes BIGINT,
	recycle BOOLEAN,
	until_at TIMESTAMPTZ,
	skip_at TIMESTAMPTZ,
	created_by TEXT NOT NULL,
	created_at TIMESTAMPTZ,
	PRIMARY KEY (pool, kind)
);

CREATE TABLE mutes (
	pool TEXT NOT NULL,
	alert_condition TEXT NOT NULL,
	until_at TIMESTAMPTZ,
	muted_by TEXT NOT NULL,
	PRIMARY KEY (pool, alert_condition)
);

CREATE TABLE alerts (
	alert_key TEXT PRIMARY KEY,
	pool TEXT NOT NULL,
	alert_condition TEXT NOT NULL,
	severity TEXT NOT NULL,
	firing BOOLEAN NOT NULL,
	incident BIGINT NOT NULL,
	fire_count BIGINT NOT NULL,
	summary TEXT NOT NULL,
	detail TEXT NOT NULL,
	channel TEXT NOT NULL,
	message_key TEXT NOT NULL,
	started_at TIMESTAMPTZ,
	updated_at TIMESTAMPTZ,
	notified_at TIMESTAMPTZ,
	resolved_at TIMESTAMPTZ
);

-- An id is never reused, even after its message is sent.
CREATE TABLE outbox (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel TEXT NOT NULL,
	message_key TEXT NOT NULL,
	op TEXT NOT NULL,
	text TEXT NOT NULL,
	blocks TEXT NOT NULL,
	created_at TIMESTAMPTZ,
	attempts BIGINT NOT NULL,
	not_before TIMESTAMPTZ
);

CREATE TABLE sent (
	message_key TEXT PRIMARY KEY,
	channel TEXT NOT NULL,
	ts TEXT NOT NULL
);

CREATE TABLE kv (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);

CREATE TABLE claims (
	claim_key TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	claimed_at TIMESTAMPTZ
);
