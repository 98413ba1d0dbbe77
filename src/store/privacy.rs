//! Personal data kept only as long as needed: the daily purge of old message bodies,
//! and everything stored about one person — shown (`referent export --person`) or
//! replaced by a placeholder (`referent erase --person`).
//!
//! A body is emptied, never its row: the row carries the outcome, the counts and the
//! audit trail's references, which must still add up after the body is gone.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{insert_event, ts, NewEvent, Result, Store};

/// What the daily purge emptied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub inbound: u64,
    pub outbox: u64,
}

/// The name an erased person is given wherever their name stood.
pub const ERASED_NAME: &str = "(slettet)";
/// The domain of an erased person's placeholder address (RFC 2606: never delivered).
pub const ERASED_DOMAIN: &str = "erased.invalid";

/// What `erase` changed: per table and column, the rows it rewrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Erasure {
    pub address: String,
    pub placeholder: String,
    /// `table.column` (or `table.raw` for bodies) → rows changed, in the order done.
    pub changed: Vec<(String, u64)>,
}

impl Erasure {
    pub fn total(&self) -> u64 {
        self.changed.iter().map(|(_, n)| n).sum()
    }
}

/// What an erasure statement binds, in the order of its `$n`.
#[derive(Clone, Copy)]
enum Param {
    Addr,
    Placeholder,
    Now,
    Name,
    Empty,
    Like,
}

