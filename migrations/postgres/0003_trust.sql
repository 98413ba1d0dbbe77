-- Trust: every key referent sends is personal. A key row says to which address a key
-- went and what it is about (purpose + ref), so a reply is believed only from that
-- address. Confirmation requests are keys too (purpose 'confirm', ref = the held
-- inbound message), and expire.

CREATE TABLE keys (
    key TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    purpose TEXT NOT NULL,
    ref TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    used_at TEXT
);
CREATE INDEX keys_ref ON keys (purpose, ref);

-- How often acting on a message was tried: after three failures it is quarantined.
ALTER TABLE inbound ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;

-- When a held message went to the coordinators in a digest (NULL: not yet).
ALTER TABLE inbound ADD COLUMN reported_at TEXT;

-- When the coordinators were asked to approve a proposal: at once when none was asked
-- in the last hour, else in the next hourly digest (NULL: still to ask).
ALTER TABLE agenda_items ADD COLUMN requested_at TEXT;
UPDATE agenda_items SET requested_at = created_at;

-- Looking a sender up by address is the first thing done for every message.
CREATE INDEX members_email ON members (email);
