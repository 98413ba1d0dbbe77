-- The yearly reports sent to a council's coordinators (the attendance report in
-- January for the year before): one row per council, kind and year, written in the
-- transaction that queues the mail, so each goes once however many processes run.
CREATE TABLE yearly_reports (
    council_id BIGINT NOT NULL REFERENCES councils(id),
    kind TEXT NOT NULL,
    year INTEGER NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (council_id, kind, year)
);
