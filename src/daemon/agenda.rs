//! The agenda side of the council's year, at the edge: each function loads what its
//! decision needs from the store (a snapshot), lets `workflow::agenda` decide with the
//! time and fresh keys, renders the mail the plan names, and hands the result back to
//! be committed in one transaction with its cause.

use chrono::{DateTime, Utc};

use super::year::Notice;
use super::{DaemonError, Result};
use crate::daemon::Daemon;
use crate::domain::{Language, Token};
use crate::store::{
    AgendaItem, Change, Meeting, Member, NewAgendaItem, NewEvent, OutgoingMail, StoreError,
};
use crate::workflow::agenda::{self as flow, State};
use crate::workflow::plan::{self, Person};

/// An agenda item as the workflow sees it.
pub(super) fn item_view(i: &AgendaItem) -> Result<flow::Item> {
    Ok(flow::Item {
        id: i.id,
        ref_key: i.ref_key.clone(),
        council_id: i.council_id,
        meeting_id: i.meeting_id,
        fixed: i.kind == "fixed",
        title: i.title.clone(),
        description: i.description.clone(),
        proposer_name: i.proposer_name.clone(),
        proposer_email: i.proposer_email.clone(),
        state: State::parse(&i.state).ok_or_else(|| {
            DaemonError::Store(StoreError::Corrupt(format!(
                "agenda item {} has the state {:?}",
                i.id, i.state
            )))
        })?,
        late: i.late,
        number: i.number,
        decided_at: i.decided_at,
    })
}

pub(super) fn person(m: &Member) -> Person {
    Person {
        id: m.id,
        name: m.name.clone(),
        email: m.email.clone(),
        lang: m.language,
    }
}

fn event(e: plan::Event) -> NewEvent {
    NewEvent::new(&e.actor, e.kind, e.meeting_id, e.inbound_id, e.detail)
}

/// A workflow change as the store writes it.
fn change(c: flow::Change) -> Change {
    match c {
        flow::Change::NewFixed {
            ref_key,
            council_id,
            meeting_id,
            item,
            position,
            year,
            number,
        } => Change::NewAgendaItem(NewAgendaItem {
            ref_key,
            council_id,
            meeting_id: Some(meeting_id),
            kind: "fixed".into(),
            position,
            // The code: the templates name the item in each reader's language.
            title: item.code().into(),
            description: String::new(),
            attachments: Vec::new(),
            proposer_name: None,
            proposer_email: None,
            forwarded_by: None,
            inbound_id: None,
            state: State::Fixed.as_str().into(),
            late: false,
            year: Some(i64::from(year)),
            number: Some(number),
        }),
        flow::Change::NewProposal {
            ref_key,
            council_id,
            meeting_id,
            title,
            description,
            attachments,
            proposer_name,
            proposer_email,
            forwarded_by,
            inbound_id,
            late,
        } => Change::NewAgendaItem(NewAgendaItem {
            ref_key,
            council_id,
            meeting_id,
            kind: "proposal".into(),
            position: 0,
            title,
            description,
            attachments,
            proposer_name: Some(proposer_name),
            proposer_email: Some(proposer_email),
            forwarded_by,
            inbound_id: Some(inbound_id),
            state: State::Proposed.as_str().into(),
            late,
            year: None,
            number: None,
        }),
        flow::Change::Move { id, meeting_id } => Change::MoveAgendaItem { id, meeting_id },
        flow::Change::Decide {
            id,
            state,
            by,
            move_to,
        } => Change::DecideAgendaItem {
            id,
            state: state.as_str().into(),
            by,
            move_to,
        },
        flow::Change::Number {
            id,
            year,
            number,
            position,
        } => Change::NumberAgendaItem {
            id,
            year: i64::from(year),
            number,
            position,
        },
        flow::Change::MarkRequested { ref_keys } => Change::MarkRequested { ref_keys },
        flow::Change::NewExtra {
            ref_key,
            invitation_id,
            name,
            email,
            inbound_id,
        } => Change::NewExtraAttendee {
            ref_key,
            invitation_id,
            name,
            email,
            inbound_id: Some(inbound_id),
        },
        flow::Change::DecideExtra { id, approved, by } => Change::DecideExtraAttendee {
            id,
            state: if approved { "approved" } else { "rejected" }.into(),
            by,
        },
    }
}

