-- Job history: each pool's finished job requests as Azure DevOps recorded
-- them, kept for the configured retention, and per pool the cursor of the
-- incremental read that fills it. Times are UTC text in sqlstore.TimeLayout;
-- NULL is the zero time. demands is a JSON array of strings.
CREATE TABLE jobs (
	pool TEXT NOT NULL,
	request_id INTEGER NOT NULL,
	queued_at TEXT NOT NULL,
	assigned_at TEXT,
	started_at TEXT,
	finished_at TEXT NOT NULL,
	result TEXT NOT NULL,
	definition TEXT NOT NULL,
	demands TEXT NOT NULL,
	PRIMARY KEY (pool, request_id)
);
CREATE INDEX jobs_pool_queued ON jobs (pool, queued_at);
CREATE INDEX jobs_finished ON jobs (finished_at);

CREATE TABLE job_cursors (
	pool TEXT PRIMARY KEY,
	cursor_value TEXT NOT NULL
);
