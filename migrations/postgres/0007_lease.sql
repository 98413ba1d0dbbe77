-- Who reads a mailbox: one process at a time. A holder renews its lease every few
-- seconds; another process takes it over once it has expired (the holder died).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