/// A column as the export reads it.
#[derive(Clone, Copy)]
enum Col {
    Int(&'static str),
    Text(&'static str),
}

fn to_json(row: &AnyRow, cols: &[Col]) -> Result<Value> {
    let mut obj = Map::new();
    for (i, c) in cols.iter().enumerate() {
        match c {
            Col::Int(name) => {
                let v: Option<i64> = row.try_get(i)?;
                obj.insert((*name).into(), v.map_or(Value::Null, Value::from));
            }
            Col::Text(name) => {
                let v: Option<String> = row.try_get(i)?;
                obj.insert((*name).into(), v.map_or(Value::Null, Value::from));
            }
        }
    }
    Ok(Value::Object(obj))
}

impl Store {
    /// Empties the bodies of messages older than `before`, once a day: false (and
    /// nothing done) when a purge already ran in the 24 hours before `now`, here or in
    /// another process. Only bodies nothing will read again go: received mail that was
    /// acted on or ignored (held mail waits for a coordinator) and is not the source of
    /// a proposal still to be put on an agenda or of minutes not yet approved; mail
    /// sent or given up on.
    pub async fn purge_raw_daily(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Purged>> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO clock (name, at) VALUES ('retention', $1)
             ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE clock.at <= $2",
        )
        .bind(ts(now))
        .bind(ts(now - Duration::days(1)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let purged = purge_raw_in(&mut tx, before, now).await?;
        if purged.inbound + purged.outbox > 0 {
            let event = NewEvent::new(
                "retention",
                "retention",
                None,
                None,
                format!(
                    "bodies older than {} deleted: {} received, {} sent",
                    ts(before),
                    purged.inbound,
                    purged.outbox
                ),
            );
            insert_event(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        Ok(Some(purged))
    }

    /// Everything stored about the person with `address` (already normalised), as
    /// JSON: memberships, invitations (their own and where they were named as a
    /// substitute), answers, the mail they sent (with its body while it is kept), the
    /// mail sent to them (without), the agenda items they proposed, forwarded or
    /// decided, their corrections, where they were an extra attendee, and the audit
    /// events that name them.
    pub async fn export_person(&self, address: &str, now: DateTime<Utc>) -> Result<Value> {
        use Col::{Int, Text};
        let mut out = Map::new();
        out.insert("address".into(), address.into());
        out.insert("exported_at".into(), ts(now).into());

        let member_cols = [
            Int("id"),
            Text("council"),
            Text("name"),
            Text("email"),
            Text("organisation"),
            Text("role"),
            Int("doctor"),
            Text("language"),
            Text("failing_since"),
            Text("failing_reason"),
            Text("created_at"),
        ];
        let rows = sqlx::query(
            "SELECT mb.id, c.slug, mb.name, mb.email, mb.organisation, mb.role, mb.doctor, mb.language,
                    mb.failing_since, mb.failing_reason, mb.created_at
             FROM members mb JOIN councils c ON c.id = mb.council_id
             WHERE mb.email = $1 ORDER BY mb.id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("memberships".into(), self.rows(&rows, &member_cols)?);

        let invitation_cols = [
            Int("id"),
            Int("meeting_id"),
            Text("meeting"),
            Text("meeting_starts_at"),
            Text("member_email"),
            Text("response"),
            Text("attendance"),
            Text("substitute_name"),
            Text("substitute_email"),
            Text("answered_at"),
            Text("created_at"),
        ];
        let rows = sqlx::query(
            "SELECT i.id, i.meeting_id, m.title, m.starts_at, mb.email, i.response, i.attendance,
                    i.substitute_name, i.substitute_email, i.answered_at, i.created_at
             FROM invitations i JOIN members mb ON mb.id = i.member_id
                  JOIN meetings m ON m.id = i.meeting_id
             WHERE mb.email = $1 OR i.substitute_email = $1 ORDER BY i.id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("invitations".into(), self.rows(&rows, &invitation_cols)?);

        let answer_cols = [
            Int("id"),
            Int("invitation_id"),
            Text("response"),
            Text("attendance"),
            Text("substitute_name"),
            Text("substitute_email"),
            Int("inbound_id"),
            Text("source"),
            Text("sender"),
            Text("received_at"),
            Text("recorded_at"),
        ];
        let rows = sqlx::query(
            "SELECT a.id, a.invitation_id, a.response, a.attendance, a.substitute_name, a.substitute_email,
                    a.inbound_id, a.source, a.sender, a.received_at, a.recorded_at
             FROM answers a JOIN invitations i ON i.id = a.invitation_id
                  JOIN members mb ON mb.id = i.member_id
             WHERE mb.email = $1 OR a.sender = $1 OR a.substitute_email = $1 ORDER BY a.id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("answers".into(), self.rows(&rows, &answer_cols)?);

        let inbound_cols = [
            Int("id"),
            Text("message_id"),
            Text("received_at"),
            Text("state"),
            Text("kind"),
            Text("sender"),
            Text("subject"),
            Text("outcome"),
            Int("size"),
            Text("body_deleted_at"),
        ];
        let rows = sqlx::query(
            "SELECT id, message_id, received_at, state, kind, sender, subject, outcome, size,
                    raw_deleted_at, raw
             FROM inbound WHERE sender = $1 ORDER BY id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        let mut inbound = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut v = to_json(row, &inbound_cols)?;
            let raw: Vec<u8> = row.try_get(inbound_cols.len())?;
            let deleted: Option<String> = row.try_get(inbound_cols.len() - 1)?;
            if let Value::Object(o) = &mut v {
                let body = match deleted {
                    Some(_) => Value::Null,
                    None => String::from_utf8_lossy(&raw).into_owned().into(),
                };
                o.insert("message".into(), body);
            }
            inbound.push(v);
        }
        out.insert("messages_received".into(), Value::Array(inbound));

        let outbox_cols = [
            Int("id"),
            Text("message_id"),
            Text("kind"),
            Text("recipient"),
            Int("meeting_id"),
            Text("state"),
            Text("created_at"),
            Text("sent_at"),
            Text("last_error"),
            Text("body_deleted_at"),
        ];
        let rows = sqlx::query(
            "SELECT id, message_id, kind, recipient, meeting_id, state, created_at, sent_at, last_error,
                    raw_deleted_at
             FROM outbox WHERE recipient = $1 ORDER BY id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("messages_sent".into(), self.rows(&rows, &outbox_cols)?);

        let item_cols = [
            Int("id"),
            Int("meeting_id"),
            Text("title"),
            Text("description"),
            Text("proposer_name"),
            Text("proposer_email"),
            Text("forwarded_by"),
            Text("state"),
            Int("year"),
            Int("number"),
            Text("decided_by"),
            Text("decided_at"),
            Text("created_at"),
        ];
        let rows = sqlx::query(
            "SELECT id, meeting_id, title, description, proposer_name, proposer_email, forwarded_by,
                    state, year, number, decided_by, decided_at, created_at
             FROM agenda_items
             WHERE proposer_email = $1 OR forwarded_by = $1 OR decided_by = $1 ORDER BY id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("agenda_items".into(), self.rows(&rows, &item_cols)?);

        let correction_cols = [
            Int("id"),
            Int("minutes_id"),
            Text("item"),
            Text("before"),
            Text("after"),
            Text("text"),
            Int("no_remarks"),
            Text("created_at"),
        ];
        let rows = sqlx::query(
            "SELECT id, minutes_id, item, before_text, after_text, body, no_remarks, created_at
             FROM corrections WHERE author = $1 ORDER BY id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("corrections".into(), self.rows(&rows, &correction_cols)?);

        let extra_cols = [
            Int("id"),
            Int("invitation_id"),
            Text("name"),
            Text("email"),
            Text("state"),
            Text("decided_by"),
            Text("created_at"),
        ];
        let rows = sqlx::query(
            "SELECT id, invitation_id, name, email, state, decided_by, created_at
             FROM extra_attendees WHERE email = $1 OR decided_by = $1 ORDER BY id",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        out.insert("extra_attendee".into(), self.rows(&rows, &extra_cols)?);

        // Audit events that name the address: as the actor, in the text, or about one of
        // their invitations. LIKE only narrows; the match is checked again here, since
        // `_` and `%` in an address are wildcards to it.
        let event_cols = [
            Int("id"),
            Text("at"),
            Text("actor"),
            Text("kind"),
            Int("meeting_id"),
            Int("invitation_id"),
            Int("inbound_id"),
            Text("detail"),
        ];
        let rows = sqlx::query(
            "SELECT e.id, e.at, e.actor, e.kind, e.meeting_id, e.invitation_id, e.inbound_id, e.detail
             FROM events e
             WHERE e.actor = $1 OR LOWER(e.detail) LIKE $2
                OR e.invitation_id IN (SELECT i.id FROM invitations i JOIN members mb ON mb.id = i.member_id
                                       WHERE mb.email = $1)
             ORDER BY e.id",
        )
        .bind(address)
        .bind(format!("%{address}%"))
        .fetch_all(&self.pool)
        .await?;
        out.insert("events".into(), self.rows(&rows, &event_cols)?);
        Ok(Value::Object(out))
    }

    fn rows(&self, rows: &[AnyRow], cols: &[Col]) -> Result<Value> {
        rows.iter()
            .map(|r| to_json(r, cols))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    }

    /// Whether `address` is on a council's roster now.
    pub async fn is_member_anywhere(&self, address: &str) -> Result<bool> {
        // A member removed with `member remove` has left.
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM members WHERE email = $1 AND removed_at IS NULL")
                .bind(address)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        Ok(n > 0)
    }

    /// Replaces the person with `address` (already normalised) by `placeholder` (an
    /// address at [`ERASED_DOMAIN`]) and their name by [`ERASED_NAME`] in every table,
    /// empties the bodies of the mail they sent and were sent, and gives up mail to them
    /// still waiting; in one transaction, with one audit event that names only the
    /// placeholder. Rows stay, so attendance figures and the audit still add up. A
    /// roster seat they still hold keeps its place under the placeholder, marked failing
    /// so no mail is sent to it.
    pub async fn erase_person(
        &self,
        address: &str,
        placeholder: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Erasure> {
        let mut tx = self.pool.begin().await?;
        let mut erasure = Erasure {
            address: address.into(),
            placeholder: placeholder.into(),
            changed: Vec::new(),
        };
        // Their names as stored, to be taken out of free text too. Only full names (with
        // a space): a first name alone would also match inside other words.
        let mut names: Vec<String> = Vec::new();
        for q in [
            "SELECT name FROM members WHERE email = $1",
            "SELECT proposer_name FROM agenda_items WHERE proposer_email = $1",
            "SELECT substitute_name FROM invitations WHERE substitute_email = $1",
            // Named in an answer that a later one replaced: still in the audit lines.
            "SELECT substitute_name FROM answers WHERE substitute_email = $1",
            "SELECT name FROM extra_attendees WHERE email = $1",
        ] {
            for row in sqlx::query(q).bind(address).fetch_all(&mut *tx).await? {
                let n: Option<String> = row.try_get(0)?;
                if let Some(n) = n.map(|n| n.trim().to_string()) {
                    if n.contains(' ') && n.chars().count() >= 5 && !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        use Param::{Addr, Empty, Like, Name, Now, Placeholder};
        let steps: [(&str, &str, &[Param]); 25] = [
            ("members.failing", "UPDATE members SET failing_since = COALESCE(failing_since, $1), failing_reason = 'erased' WHERE email = $2", &[Now, Addr]),
            ("members.email", "UPDATE members SET name = $1, email = $2 WHERE email = $3", &[Name, Placeholder, Addr]),
            ("members.vara", "UPDATE members SET vara_email = NULL WHERE vara_email = $1", &[Addr]),
            ("invitations.substitute", "UPDATE invitations SET substitute_name = $1, substitute_email = $2 WHERE substitute_email = $3", &[Name, Placeholder, Addr]),
            ("answers.substitute", "UPDATE answers SET substitute_name = $1, substitute_email = $2 WHERE substitute_email = $3", &[Name, Placeholder, Addr]),
            ("answers.sender", "UPDATE answers SET sender = $1 WHERE sender = $2", &[Placeholder, Addr]),
            ("inbound.raw", "UPDATE inbound SET raw = $1, raw_deleted_at = $2 WHERE sender = $3 AND raw_deleted_at IS NULL", &[Empty, Now, Addr]),
            ("inbound.sender", "UPDATE inbound SET sender = $1 WHERE sender = $2", &[Placeholder, Addr]),
            ("outbox.pending", "UPDATE outbox SET state = 'failed', last_error = 'erased' WHERE recipient = $1 AND state IN ('pending', 'sending')", &[Addr]),
            ("outbox.raw", "UPDATE outbox SET raw = $1, raw_deleted_at = $2 WHERE recipient = $3 AND raw_deleted_at IS NULL", &[Empty, Now, Addr]),
            ("outbox.recipient", "UPDATE outbox SET recipient = $1 WHERE recipient = $2", &[Placeholder, Addr]),
            ("agenda_items.proposer", "UPDATE agenda_items SET proposer_name = $1, proposer_email = $2 WHERE proposer_email = $3", &[Name, Placeholder, Addr]),
            ("agenda_items.forwarded_by", "UPDATE agenda_items SET forwarded_by = $1 WHERE forwarded_by = $2", &[Placeholder, Addr]),
            ("agenda_items.decided_by", "UPDATE agenda_items SET decided_by = $1 WHERE decided_by = $2", &[Placeholder, Addr]),
            ("minutes.submitted_by", "UPDATE minutes SET submitted_by = $1 WHERE submitted_by = $2", &[Placeholder, Addr]),
            ("minutes.approved_by", "UPDATE minutes SET approved_by = $1 WHERE approved_by = $2", &[Placeholder, Addr]),
            ("corrections.author", "UPDATE corrections SET author = $1 WHERE author = $2", &[Placeholder, Addr]),
            ("extra_attendees.email", "UPDATE extra_attendees SET name = $1, email = $2 WHERE email = $3", &[Name, Placeholder, Addr]),
            ("extra_attendees.decided_by", "UPDATE extra_attendees SET decided_by = $1 WHERE decided_by = $2", &[Placeholder, Addr]),
            ("keys.address", "UPDATE keys SET address = $1, used_at = COALESCE(used_at, $2) WHERE address = $3", &[Placeholder, Now, Addr]),
            ("events.actor", "UPDATE events SET actor = $1 WHERE actor = $2", &[Placeholder, Addr]),
            ("events.detail", "UPDATE events SET detail = REPLACE(detail, $1, $2) WHERE LOWER(detail) LIKE $3", &[Addr, Placeholder, Like]),
            ("inbound.outcome", "UPDATE inbound SET outcome = REPLACE(outcome, $1, $2) WHERE LOWER(outcome) LIKE $3", &[Addr, Placeholder, Like]),
            ("inbound.subject", "UPDATE inbound SET subject = REPLACE(subject, $1, $2) WHERE LOWER(subject) LIKE $3", &[Addr, Placeholder, Like]),
            ("outbox.last_error", "UPDATE outbox SET last_error = REPLACE(last_error, $1, $2) WHERE LOWER(last_error) LIKE $3", &[Addr, Placeholder, Like]),
        ];
        let now_s = ts(now);
        let like = format!("%{address}%");
        for (what, sql, params) in steps {
            let mut q = sqlx::query(sql);
            for p in params {
                q = match p {
                    Addr => q.bind(address),
                    Placeholder => q.bind(placeholder),
                    Now => q.bind(now_s.clone()),
                    Name => q.bind(ERASED_NAME),
                    Empty => q.bind(Vec::<u8>::new()),
                    Like => q.bind(like.clone()),
                };
            }
            let n = q.execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                erasure.changed.push((what.to_string(), n));
            }
        }
        for name in &names {
            for (what, table, col) in [
                ("events.detail (name)", "events", "detail"),
                ("inbound.outcome (name)", "inbound", "outcome"),
            ] {
                let sql = format!(
                    "UPDATE {table} SET {col} = REPLACE({col}, $1, $2) WHERE {col} LIKE $3"
                );
                let n = sqlx::query(&sql)
                    .bind(name)
                    .bind(ERASED_NAME)
                    .bind(format!("%{name}%"))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    erasure.changed.push((what.to_string(), n));
                }
            }
        }
        if erasure.total() > 0 {
            let event = NewEvent::new(
                actor,
                "erase",
                None,
                None,
                format!(
                    "a person's data erased; they are now {placeholder} ({} row(s) changed)",
                    erasure.total()
                ),
            );
            insert_event(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        Ok(erasure)
    }
}

/// Empties the bodies older than `before` that nothing will read again (see
/// [`Store::purge_raw_daily`]).
async fn purge_raw_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Purged> {
    let empty: Vec<u8> = Vec::new();
    let inbound = sqlx::query(
        "UPDATE inbound SET raw = $1, raw_deleted_at = $2
         WHERE raw_deleted_at IS NULL AND received_at < $3 AND state IN ('processed', 'ignored')
           AND NOT EXISTS (SELECT 1 FROM agenda_items a LEFT JOIN meetings m ON m.id = a.meeting_id
                           WHERE a.inbound_id = inbound.id AND a.state <> 'rejected'
                             AND (a.meeting_id IS NULL OR m.starts_at >= $2))
           AND NOT EXISTS (SELECT 1 FROM minutes mi WHERE mi.inbound_id = inbound.id
                           AND mi.approved_at IS NULL)",
    )
    .bind(empty.clone())
    .bind(ts(now))
    .bind(ts(before))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let outbox = sqlx::query(
        "UPDATE outbox SET raw = $1, raw_deleted_at = $2
         WHERE raw_deleted_at IS NULL AND created_at < $3 AND state IN ('sent', 'failed')",
    )
    .bind(empty)
    .bind(ts(now))
    .bind(ts(before))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(Purged { inbound, outbox })
}
