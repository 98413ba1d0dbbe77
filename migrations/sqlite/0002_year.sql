-- The council's year: agenda items, minutes and corrections, time that never runs
-- backwards. Keys (`ref_key`) are random tokens that mail about an object carries in its
-- Message-ID, so a reply finds what it answers.

CREATE TABLE agenda_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ref_key TEXT NOT NULL UNIQUE,
    council_id INTEGER NOT NULL REFERENCES councils(id),
    meeting_id INTEGER REFERENCES meetings(id),
    kind TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    attachments TEXT NOT NULL DEFAULT '[]',
    proposer_name TEXT,
    proposer_email TEXT,
    forwarded_by TEXT,
    inbound_id INTEGER UNIQUE REFERENCES inbound(id),
    state TEXT NOT NULL,
    late INTEGER NOT NULL DEFAULT 0,
    year INTEGER,
    number INTEGER,
    decided_by TEXT,
    decided_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (council_id, year, number)
);
CREATE INDEX agenda_meeting ON agenda_items (meeting_id);

CREATE TABLE minutes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ref_key TEXT NOT NULL UNIQUE,
    meeting_id INTEGER NOT NULL REFERENCES meetings(id),
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    attachment_name TEXT,
    submitted_by TEXT NOT NULL,
    inbound_id INTEGER REFERENCES inbound(id),
    deadline_at TEXT NOT NULL,
    state TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (meeting_id, version)
);

CREATE TABLE corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    minutes_id INTEGER NOT NULL REFERENCES minutes(id),
    author TEXT NOT NULL,
    item TEXT,
    before_text TEXT,
    after_text TEXT,
    body TEXT NOT NULL,
    no_remarks INTEGER NOT NULL DEFAULT 0,
    inbound_id INTEGER REFERENCES inbound(id),
    created_at TEXT NOT NULL
);
CREATE INDEX corrections_minutes ON corrections (minutes_id);

CREATE TABLE clock (
    name TEXT PRIMARY KEY,
    at TEXT NOT NULL
);

-- An extra attendee (bisitter) a member announces, held until the leader decides.
CREATE TABLE extra_attendees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ref_key TEXT NOT NULL UNIQUE,
    invitation_id INTEGER NOT NULL REFERENCES invitations(id),
    name TEXT NOT NULL,
    email TEXT,
    state TEXT NOT NULL,
    inbound_id INTEGER REFERENCES inbound(id),
    decided_by TEXT,
    decided_at TEXT,
    created_at TEXT NOT NULL
);
