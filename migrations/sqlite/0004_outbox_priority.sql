-- Outbound at the provider's pace: mail one person waits for (receipts, questions,
-- confirmations, notices, approvals, digests) goes before mail to many (the call, the
-- summons and its updates, reminders, minutes). 0 goes first, 1 after; within a
-- priority the oldest row first, so a pause or a retry never reorders the queue.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET priority = 1
 WHERE kind IN ('call', 'summons', 'update', 'cancel', 'reminder', 'minutes', 'minutes_final');
-- What the dispatcher reads: pending rows in sending order.
CREATE INDEX outbox_queue ON outbox (state, priority, id);
