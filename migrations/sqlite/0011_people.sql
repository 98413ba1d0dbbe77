-- People who come and go. A removed member keeps their row (their invitations, answers
-- and the audit trail point at it) but gets no more mail; an invitation withdrawn from
-- them (or moved to whoever took their seat) stays for the history.
ALTER TABLE members ADD COLUMN removed_at TEXT;
-- A member's personal substitute (vara), by address: invited in their place when they
-- decline without naming someone.
ALTER TABLE members ADD COLUMN vara_email TEXT;
ALTER TABLE invitations ADD COLUMN withdrawn_at TEXT;
-- Whether a declining member's vara is invited automatically (1) or not (0).
ALTER TABLE councils ADD COLUMN auto_vara INTEGER NOT NULL DEFAULT 1;
