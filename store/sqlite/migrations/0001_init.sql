-- poolbot's state. Times are UTC text in sqlstore.TimeLayout (fixed width, so
-- text order is time order); NULL is the zero time.

CREATE TABLE audit (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	logged_at TEXT,
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
	standby INTEGER,
	max_agents INTEGER,
	ttl_minutes INTEGER,
	recycle INTEGER,
	saved_at TEXT,
	saved_by TEXT NOT NULL
);

CREATE TABLE overrides (
	pool TEXT NOT NULL,
	kind TEXT NOT NULL,
	standby INTEGER,
	max_agents INTEGER,
	ttl_minutes INTEGER,
	recycle INTEGER,
	until_at TEXT,
	skip_at TEXT,
	created_by TEXT NOT NULL,
	created_at TEXT,
	PRIMARY KEY (pool, kind)
);

CREATE TABLE mutes (
	pool TEXT NOT NULL,
	alert_condition TEXT NOT NULL,
	until_at TEXT,
	muted_by TEXT NOT NULL,
	PRIMARY KEY (pool, alert_condition)
);

CREATE TABLE alerts (
	alert_key TEXT PRIMARY KEY,
	pool TEXT NOT NULL,
	alert_condition TEXT NOT NULL,
	severity TEXT NOT NULL,
	firing INTEGER NOT NULL,
	incident INTEGER NOT NULL,
	fire_count INTEGER NOT NULL,
	summary TEXT NOT NULL,
	detail TEXT NOT NULL,
	channel TEXT NOT NULL,
	message_key TEXT NOT NULL,
	started_at TEXT,
	updated_at TEXT,
	notified_at TEXT,
	resolved_at TEXT
);

-- AUTOINCREMENT: an id is never reused, even after its message is sent.
CREATE TABLE outbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	channel TEXT NOT NULL,
	message_key TEXT NOT NULL,
	op TEXT NOT NULL,
	text TEXT NOT NULL,
	blocks TEXT NOT NULL,
	created_at TEXT,
	attempts INTEGER NOT NULL,
	not_before TEXT
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
	claimed_at TEXT
);
