-- Times are UTC text, 'YYYY-MM-DDTHH:MM:SSZ': sortable, and the same in SQLite and
-- PostgreSQL so one set of queries serves both.
CREATE TABLE councils (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE members (
    id BIGSERIAL PRIMARY KEY,
    council_id BIGINT NOT NULL REFERENCES councils(id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    organisation TEXT,
    role TEXT NOT NULL,
    doctor BIGINT NOT NULL DEFAULT 0,
    failing_since TEXT,
    failing_reason TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (council_id, email)
);

CREATE TABLE meetings (
    id BIGSERIAL PRIMARY KEY,
    council_id BIGINT NOT NULL REFERENCES councils(id),
    title TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    room TEXT,
    digital_link TEXT,
    status TEXT NOT NULL DEFAULT 'scheduled',
    uid TEXT NOT NULL UNIQUE,
    sequence BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE inbound (
    id BIGSERIAL PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    message_id TEXT,
    content_hash TEXT NOT NULL,
    raw BYTEA NOT NULL,
    size BIGINT NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL,
    kind TEXT,
    sender TEXT,
    subject TEXT,
    outcome TEXT,
    problems TEXT,
    invitation_id BIGINT,
    processed_at TEXT
);
CREATE INDEX inbound_state ON inbound (state);

CREATE TABLE invitations (
    id BIGSERIAL PRIMARY KEY,
    meeting_id BIGINT NOT NULL REFERENCES meetings(id),
    member_id BIGINT NOT NULL REFERENCES members(id),
    token TEXT NOT NULL UNIQUE,
    response TEXT,
    attendance TEXT,
    substitute_name TEXT,
    substitute_email TEXT,
    answered_at TEXT,
    answer_id BIGINT,
    created_at TEXT NOT NULL,
    UNIQUE (meeting_id, member_id)
);

CREATE TABLE answers (
    id BIGSERIAL PRIMARY KEY,
    invitation_id BIGINT NOT NULL REFERENCES invitations(id),
    response TEXT NOT NULL,
    attendance TEXT,
    substitute_name TEXT,
    substitute_email TEXT,
    inbound_id BIGINT REFERENCES inbound(id),
    source TEXT NOT NULL,
    sender TEXT NOT NULL,
    received_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (invitation_id, inbound_id)
);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    effect_key TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    raw BYTEA NOT NULL,
    meeting_id BIGINT,
    invitation_id BIGINT,
    inbound_id BIGINT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, kind, created_at);

CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    meeting_id BIGINT NOT NULL REFERENCES meetings(id),
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL,
    done_at TEXT,
    UNIQUE (meeting_id, kind)
);

CREATE TABLE mailbox_state (
    name TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    meeting_id BIGINT,
    invitation_id BIGINT,
    inbound_id BIGINT,
    detail TEXT NOT NULL
);
CREATE INDEX events_meeting ON events (meeting_id);
