-- Intents: each change to a pool, written before it is sent to Azure and
-- closed with its outcome after, so that a restart finds what a killed
-- process left half done. reported is 0 or 1.
CREATE TABLE intents (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT NOT NULL,
	pool TEXT NOT NULL,
	actor TEXT NOT NULL,
	actor_name TEXT NOT NULL,
	channel TEXT NOT NULL,
	source TEXT NOT NULL,
	request_id TEXT NOT NULL,
	command TEXT NOT NULL,
	before_value TEXT NOT NULL,
	target TEXT NOT NULL,
	replica TEXT NOT NULL,
	step TEXT NOT NULL,
	message_key TEXT NOT NULL,
	notice TEXT NOT NULL,
	state TEXT NOT NULL,
	result TEXT NOT NULL,
	reported INTEGER NOT NULL,
	created_at TEXT,
	updated_at TEXT
);
CREATE INDEX intents_unsettled ON intents (reported, id);
CREATE INDEX intents_request ON intents (request_id);
