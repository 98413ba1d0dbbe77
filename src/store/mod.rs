//! Storage: sqlx over SQLite (the embedded default, WAL) or PostgreSQL, with one set of
//! portable queries (`$n` placeholders, text times, `RETURNING`), so both backends run
//! the same code and the same tests. Statements with many values take their placeholders
//! from [`Backend::params`] (`?` for SQLite).

mod batch;
mod lease;
mod outbox;
mod privacy;
mod report;
mod rows;
mod status;
mod summons;
mod year;

use std::str::FromStr;
use std::sync::Once;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use outbox::enqueue;
pub use outbox::*;
pub use privacy::*;
pub use rows::*;
pub use summons::*;
pub use year::*;

use crate::domain::{Answer, Role};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {0}: {1}")]
    Open(String, sqlx::Error),
    #[error("cannot prepare the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database itself failed (gone, busy, timed out), as opposed to
    /// something about the data: such a failure says nothing about the message.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Open(..) => true,
            StoreError::Db(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || e
                    .as_database_error()
                    .is_some_and(|d| d.message().contains("database is locked"))
            }
            _ => false,
        }
    }
}

impl From<crate::domain::DomainError> for StoreError {
    fn from(e: crate::domain::DomainError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static DRIVERS: Once = Once::new();

/// Writes a time the way the database keeps it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Reads a time the database keeps.
pub fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("bad time {s:?}")))
}

