-- Leases: time-limited holds shared by replicas, such as the per-pool change
-- lock. A row stays after its lease lapses until someone takes it again.
CREATE TABLE leases (
	lease_key TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	info TEXT NOT NULL,
	until_at TEXT NOT NULL
);
