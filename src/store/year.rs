//! The council's year in the store: agenda items, minutes and their corrections, and
//! the changes a message, a job or a command makes to them, applied in the same
//! transaction as the mail they cause.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    enqueue, insert_event, opt_ts, parse_ts, ts, NewEvent, OutgoingMail, Result, Store, StoreError,
};

#[derive(Debug, Clone, Serialize)]
pub struct AgendaItem {
    pub id: i64,
    #[serde(skip)]
    pub ref_key: String,
    pub council_id: i64,
    pub meeting_id: Option<i64>,
    /// A proposal, or a fixed item (the opening items and "Eventuelt").
    pub kind: crate::domain::ItemKind,
    pub position: i64,
    pub title: String,
    pub description: String,
    pub attachments: Vec<String>,
    pub proposer_name: Option<String>,
    pub proposer_email: Option<String>,
    pub forwarded_by: Option<String>,
    pub inbound_id: Option<i64>,
    pub state: crate::domain::ItemState,
    pub late: bool,
    pub year: Option<i64>,
    pub number: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const AGENDA_SELECT: &str = "SELECT id, ref_key, council_id, meeting_id, kind, position, title, description, attachments,
        proposer_name, proposer_email, forwarded_by, inbound_id, state, late, year, number, decided_by, decided_at, created_at
     FROM agenda_items";

impl AgendaItem {
    fn from_row(r: &AnyRow) -> Result<Self> {
        let attachments: String = r.try_get(8)?;
        Ok(AgendaItem {
            id: r.try_get(0)?,
            ref_key: r.try_get(1)?,
            council_id: r.try_get(2)?,
            meeting_id: r.try_get(3)?,
            kind: r.try_get::<String, _>(4)?.parse()?,
            position: r.try_get(5)?,
            title: r.try_get(6)?,
            description: r.try_get(7)?,
            attachments: serde_json::from_str(&attachments)
                .map_err(|e| StoreError::Corrupt(format!("agenda attachments: {e}")))?,
            proposer_name: r.try_get(9)?,
            proposer_email: r.try_get(10)?,
            forwarded_by: r.try_get(11)?,
            inbound_id: r.try_get(12)?,
            state: r.try_get::<String, _>(13)?.parse()?,
            late: r.try_get::<i64, _>(14)? != 0,
            year: r.try_get(15)?,
            number: r.try_get(16)?,
            decided_by: r.try_get(17)?,
            decided_at: opt_ts(r.try_get(18)?)?,
            created_at: parse_ts(&r.try_get::<String, _>(19)?)?,
        })
    }