fn opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The placeholder of the `n`-th bound value (from 1): `$n` for PostgreSQL, `?` for
    /// SQLite. SQLite finds a numbered parameter's name by walking the list of all of
    /// them, and sqlx asks for every parameter's name when it binds: a statement with a
    /// thousand numbered values costs half a million steps, with `?` none. Every
    /// placeholder of one statement is of the same kind, in the order the values are bound.
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// `n` placeholders from the `from`-th, separated by commas (an `IN` list).
    pub(crate) fn params(self, from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| self.param(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `(…), (…)`: `rows` rows of `types.len()` placeholders from the `from`-th. A value
    /// with a type is cast to it, so PostgreSQL types a `VALUES` list that is not an
    /// insert's the same whatever is bound (SQLite takes the casts as they are).
    pub(crate) fn rows(self, from: usize, rows: usize, types: &[&str]) -> String {
        let mut n = from;
        (0..rows)
            .map(|_| {
                let row = types
                    .iter()
                    .map(|t| {
                        let p = self.param(n);
                        n += 1;
                        if t.is_empty() {
                            p
                        } else {
                            format!("CAST({p} AS {t})")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({row})")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The database, shared by every task of the daemon.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// A mail to be sent, written to the outbox in the same transaction as the change that
/// causes it.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// One row per effect: the same effect asked for twice is written once.
    pub effect_key: String,
    pub message_id: String,
    pub kind: String,
    pub recipient: String,
    pub envelope_from: String,
    pub raw: Vec<u8>,
    pub meeting_id: Option<i64>,
    pub invitation_id: Option<i64>,
    pub inbound_id: Option<i64>,
    /// The personal key this mail carries, recorded with it (only if the mail is).
    pub grant: Option<KeyGrant>,
}

/// A key given to one address with one mail: a reply carrying it is believed only
/// from that address (see `trust`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub key: String,
    pub address: String,
    /// What the key is about: `approval`, `minutes`, `digest`, `extra_request`,
    /// `confirm`, `held`.
    pub purpose: String,
    /// The object: an agenda item's, minutes' or extra attendee's `ref_key`, or an
    /// inbound message's id for a confirmation.
    pub reference: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as stored, with when it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub grant: KeyGrant,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A raw message as it arrived.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub dedup_key: String,
    pub message_id: Option<String>,
    pub content_hash: String,
    pub raw: &'a [u8],
    pub source: String,
    pub received_at: DateTime<Utc>,
}

/// What became of an inbound message.
#[derive(Debug, Clone)]
pub struct InboundOutcome {
    pub state: InboundState,
    pub kind: String,
    pub sender: Option<String>,
    pub subject: String,
    pub outcome: String,
    pub problems: Vec<String>,
    pub invitation_id: Option<i64>,
}

pub use crate::domain::InboundState;

/// An answer to record, with where it came from.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    pub invitation_id: i64,
    pub answer: Answer,
    pub source: String,
    pub sender: String,
    pub received_at: DateTime<Utc>,
}

/// Everything one inbound message's outcome commits, for [`Store::finish_inbound_many`].
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    pub inbound_id: i64,
    pub outcome: &'a InboundOutcome,
    pub answer: Option<&'a NewAnswer>,
    pub mails: &'a [OutgoingMail],
    pub events: &'a [NewEvent],
    pub changes: &'a [Change],
}

/// An invitation to create together with its summons.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub meeting_id: i64,
    pub member_id: i64,
    pub token: String,
}

impl Store {
    /// Opens (creating when missing) and migrates the database.
    pub async fn open(url: &str) -> Result<Store> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite {
            if let Some(path) = url
                .strip_prefix("sqlite://")
                .map(|p| p.split('?').next().unwrap_or(p))
            {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| StoreError::Open(url.into(), sqlx::Error::Io(e)))?;
                    }
                }
            }
        }
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes a commit
                        // survive power loss, which the "nothing lost" promise needs.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            });
        let pool = options
            .connect(url)
            .await
            .map_err(|e| StoreError::Open(redact(url), e))?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATOR.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATOR.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ----- councils and members -------------------------------------------------------

    pub async fn add_council(&self, slug: &str, name: &str, now: DateTime<Utc>) -> Result<i64> {
        if self.council_by_slug(slug).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a council with slug {slug:?} exists already"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO councils (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(slug)
        .bind(name)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn councils(&self) -> Result<Vec<Council>> {
        let rows = sqlx::query("SELECT id, slug, name FROM councils ORDER BY slug")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Council::from_row).collect()
    }

    pub async fn council_by_slug(&self, slug: &str) -> Result<Option<Council>> {
        let row = sqlx::query("SELECT id, slug, name FROM councils WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Council::from_row).transpose()
    }

    pub async fn council(&self, id: i64) -> Result<Council> {
        let row = sqlx::query("SELECT id, slug, name FROM councils WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(Council::from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no council with id {id}")))
    }

    /// Adds members all at once: either every one is added, or none is.
    pub async fn add_members(
        &self,
        council_id: i64,
        members: &[NewMember],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(members.len());
        for m in members {
            // A removed member's row is kept for the history: one who comes back takes
            // it again (with what is given now), so their history stays theirs.
            let exists = sqlx::query(
                "SELECT id, removed_at FROM members WHERE council_id = $1 AND email = $2",
            )
            .bind(council_id)
            .bind(&m.email)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = exists {
                let id: i64 = row.try_get(0)?;
                let removed: Option<String> = row.try_get(1)?;
                if removed.is_none() {
                    return Err(StoreError::Conflict(format!(
                        "{} is a member of this council already",
                        m.email
                    )));
                }
                sqlx::query(
                    "UPDATE members SET removed_at = NULL, failing_since = NULL, failing_reason = NULL,
                            name = $1, organisation = $2, role = $3, doctor = $4, language = $5, vara_email = $6
                     WHERE id = $7",
                )
                .bind(&m.name)
                .bind(m.organisation.as_deref())
                .bind(m.role.as_str())
                .bind(i64::from(m.doctor))
                .bind(m.language.map(|l| l.as_str()))
                .bind(m.vara.as_deref())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                ids.push(id);
                continue;
            }
            let row = sqlx::query(
                "INSERT INTO members (council_id, name, email, organisation, role, doctor, created_at, language, vara_email)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(council_id)
            .bind(&m.name)
            .bind(&m.email)
            .bind(m.organisation.as_deref())
            .bind(m.role.as_str())
            .bind(i64::from(m.doctor))
            .bind(ts(now))
            .bind(m.language.map(|l| l.as_str()))
            .bind(m.vara.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            ids.push(row.try_get(0)?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn members(&self, council_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "{MEMBER_SELECT} AND council_id = $1 ORDER BY name, id"
        ))
        .bind(council_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Member::from_row).collect()
    }

    /// Whether the council has had the address: a member now, or one removed (whose
    /// row stays for the history).
    pub async fn member_row_exists(&self, council_id: i64, email: &str) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM members WHERE council_id = $1 AND email = $2")
            .bind(council_id)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Whether a declining member's vara is invited in their place by itself.
    pub async fn auto_vara(&self, council_id: i64) -> Result<bool> {
        let row = sqlx::query("SELECT auto_vara FROM councils WHERE id = $1")
            .bind(council_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(r.try_get::<i64, _>(0)? != 0),
            None => Err(StoreError::NotFound(format!(
                "no council with id {council_id}"
            ))),
        }
    }

    /// Every membership of an address, in any council.
    pub async fn members_by_email(&self, email: &str) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!("{MEMBER_SELECT} AND email = $1 ORDER BY id"))
            .bind(email)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Member::from_row).collect()
    }

    /// The coordinators of a council.
    pub async fn coordinators(&self, council_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "{MEMBER_SELECT} AND council_id = $1 AND role = 'coordinator' ORDER BY id"
        ))
        .bind(council_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Member::from_row).collect()
    }

    /// Marks an address as failing (a permanent bounce) wherever it is a member.
    pub async fn mark_failing(&self, email: &str, reason: &str, now: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE members SET failing_since = $1, failing_reason = $2 WHERE email = $3",
        )
        .bind(ts(now))
        .bind(reason)
        .bind(email)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    // ----- meetings and jobs ----------------------------------------------------------

    /// Adds a meeting and its scheduled jobs in one transaction.
    pub async fn add_meeting(
        &self,
        m: &NewMeeting,
        jobs: &[(crate::domain::JobKind, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO meetings (council_id, title, starts_at, ends_at, time_zone, room, digital_link, uid, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(m.council_id)
        .bind(&m.title)
        .bind(ts(m.starts_at))
        .bind(ts(m.ends_at))
        .bind(&m.time_zone)
        .bind(m.place.room.as_deref())
        .bind(m.place.digital_link.as_deref())
        .bind(&m.uid)
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        for (kind, due) in jobs {
            sqlx::query(
                "INSERT INTO jobs (meeting_id, kind, due_at, state) VALUES ($1, $2, $3, 'pending')",
            )
            .bind(id)
            .bind(kind.as_str())
            .bind(ts(*due))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn meetings(&self) -> Result<Vec<Meeting>> {
        let rows = sqlx::query(&format!("{MEETING_SELECT} ORDER BY m.starts_at, m.id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Meeting::from_row).collect()
    }

    /// Upcoming meetings whose summons has gone out and whose council has members
    /// without an invitation (added since): one anti-join, so the idle tick reads no
    /// roster when there is nobody to invite.
    pub async fn meetings_with_uninvited(&self, now: DateTime<Utc>) -> Result<Vec<Meeting>> {
        let rows = sqlx::query(&format!(
            "{MEETING_SELECT}
             WHERE m.status = 'scheduled' AND m.starts_at > $1
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.meeting_id = m.id AND j.kind = 'summons' AND j.state = 'done')
               AND EXISTS (SELECT 1 FROM members mb WHERE mb.council_id = m.council_id AND mb.removed_at IS NULL
                           AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.meeting_id = m.id AND i.member_id = mb.id))
             ORDER BY m.starts_at, m.id"
        ))
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Meeting::from_row).collect()
    }

    pub async fn meeting(&self, id: i64) -> Result<Meeting> {
        let row = sqlx::query(&format!("{MEETING_SELECT} WHERE m.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(Meeting::from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no meeting with id {id}")))
    }

    /// The meeting a calendar UID belongs to.
    pub async fn meeting_by_uid(&self, uid: &str) -> Result<Option<Meeting>> {
        let row = sqlx::query(&format!("{MEETING_SELECT} WHERE m.uid = $1"))
            .bind(uid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Meeting::from_row).transpose()
    }

    /// Jobs that are due at `now` and not yet done, oldest first.
    pub async fn due_jobs(&self, now: DateTime<Utc>) -> Result<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT id, meeting_id, kind, due_at, state FROM jobs WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at, id",
        )
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Job::from_row).collect()
    }

    pub async fn jobs(&self, meeting_id: i64) -> Result<Vec<Job>> {
        let rows = sqlx::query("SELECT id, meeting_id, kind, due_at, state FROM jobs WHERE meeting_id = $1 ORDER BY due_at, id")
            .bind(meeting_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Job::from_row).collect()
    }

    /// Moves a pending job to a new due time (the offsets in the configuration changed).
    pub async fn reschedule_job(&self, job_id: i64, due: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE jobs SET due_at = $1 WHERE id = $2 AND state = 'pending'")
            .bind(ts(due))
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a job done with the mail it causes, in one transaction. Invitations are
    /// created with their summons. Returns false when another run did the job already.
    pub async fn complete_job(
        &self,
        job_id: Option<i64>,
        invitations: &[(NewInvitation, OutgoingMail)],
        mails: &[OutgoingMail],
        events: &[NewEvent],
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if let Some(job_id) = job_id {
            let r = sqlx::query(
                "UPDATE jobs SET state = 'done', done_at = $1 WHERE id = $2 AND state = 'pending'",
            )
            .bind(ts(now))
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        for (inv, mail) in invitations {
            invite(&mut tx, inv, mail.clone(), now).await?;
        }
        for mail in mails {
            enqueue(&mut tx, mail, now).await?;
        }
        apply(&mut tx, changes, now).await?;
        for e in events {
            insert_event(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    // ----- invitations ----------------------------------------------------------------

    pub async fn invitations(&self, meeting_id: i64) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "{INVITATION_SELECT} WHERE i.meeting_id = $1 AND i.withdrawn_at IS NULL ORDER BY mb.name, i.id"
        ))
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Invitation::from_row).collect()
    }

    pub async fn invitation(&self, id: i64) -> Result<Invitation> {
        let row = sqlx::query(&format!("{INVITATION_SELECT} WHERE i.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Invitation::from_row(&r),
            None => Err(StoreError::NotFound(format!("no invitation {id}"))),
        }
    }

    pub async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>> {
        let row = sqlx::query(&format!("{INVITATION_SELECT} WHERE i.token = $1"))
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Invitation::from_row).transpose()
    }

    /// An address's invitations to meetings that have not started, soonest first.
    pub async fn upcoming_invitations(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "{INVITATION_SELECT} JOIN meetings m ON m.id = i.meeting_id
             WHERE mb.email = $1 AND m.starts_at > $2 AND m.status = 'scheduled'
               AND i.withdrawn_at IS NULL AND mb.removed_at IS NULL ORDER BY m.starts_at, i.id"
        ))
        .bind(email)
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Invitation::from_row).collect()
    }

    /// The invitation of an address to a meeting.
    pub async fn invitation_for(&self, meeting_id: i64, email: &str) -> Result<Option<Invitation>> {
        let row = sqlx::query(&format!(
            "{INVITATION_SELECT} WHERE i.meeting_id = $1 AND mb.email = $2 AND i.withdrawn_at IS NULL AND mb.removed_at IS NULL"
        ))
        .bind(meeting_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Invitation::from_row).transpose()
    }

    /// The invitation an email we sent belongs to, by its Message-ID.
    pub async fn invitation_by_sent_message(&self, message_id: &str) -> Result<Option<Invitation>> {
        let row = sqlx::query(
            "SELECT invitation_id FROM outbox WHERE message_id = $1 AND invitation_id IS NOT NULL",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => {
                let id: i64 = r.try_get(0)?;
                let row = sqlx::query(&format!("{INVITATION_SELECT} WHERE i.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Invitation::from_row).transpose()
            }
            None => Ok(None),
        }
    }

    /// Every answer given to a meeting's invitations, oldest first.
    pub async fn answers(&self, meeting_id: i64) -> Result<Vec<AnswerRecord>> {
        let rows = sqlx::query(
            "SELECT a.id, a.invitation_id, a.response, a.attendance, a.substitute_name, a.substitute_email,
                    a.inbound_id, a.source, a.sender, a.received_at, n.message_id
             FROM answers a JOIN invitations i ON i.id = a.invitation_id
             LEFT JOIN inbound n ON n.id = a.inbound_id
             WHERE i.meeting_id = $1 ORDER BY a.received_at, a.id",
        )
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AnswerRecord::from_row).collect()
    }

    // ----- inbound ----------------------------------------------------------------------

    /// Stores a message raw before anything acts on it. Returns its id and state; a
    /// message seen before (same Message-ID and content) is not stored twice.
    pub async fn store_inbound(&self, m: &NewInbound<'_>) -> Result<(i64, InboundState)> {
        self.store_inbound_many(std::slice::from_ref(m))
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("inbound row vanished".into()))
    }

    /// Stores a fetched batch in one transaction (one wait for the disk instead of one
    /// per message); each message's id and state, in order, as `store_inbound` gives.
    pub async fn store_inbound_many(
        &self,
        batch: &[NewInbound<'_>],
    ) -> Result<Vec<(i64, InboundState)>> {
        // Two statements for the batch, not two a message: one multi-row insert that
        // skips what is stored already, then every row's id and state by its key.
        let mut tx = self.pool.begin().await?;
        let mut found: std::collections::HashMap<String, (i64, InboundState)> =
            std::collections::HashMap::with_capacity(batch.len());
        for chunk in batch.chunks(100) {
            let values = self.backend.rows(1, chunk.len(), &[""; 8]);
            let sql = format!(
                "INSERT INTO inbound (dedup_key, message_id, content_hash, raw, size, source, received_at, state)
                 VALUES {values} ON CONFLICT (dedup_key) DO NOTHING"
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q
                    .bind(&m.dedup_key)
                    .bind(m.message_id.as_deref())
                    .bind(&m.content_hash)
                    .bind(m.raw.to_vec())
                    .bind(m.raw.len() as i64)
                    .bind(&m.source)
                    .bind(ts(m.received_at))
                    .bind(InboundState::New.as_str());
            }
            q.execute(&mut *tx).await?;
            let keys = self.backend.params(1, chunk.len());
            let sql =
                format!("SELECT dedup_key, id, state FROM inbound WHERE dedup_key IN ({keys})");
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q.bind(&m.dedup_key);
            }
            for row in q.fetch_all(&mut *tx).await? {
                let state: String = row.try_get(2)?;
                found.insert(
                    row.try_get(0)?,
                    (row.try_get(1)?, parse_inbound_state(&state)?),
                );
            }
        }
        let out = batch
            .iter()
            .map(|m| {
                found.get(&m.dedup_key).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "inbound row {} not found after storing it",
                        m.dedup_key
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn inbound_raw(&self, id: i64) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT raw FROM inbound WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no inbound message {id}")))?;
        Ok(row.try_get(0)?)
    }

    /// Messages stored but never acted on (a crash between storing and acting).
    pub async fn unprocessed_inbound(&self) -> Result<Vec<(i64, DateTime<Utc>)>> {
        let rows =
            sqlx::query("SELECT id, received_at FROM inbound WHERE state = 'new' ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, parse_ts(&r.try_get::<String, _>(1)?)?)))
            .collect()
    }

    pub async fn inbound_list(&self, state: Option<&str>) -> Result<Vec<InboundSummary>> {
        let sql = "SELECT id, message_id, size, received_at, state, kind, sender, subject, outcome, problems, invitation_id FROM inbound";
        let rows = match state {
            Some(s) => {
                sqlx::query(&format!("{sql} WHERE state = $1 ORDER BY id"))
                    .bind(s)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{sql} ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(InboundSummary::from_row).collect()
    }

    /// Commits everything one inbound message causes, in one transaction: its outcome,
    /// the answer it gives, the mail it causes, the audit event. Nothing is half-done.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_inbound(
        &self,
        inbound_id: i64,
        outcome: &InboundOutcome,
        answer: Option<&NewAnswer>,
        mails: &[OutgoingMail],
        events: &[NewEvent],
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        batch::finish_in(
            &mut tx,
            self.backend,
            &[Finish {
                inbound_id,
                outcome,
                answer,
                mails,
                events,
                changes,
            }],
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- keys and attempts ----------------------------------------------------------------

    /// A personal key, by its text.
    pub async fn key(&self, key: &str) -> Result<Option<KeyRow>> {
        let row = sqlx::query(
            "SELECT key, address, purpose, ref, expires_at, created_at, used_at FROM keys WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(KeyRow {
                grant: KeyGrant {
                    key: r.try_get(0)?,
                    address: r.try_get(1)?,
                    purpose: r.try_get(2)?,
                    reference: r.try_get(3)?,
                    expires_at: opt_ts(r.try_get(4)?)?,
                },
                created_at: parse_ts(&r.try_get::<String, _>(5)?)?,
                used_at: opt_ts(r.try_get(6)?)?,
            })
        })
        .transpose()
    }

    /// Counts one more try at acting on a message, committed before the try, so a
    /// message that crashes the process is still counted. Returns the count.
    pub async fn bump_attempts(&self, inbound_id: i64) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE inbound SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
        )
        .bind(inbound_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no inbound message {inbound_id}")))?;
        Ok(row.try_get(0)?)
    }

    /// Takes back a counted try that failed for a reason not the message's own (the
    /// database went away), so it does not bring the message nearer quarantine.
    pub async fn unbump_attempts(&self, inbound_id: i64) -> Result<()> {
        sqlx::query("UPDATE inbound SET attempts = attempts - 1 WHERE id = $1 AND attempts > 0")
            .bind(inbound_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes a held or quarantined message new again, to be acted on at the next pass.
    pub async fn retry_inbound(
        &self,
        inbound_id: i64,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE inbound SET state = 'new', attempts = 0, reported_at = NULL WHERE id = $1 AND state IN ('held', 'ignored')",
        )
        .bind(inbound_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            insert_event(&mut tx, event, now).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// One inbound message's summary.
    pub async fn inbound(&self, id: i64) -> Result<InboundSummary> {
        let row = sqlx::query(
            "SELECT id, message_id, size, received_at, state, kind, sender, subject, outcome, problems, invitation_id FROM inbound WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no inbound message {id}")))?;
        InboundSummary::from_row(&row)
    }

    /// Held messages not yet shown to the coordinators in a digest, oldest first.
    pub async fn unreported_held(&self, limit: i64) -> Result<Vec<InboundSummary>> {
        let rows = sqlx::query(
            "SELECT id, message_id, size, received_at, state, kind, sender, subject, outcome, problems, invitation_id
             FROM inbound WHERE state = 'held' AND reported_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(InboundSummary::from_row).collect()
    }

    /// Mail of a kind sent to anyone since a time (the held-mail digest's pace).
    pub async fn count_kind_since(&self, kind: &str, since: DateTime<Utc>) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE kind = $1 AND created_at >= $2")
            .bind(kind)
            .bind(ts(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Audit events of a kind by one actor since a time (proposals per sender a day).
    pub async fn count_events(&self, actor: &str, kind: &str, since: DateTime<Utc>) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) FROM events WHERE actor = $1 AND kind = $2 AND at >= $3")
                .bind(actor)
                .bind(kind)
                .bind(ts(since))
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get(0)?)
    }

    // ----- mailbox checkpoint -------------------------------------------------------------

    pub async fn checkpoint(&self, name: &str) -> Result<Option<(u32, u32)>> {
        let row = sqlx::query("SELECT uid_validity, last_uid FROM mailbox_state WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => {
                let v: i64 = r.try_get(0)?;
                let u: i64 = r.try_get(1)?;
                Ok(Some((
                    u32::try_from(v).unwrap_or(0),
                    u32::try_from(u).unwrap_or(0),
                )))
            }
            None => Ok(None),
        }
    }

    pub async fn set_checkpoint(
        &self,
        name: &str,
        uid_validity: u32,
        last_uid: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mailbox_state (name, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET uid_validity = $2, last_uid = $3, updated_at = $4",
        )
        .bind(name)
        .bind(i64::from(uid_validity))
        .bind(i64::from(last_uid))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ----- audit ------------------------------------------------------------------------

    pub async fn events(&self, meeting_id: Option<i64>) -> Result<Vec<Event>> {
        let sql =
            "SELECT id, at, actor, kind, meeting_id, invitation_id, inbound_id, detail FROM events";
        let rows = match meeting_id {
            Some(m) => {
                sqlx::query(&format!("{sql} WHERE meeting_id = $1 ORDER BY id"))
                    .bind(m)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{sql} ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(Event::from_row).collect()
    }
}

/// Creates an invitation and queues its summons, unless the member already has one to
/// the meeting (a job done twice, a chunk written before a crash): then nothing.
pub(crate) async fn invite(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    inv: &NewInvitation,
    mut mail: OutgoingMail,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let existing =
        sqlx::query("SELECT id FROM invitations WHERE meeting_id = $1 AND member_id = $2")
            .bind(inv.meeting_id)
            .bind(inv.member_id)
            .fetch_optional(&mut **tx)
            .await?;
    if existing.is_some() {
        return Ok(None);
    }
    let row = sqlx::query(
        "INSERT INTO invitations (meeting_id, member_id, token, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(inv.meeting_id)
    .bind(inv.member_id)
    .bind(&inv.token)
    .bind(ts(now))
    .fetch_one(&mut **tx)
    .await?;
    let id: i64 = row.try_get(0)?;
    mail.invitation_id = Some(id);
    enqueue(tx, &mail, now).await?;
    Ok(Some(id))
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    e: &NewEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (at, actor, kind, meeting_id, invitation_id, inbound_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ts(now))
    .bind(&e.actor)
    .bind(&e.kind)
    .bind(e.meeting_id)
    .bind(e.invitation_id)
    .bind(e.inbound_id)
    .bind(&e.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn parse_inbound_state(s: &str) -> Result<InboundState> {
    Ok(s.parse()?)
}

fn redact(url: &str) -> String {
    // Never print a password from a postgres:// URL.
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

fn get_role(r: &AnyRow, i: usize) -> Result<Role> {
    let s: String = r.try_get(i)?;
    Role::from_str(&s).map_err(StoreError::from)
}
