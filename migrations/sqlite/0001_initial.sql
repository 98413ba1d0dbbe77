-- Times are UTC text, 'YYYY-MM-DDTHH:MM:SSZ': sortable, and the same in SQLite and
-- PostgreSQL so one set of queries serves both.
CREATE TABLE councils (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    council_id INTEGER NOT NULL REFERENCES councils(id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    organisation TEXT,
    role TEXT NOT NULL,
    doctor INTEGER NOT NULL DEFAULT 0,
    failing_since TEXT,
    failing_reason TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (council_id, email)
);

CREATE TABLE meetings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    council_id INTEGER NOT NULL REFERENCES councils(id),
    title TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    room TEXT,
    digital_link TEXT,
    status TEXT NOT NULL DEFAULT 'scheduled',
    uid TEXT NOT NULL UNIQUE,
    sequence INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE inbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    message_id TEXT,
    content_hash TEXT NOT NULL,
    raw BLOB NOT NULL,
    size INTEGER NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL,
    kind TEXT,
    sender TEXT,
    subject TEXT,
    outcome TEXT,
    problems TEXT,
    invitation_id INTEGER,
    processed_at TEXT
);
CREATE INDEX inbound_state ON inbound (state);

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id INTEGER NOT NULL REFERENCES meetings(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    token TEXT NOT NULL UNIQUE,
    response TEXT,
    attendance TEXT,
    substitute_name TEXT,
    substitute_email TEXT,
    answered_at TEXT,
    answer_id INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (meeting_id, member_id)
);

CREATE TABLE answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invitation_id INTEGER NOT NULL REFERENCES invitations(id),
    response TEXT NOT NULL,
    attendance TEXT,
    substitute_name TEXT,
    substitute_email TEXT,
    inbound_id INTEGER REFERENCES inbound(id),
    source TEXT NOT NULL,
    sender TEXT NOT NULL,
    received_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (invitation_id, inbound_id)
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    effect_key TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    raw BLOB NOT NULL,
    meeting_id INTEGER,
    invitation_id INTEGER,
    inbound_id INTEGER,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, kind, created_at);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id INTEGER NOT NULL REFERENCES meetings(id),
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL,
    done_at TEXT,
    UNIQUE (meeting_id, kind)
);

CREATE TABLE mailbox_state (
    name TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    meeting_id INTEGER,
    invitation_id INTEGER,
    inbound_id INTEGER,
    detail TEXT NOT NULL
);
CREATE INDEX events_meeting ON events (meeting_id);
