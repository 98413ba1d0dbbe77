-- Personal data kept only as long as needed: a message's body (inbound.raw, outbox.raw)
-- is emptied once it is older than the retention period, or when the person it concerns
-- is erased; the row, its outcome and the audit trail stay. NULL: the body is kept.
ALTER TABLE inbound ADD COLUMN raw_deleted_at TEXT;
ALTER TABLE outbox ADD COLUMN raw_deleted_at TEXT;
-- What the daily purge and `referent export/erase --person` look rows up by.
CREATE INDEX inbound_received ON inbound (received_at);
CREATE INDEX inbound_sender ON inbound (sender);
CREATE INDEX outbox_created ON outbox (created_at);