    /// "Sak 7/27" once numbered.
    pub fn label(&self) -> Option<String> {
        match (self.number, self.year) {
            (Some(n), Some(y)) => Some(crate::schedule::item_label(n, y as i32)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAgendaItem {
    pub ref_key: String,
    pub council_id: i64,
    pub meeting_id: Option<i64>,
    pub kind: crate::domain::ItemKind,
    pub position: i64,
    pub title: String,
    pub description: String,
    pub attachments: Vec<String>,
    pub proposer_name: Option<String>,
    pub proposer_email: Option<String>,
    pub forwarded_by: Option<String>,
    pub inbound_id: Option<i64>,
    pub state: crate::domain::ItemState,
    pub late: bool,
    pub year: Option<i64>,
    pub number: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Minutes {
    pub id: i64,
    #[serde(skip)]
    pub ref_key: String,
    pub meeting_id: i64,
    pub version: i64,
    pub body: String,
    pub attachment_name: Option<String>,
    pub submitted_by: String,
    pub inbound_id: Option<i64>,
    pub deadline_at: DateTime<Utc>,
    pub state: crate::domain::MinutesState,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const MINUTES_SELECT: &str =
    "SELECT id, ref_key, meeting_id, version, body, attachment_name, submitted_by, inbound_id,
        deadline_at, state, approved_by, approved_at, created_at FROM minutes";

impl Minutes {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Minutes {
            id: r.try_get(0)?,
            ref_key: r.try_get(1)?,
            meeting_id: r.try_get(2)?,
            version: r.try_get(3)?,
            body: r.try_get(4)?,
            attachment_name: r.try_get(5)?,
            submitted_by: r.try_get(6)?,
            inbound_id: r.try_get(7)?,
            deadline_at: parse_ts(&r.try_get::<String, _>(8)?)?,
            state: r.try_get::<String, _>(9)?.parse()?,
            approved_by: r.try_get(10)?,
            approved_at: opt_ts(r.try_get(11)?)?,
            created_at: parse_ts(&r.try_get::<String, _>(12)?)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewMinutes {
    pub ref_key: String,
    pub meeting_id: i64,
    pub version: i64,
    pub body: String,
    pub attachment_name: Option<String>,
    pub submitted_by: String,
    pub inbound_id: Option<i64>,
    pub deadline_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrectionRecord {
    pub id: i64,
    pub minutes_id: i64,
    pub author: String,
    pub item: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub text: String,
    /// "Ingen merknader": the author has read the draft and has no corrections.
    pub no_remarks: bool,
    pub inbound_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl CorrectionRecord {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(CorrectionRecord {
            id: r.try_get(0)?,
            minutes_id: r.try_get(1)?,
            author: r.try_get(2)?,
            item: r.try_get(3)?,
            before: r.try_get(4)?,
            after: r.try_get(5)?,
            text: r.try_get(6)?,
            no_remarks: r.try_get::<i64, _>(7)? != 0,
            inbound_id: r.try_get(8)?,
            created_at: parse_ts(&r.try_get::<String, _>(9)?)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewCorrection {
    pub minutes_id: i64,
    pub author: String,
    pub item: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub text: String,
    pub no_remarks: bool,
    pub inbound_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExtraAttendee {
    pub id: i64,
    #[serde(skip)]
    pub ref_key: String,
    pub invitation_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub state: crate::domain::ExtraState,
    pub inbound_id: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

const EXTRA_SELECT: &str = "SELECT x.id, x.ref_key, x.invitation_id, x.name, x.email, x.state, x.inbound_id, x.decided_by, x.decided_at
     FROM extra_attendees x";

impl ExtraAttendee {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(ExtraAttendee {
            id: r.try_get(0)?,
            ref_key: r.try_get(1)?,
            invitation_id: r.try_get(2)?,
            name: r.try_get(3)?,
            email: r.try_get(4)?,
            state: r.try_get::<String, _>(5)?.parse()?,
            inbound_id: r.try_get(6)?,
            decided_by: r.try_get(7)?,
            decided_at: opt_ts(r.try_get(8)?)?,
        })
    }
}

/// One change to the council's year, applied inside a transaction.
#[derive(Debug, Clone)]
pub enum Change {
    NewAgendaItem(NewAgendaItem),
    /// A decision on a proposal; `move_to` moves it to another meeting (or to none).
    DecideAgendaItem {
        id: i64,
        state: crate::domain::ItemState,
        by: String,
        move_to: Option<Option<i64>>,
    },
    /// An item waiting for a meeting joins one.
    MoveAgendaItem {
        id: i64,
        meeting_id: Option<i64>,
    },
    NumberAgendaItem {
        id: i64,
        year: i64,
        number: i64,
        position: i64,
    },
    NewMinutes(NewMinutes),
    ApproveMinutes {
        id: i64,
        by: String,
    },
    NewCorrection(NewCorrection),
    NewExtraAttendee {
        ref_key: String,
        invitation_id: i64,
        name: String,
        email: Option<String>,
        inbound_id: Option<i64>,
    },
    DecideExtraAttendee {
        id: i64,
        state: crate::domain::ExtraState,
        by: String,
    },
    /// Creates the job, or makes it pending again at a new time.
    ScheduleJob {
        meeting_id: i64,
        kind: crate::domain::JobKind,
        due_at: DateTime<Utc>,
    },
    /// Every pending job of a meeting is cancelled (the meeting is).
    CancelJobs {
        meeting_id: i64,
    },
    /// The coordinators were asked to approve these proposals (by `ref_key`).
    MarkRequested {
        ref_keys: Vec<String>,
    },
    /// A member's answer settles what was held about the same invitation before it
    /// (an unreadable reply that was asked back, an unconfirmed one); what came later
    /// is not overridden by an older message confirmed late.
    SettleHeld {
        invitation_id: i64,
        by_inbound: i64,
    },
    /// Mail to an address does not arrive: every membership with it is marked failing
    /// (no more mail to it until a coordinator corrects it).
    MarkFailing {
        address: String,
        reason: String,
    },
    /// Held messages shown to the coordinators in a digest.
    MarkReported {
        ids: Vec<i64>,
    },
    /// A key has done its work (a confirmation answered); it is not taken again.
    UseKey {
        key: String,
    },
    /// A member joins a council (taking a seat another member left).
    AddMember {
        council_id: i64,
        member: super::NewMember,
    },
    /// A member's details, all of them as they are to be; a new address is no longer
    /// failing.
    UpdateMember {
        id: i64,
        member: super::NewMember,
    },
    /// A member leaves: the row stays for the history, no more mail goes to it.
    RemoveMember {
        id: i64,
    },
    /// An invitation to a meeting ahead is withdrawn (its member left); it stays for
    /// the history.
    WithdrawInvitation {
        id: i64,
    },
    UpdateCouncil {
        id: i64,
        name: String,
        auto_vara: bool,
    },
    /// A meeting's title or place changed: its calendar SEQUENCE goes up.
    UpdateMeetingDetails {
        id: i64,
        title: String,
        place: crate::domain::Place,
        sequence: i64,
    },
    /// A meeting moved or cancelled: its calendar SEQUENCE goes up.
    UpdateMeeting {
        id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        status: crate::domain::MeetingStatus,
        sequence: i64,
    },
    /// A meeting at a new place or with a new link.
    UpdatePlace {
        id: i64,
        room: Option<String>,
        digital_link: Option<String>,
    },
}

pub(super) async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    changes: &[Change],
    now: DateTime<Utc>,
) -> Result<()> {
    for c in changes {
        match c {
            Change::NewAgendaItem(a) => {
                sqlx::query(
                    "INSERT INTO agenda_items (ref_key, council_id, meeting_id, kind, position, title, description, attachments,
                        proposer_name, proposer_email, forwarded_by, inbound_id, state, late, created_at, year, number)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(&a.ref_key)
                .bind(a.council_id)
                .bind(a.meeting_id)
                .bind(a.kind.as_str())
                .bind(a.position)
                .bind(&a.title)
                .bind(&a.description)
                .bind(serde_json::to_string(&a.attachments).unwrap_or_else(|_| "[]".into()))
                .bind(a.proposer_name.as_deref())
                .bind(a.proposer_email.as_deref())
                .bind(a.forwarded_by.as_deref())
                .bind(a.inbound_id)
                .bind(a.state.as_str())
                .bind(i64::from(a.late))
                .bind(ts(now))
                .bind(a.year)
                .bind(a.number)
                .execute(&mut **tx)
                .await?;
            }
            Change::DecideAgendaItem {
                id,
                state,
                by,
                move_to,
            } => {
                sqlx::query(
                    "UPDATE agenda_items SET state = $1, decided_by = $2, decided_at = $3 WHERE id = $4",
                )
                .bind(state.as_str())
                .bind(by)
                .bind(ts(now))
                .bind(id)
                .execute(&mut **tx)
                .await?;
                if let Some(m) = move_to {
                    sqlx::query("UPDATE agenda_items SET meeting_id = $1 WHERE id = $2")
                        .bind(*m)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Change::MoveAgendaItem { id, meeting_id } => {
                sqlx::query("UPDATE agenda_items SET meeting_id = $1 WHERE id = $2")
                    .bind(meeting_id)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
            Change::NumberAgendaItem {
                id,
                year,
                number,
                position,
            } => {
                sqlx::query(
                    "UPDATE agenda_items SET year = $1, number = $2, position = $3 WHERE id = $4",
                )
                .bind(year)
                .bind(number)
                .bind(position)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::NewMinutes(m) => {
                sqlx::query(
                    "UPDATE minutes SET state = 'superseded' WHERE meeting_id = $1 AND state = 'draft'",
                )
                .bind(m.meeting_id)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO minutes (ref_key, meeting_id, version, body, attachment_name, submitted_by, inbound_id, deadline_at, state, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9)",
                )
                .bind(&m.ref_key)
                .bind(m.meeting_id)
                .bind(m.version)
                .bind(&m.body)
                .bind(m.attachment_name.as_deref())
                .bind(&m.submitted_by)
                .bind(m.inbound_id)
                .bind(ts(m.deadline_at))
                .bind(ts(now))
                .execute(&mut **tx)
                .await?;
            }
            Change::ApproveMinutes { id, by } => {
                let r = sqlx::query(
                    "UPDATE minutes SET state = 'approved', approved_by = $1, approved_at = $2 WHERE id = $3 AND state = 'draft'",
                )
                .bind(by)
                .bind(ts(now))
                .bind(id)
                .execute(&mut **tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::Conflict(
                        "these minutes are not a draft any more (approved or replaced)".into(),
                    ));
                }
            }
            Change::NewCorrection(c) => {
                sqlx::query(
                    "INSERT INTO corrections (minutes_id, author, item, before_text, after_text, body, no_remarks, inbound_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(c.minutes_id)
                .bind(&c.author)
                .bind(c.item.as_deref())
                .bind(c.before.as_deref())
                .bind(c.after.as_deref())
                .bind(&c.text)
                .bind(i64::from(c.no_remarks))
                .bind(c.inbound_id)
                .bind(ts(now))
                .execute(&mut **tx)
                .await?;
            }
            Change::NewExtraAttendee {
                ref_key,
                invitation_id,
                name,
                email,
                inbound_id,
            } => {
                sqlx::query(
                    "INSERT INTO extra_attendees (ref_key, invitation_id, name, email, state, inbound_id, created_at)
                     VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
                )
                .bind(ref_key)
                .bind(invitation_id)
                .bind(name)
                .bind(email.as_deref())
                .bind(inbound_id)
                .bind(ts(now))
                .execute(&mut **tx)
                .await?;
            }
            Change::DecideExtraAttendee { id, state, by } => {
                sqlx::query(
                    "UPDATE extra_attendees SET state = $1, decided_by = $2, decided_at = $3 WHERE id = $4",
                )
                .bind(state.as_str())
                .bind(by)
                .bind(ts(now))
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::ScheduleJob {
                meeting_id,
                kind,
                due_at,
            } => {
                sqlx::query(
                    "INSERT INTO jobs (meeting_id, kind, due_at, state) VALUES ($1, $2, $3, 'pending')
                     ON CONFLICT (meeting_id, kind) DO UPDATE SET due_at = excluded.due_at, state = 'pending', done_at = NULL",
                )
                .bind(meeting_id)
                .bind(kind.as_str())
                .bind(ts(*due_at))
                .execute(&mut **tx)
                .await?;
            }
            Change::MarkRequested { ref_keys } => {
                for k in ref_keys {
                    sqlx::query("UPDATE agenda_items SET requested_at = $1 WHERE ref_key = $2")
                        .bind(ts(now))
                        .bind(k)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Change::MarkFailing { address, reason } => {
                sqlx::query(
                    "UPDATE members SET failing_since = $1, failing_reason = $2 WHERE email = $3",
                )
                .bind(ts(now))
                .bind(reason)
                .bind(address)
                .execute(&mut **tx)
                .await?;
            }
            Change::SettleHeld {
                invitation_id,
                by_inbound,
            } => {
                sqlx::query(
                    "UPDATE inbound SET state = 'processed', outcome = COALESCE(outcome, '') || $1
                     WHERE invitation_id = $2 AND state = 'held' AND id < $3",
                )
                .bind(format!("; settled by the answer in message {by_inbound}"))
                .bind(invitation_id)
                .bind(by_inbound)
                .execute(&mut **tx)
                .await?;
            }
            Change::MarkReported { ids } => {
                for id in ids {
                    sqlx::query("UPDATE inbound SET reported_at = $1 WHERE id = $2")
                        .bind(ts(now))
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Change::UseKey { key } => {
                sqlx::query("UPDATE keys SET used_at = $1 WHERE key = $2 AND used_at IS NULL")
                    .bind(ts(now))
                    .bind(key)
                    .execute(&mut **tx)
                    .await?;
            }
            Change::CancelJobs { meeting_id } => {
                sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', done_at = $1 WHERE meeting_id = $2 AND state = 'pending'",
                )
                .bind(ts(now))
                .bind(meeting_id)
                .execute(&mut **tx)
                .await?;
            }
            Change::UpdatePlace {
                id,
                room,
                digital_link,
            } => {
                sqlx::query("UPDATE meetings SET room = $1, digital_link = $2 WHERE id = $3")
                    .bind(room.as_deref())
                    .bind(digital_link.as_deref())
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
            Change::UpdateMeeting {
                id,
                starts_at,
                ends_at,
                status,
                sequence,
            } => {
                sqlx::query(
                    "UPDATE meetings SET starts_at = $1, ends_at = $2, status = $3, sequence = $4 WHERE id = $5",
                )
                .bind(ts(*starts_at))
                .bind(ts(*ends_at))
                .bind(status.as_str())
                .bind(sequence)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::AddMember {
                council_id,
                member: m,
            } => {
                sqlx::query(
                    "INSERT INTO members (council_id, name, email, organisation, role, doctor, created_at, language, vara_email)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
                .execute(&mut **tx)
                .await?;
            }
            Change::UpdateMember { id, member: m } => {
                sqlx::query(
                    "UPDATE members SET name = $1, organisation = $2, role = $3, doctor = $4, language = $5, vara_email = $6,
                        failing_since = CASE WHEN email = $7 THEN failing_since END,
                        failing_reason = CASE WHEN email = $7 THEN failing_reason END,
                        email = $7
                     WHERE id = $8",
                )
                .bind(&m.name)
                .bind(m.organisation.as_deref())
                .bind(m.role.as_str())
                .bind(i64::from(m.doctor))
                .bind(m.language.map(|l| l.as_str()))
                .bind(m.vara.as_deref())
                .bind(&m.email)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::RemoveMember { id } => {
                sqlx::query(
                    "UPDATE members SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
                )
                .bind(ts(now))
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::WithdrawInvitation { id } => {
                sqlx::query(
                    "UPDATE invitations SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL",
                )
                .bind(ts(now))
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::UpdateCouncil {
                id,
                name,
                auto_vara,
            } => {
                sqlx::query("UPDATE councils SET name = $1, auto_vara = $2 WHERE id = $3")
                    .bind(name)
                    .bind(i64::from(*auto_vara))
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
            Change::UpdateMeetingDetails {
                id,
                title,
                place,
                sequence,
            } => {
                sqlx::query(
                    "UPDATE meetings SET title = $1, room = $2, digital_link = $3, sequence = $4 WHERE id = $5",
                )
                .bind(title)
                .bind(place.room.as_deref())
                .bind(place.digital_link.as_deref())
                .bind(sequence)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// Commits changes with the mail and audit events they cause, in one transaction.
    pub async fn commit(
        &self,
        changes: &[Change],
        mails: &[OutgoingMail],
        events: &[NewEvent],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        apply(&mut tx, changes, now).await?;
        for m in mails {
            enqueue(&mut tx, m, now).await?;
        }
        for e in events {
            insert_event(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Proposals the coordinators have not been asked about yet (batched into the
    /// hourly approval digest), by council.
    pub async fn unrequested_proposals(&self) -> Result<Vec<AgendaItem>> {
        let rows = sqlx::query(&format!(
            "{AGENDA_SELECT} WHERE state = 'proposed' AND requested_at IS NULL ORDER BY council_id, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AgendaItem::from_row).collect()
    }

    pub async fn agenda_items(&self, meeting_id: i64) -> Result<Vec<AgendaItem>> {
        let rows = sqlx::query(&format!(
            "{AGENDA_SELECT} WHERE meeting_id = $1 ORDER BY position, id"
        ))
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AgendaItem::from_row).collect()
    }

    pub async fn council_agenda(&self, council_id: i64) -> Result<Vec<AgendaItem>> {
        let rows = sqlx::query(&format!(
            "{AGENDA_SELECT} WHERE council_id = $1 ORDER BY id"
        ))
        .bind(council_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AgendaItem::from_row).collect()
    }

    pub async fn agenda_item(&self, id: i64) -> Result<AgendaItem> {
        let row = sqlx::query(&format!("{AGENDA_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => AgendaItem::from_row(&r),
            None => Err(StoreError::NotFound(format!(
                "no agenda item {id}; see `referent agenda list`"
            ))),
        }
    }

    pub async fn agenda_item_by_key(&self, key: &str) -> Result<Option<AgendaItem>> {
        let row = sqlx::query(&format!("{AGENDA_SELECT} WHERE ref_key = $1"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(AgendaItem::from_row).transpose()
    }

    /// The highest agenda number a council has given in a year.
    pub async fn highest_number(&self, council_id: i64, year: i64) -> Result<Option<i64>> {
        let row =
            sqlx::query("SELECT MAX(number) FROM agenda_items WHERE council_id = $1 AND year = $2")
                .bind(council_id)
                .bind(year)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?)
    }

    pub async fn minutes(&self, meeting_id: i64) -> Result<Vec<Minutes>> {
        let rows = sqlx::query(&format!(
            "{MINUTES_SELECT} WHERE meeting_id = $1 ORDER BY version"
        ))
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Minutes::from_row).collect()
    }

    pub async fn minutes_by_key(&self, key: &str) -> Result<Option<Minutes>> {
        let row = sqlx::query(&format!("{MINUTES_SELECT} WHERE ref_key = $1"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Minutes::from_row).transpose()
    }

    pub async fn corrections(&self, minutes_id: i64) -> Result<Vec<CorrectionRecord>> {
        let rows = sqlx::query(
            "SELECT id, minutes_id, author, item, before_text, after_text, body, no_remarks, inbound_id, created_at
             FROM corrections WHERE minutes_id = $1 ORDER BY id",
        )
        .bind(minutes_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(CorrectionRecord::from_row).collect()
    }

    pub async fn extra_attendee_by_key(&self, key: &str) -> Result<Option<ExtraAttendee>> {
        let row = sqlx::query(&format!("{EXTRA_SELECT} WHERE x.ref_key = $1"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ExtraAttendee::from_row).transpose()
    }

    pub async fn extra_attendees(&self, meeting_id: i64) -> Result<Vec<ExtraAttendee>> {
        let rows = sqlx::query(&format!(
            "{EXTRA_SELECT} JOIN invitations i ON i.id = x.invitation_id WHERE i.meeting_id = $1 ORDER BY x.id"
        ))
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ExtraAttendee::from_row).collect()
    }

    /// A message this mailbox sent, by its Message-ID.
    pub async fn sent_message(&self, message_id: &str) -> Result<Option<super::OutboxRow>> {
        let row = sqlx::query(&format!("{} WHERE message_id = $1", super::OUTBOX_SELECT))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(super::OutboxRow::from_row).transpose()
    }

    /// Every pending job, soonest first.
    pub async fn pending_jobs(&self) -> Result<Vec<super::Job>> {
        let rows = sqlx::query(
            "SELECT id, meeting_id, kind, due_at, state FROM jobs WHERE state = 'pending' ORDER BY due_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::Job::from_row).collect()
    }

    /// The latest time the daemon acted at (`--now` may not go back before it).
    pub async fn last_now(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query("SELECT at FROM clock WHERE name = 'processed'")
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(parse_ts(&r.try_get::<String, _>(0)?)?)),
            None => Ok(None),
        }
    }

    /// Records that the daemon acted at `now`; never moves the mark backwards.
    pub async fn advance_clock(&self, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO clock (name, at) VALUES ('processed', $1)
             ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE clock.at < excluded.at",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