impl Daemon {
    /// A meeting as the workflow sees it.
    fn meeting_view(&self, m: &Meeting) -> Result<flow::Meeting> {
        Ok(flow::Meeting {
            id: m.id,
            council_id: m.council_id,
            council_name: m.council_name.clone(),
            starts_at: m.starts_at,
            tz: self.tz(m)?,
            scheduled: m.status == "scheduled",
        })
    }

    /// Renders a mail a plan names.
    fn mail(&self, m: plan::Mail) -> Result<OutgoingMail> {
        self.notice(Notice {
            kind: m.kind,
            effect_key: m.effect_key,
            to_name: &m.to_name,
            to_address: &m.to_address,
            template: Some(m.template),
            data: m.data,
            lang: m.lang,
            reference: m.reference,
            expires_at: m.expires_at,
            in_reply_to: m.in_reply_to.as_deref(),
            meeting_id: m.meeting_id,
            inbound_id: m.inbound_id,
            auto_submitted: m.auto_submitted,
            ..Notice::BLANK
        })
    }

    fn mails(&self, mails: Vec<plan::Mail>) -> Result<Vec<OutgoingMail>> {
        mails.into_iter().map(|m| self.mail(m)).collect()
    }

    /// The agenda lines of a meeting as the summons and the calendar entry show them,
    /// in `lang`: the numbered items through the `agenda` template.
    pub(crate) fn agenda_lines(&self, items: &[AgendaItem], lang: Language) -> Result<Vec<String>> {
        let entries: Vec<serde_json::Value> = items
            .iter()
            .filter(|i| i.number.is_some())
            .map(|i| {
                let code = (i.kind == "fixed")
                    .then(|| flow::FixedItem::parse(&i.title))
                    .flatten()
                    .map(flow::FixedItem::code);
                serde_json::json!({
                    "label": i.label().unwrap_or_default(),
                    "code": code,
                    "title": i.title,
                    "proposer": i.proposer_name,
                    "attachments": i.attachments,
                })
            })
            .collect();
        let r = self.renderer.render_kind(
            lang,
            "agenda",
            &self.common(""),
            &serde_json::json!({ "items": entries }),
        )?;
        Ok(r.body
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The next scheduled meeting of a council after `after` (for deferred and late
    /// proposals).
    pub(super) async fn next_meeting(
        &self,
        council_id: i64,
        after: DateTime<Utc>,
    ) -> Result<Option<Meeting>> {
        Ok(self
            .store
            .meetings()
            .await?
            .into_iter()
            .filter(|m| {
                m.council_id == council_id && m.status == "scheduled" && m.starts_at > after
            })
            .min_by_key(|m| m.starts_at))
    }

    /// The first scheduled meeting of a council after `after` whose agenda is still
    /// open (its summons has not gone out).
    pub(super) async fn next_open_meeting(
        &self,
        council_id: i64,
        after: DateTime<Utc>,
    ) -> Result<Option<Meeting>> {
        let mut candidates: Vec<Meeting> = self
            .store
            .meetings()
            .await?
            .into_iter()
            .filter(|m| {
                m.council_id == council_id && m.status == "scheduled" && m.starts_at > after
            })
            .collect();
        candidates.sort_by_key(|m| m.starts_at);
        for m in candidates {
            if !self.summons_sent(m.id).await? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    // ----- closing the agenda ---------------------------------------------------------------

    /// Closes a meeting's agenda (see [`flow::close_agenda`]). Returns the changes, the
    /// agenda as it will be, and the audit lines; an agenda closed before is returned as
    /// it is, with nothing to change.
    pub(crate) async fn close_agenda(
        &self,
        m: &Meeting,
    ) -> Result<(Vec<Change>, Vec<AgendaItem>, Vec<NewEvent>)> {
        let items = self.store.agenda_items(m.id).await?;
        if items.iter().any(|i| i.number.is_some()) {
            return Ok((Vec::new(), items, Vec::new()));
        }
        let meeting = self.meeting_view(m)?;
        let council_items = self.store.council_agenda(m.council_id).await?;
        let year = flow::agenda_year(m.starts_at, meeting.tz);
        let highest = self
            .store
            .highest_number(m.council_id, i64::from(year))
            .await?;
        let next = self.next_meeting(m.council_id, m.starts_at).await?;
        let own: Vec<flow::Item> = items.iter().map(item_view).collect::<Result<_>>()?;
        let council: Vec<flow::Item> =
            council_items.iter().map(item_view).collect::<Result<_>>()?;
        let Some(closed) = flow::close_agenda(&flow::Closing {
            meeting: &meeting,
            items: &own,
            council_items: &council,
            highest,
            next_meeting: next.map(|n| n.id),
            keys: [(); 3].map(|_| Token::generate().as_str().to_string()),
        }) else {
            return Ok((Vec::new(), items, Vec::new()));
        };
        let now = self.clock.now();
        let agenda = closed
            .agenda
            .iter()
            .filter_map(|p| {
                let mut a = match &p.slot {
                    flow::Slot::Item(id) => items
                        .iter()
                        .chain(council_items.iter())
                        .find(|i| i.id == *id)?
                        .clone(),
                    flow::Slot::Fixed { item, ref_key } => AgendaItem {
                        id: 0,
                        ref_key: ref_key.clone(),
                        council_id: m.council_id,
                        meeting_id: Some(m.id),
                        kind: "fixed".into(),
                        position: 0,
                        title: item.code().into(),
                        description: String::new(),
                        attachments: Vec::new(),
                        proposer_name: None,
                        proposer_email: None,
                        forwarded_by: None,
                        inbound_id: None,
                        state: State::Fixed.as_str().into(),
                        late: false,
                        year: None,
                        number: None,
                        decided_by: None,
                        decided_at: None,
                        created_at: now,
                    },
                };
                a.meeting_id = Some(m.id);
                a.year = Some(i64::from(p.year));
                a.number = Some(p.number);
                a.position = p.position;
                Some(a)
            })
            .collect();
        let changes = closed.plan.changes.into_iter().map(change).collect();
        let events = closed.plan.events.into_iter().map(event).collect();
        Ok((changes, agenda, events))
    }

    // ----- the attendance list ------------------------------------------------------------------

    pub(crate) async fn attendance_list(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let invitees: Vec<flow::Invitee> = self
            .store
            .invitations(m.id)
            .await?
            .into_iter()
            .map(|inv| flow::Invitee {
                name: inv.member_name,
                email: inv.member_email,
                asked: inv.role.is_asked_to_answer(),
                response: inv.response,
                attendance: inv.attendance,
                substitute: inv.substitute.map(|s| s.name),
            })
            .collect();
        let extras: Vec<String> = self
            .store
            .extra_attendees(m.id)
            .await?
            .into_iter()
            .filter(|x| x.state == "approved")
            .map(|x| x.name)
            .collect();
        let coordinators: Vec<Person> = self
            .store
            .coordinators(m.council_id)
            .await?
            .iter()
            .map(person)
            .collect();
        let p = flow::attendance_list(
            &self.meeting_view(m)?,
            &invitees,
            &extras,
            &coordinators,
            self.clock.now(),
        );
        let mails = self.mails(p.mails)?;
        self.finish_job(m, job_id, "attendance", p.outcome, &mails)
            .await
    }
}
