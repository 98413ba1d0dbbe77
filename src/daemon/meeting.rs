//! Moves, cancellations and the summons of someone in a member's place: the snapshot
//! each decision needs is loaded here, `workflow::meeting` decides, and the plan is
//! committed with whatever caused it. Also where a minutes or meeting plan becomes
//! store changes and outbox rows.

use chrono::{DateTime, Utc};

use super::year::{Handled, Notice};
use super::{Daemon, DaemonError, Result};
use crate::domain::{Language, Place, Response, Role, Token};
use crate::mail::ics;
use crate::store::{self, OutgoingMail};
use crate::workflow::meeting::{
    self as decide, guest_language, AgendaLine, ChangeSnapshot, Guest, GuestSummons, MeetingChange,
    OpenItem, Plan,
};
use crate::workflow::plan;

impl Daemon {
    // ----- snapshots ----------------------------------------------------------------------

    /// A meeting as the workflow sees it.
    pub(super) fn meeting_facts(&self, m: &store::Meeting) -> Result<decide::Meeting> {
        Ok(decide::Meeting {
            id: m.id,
            council_name: m.council_name.clone(),
            title: m.title.clone(),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            time_zone: self.tz(m)?,
            status: m.status,
            sequence: m.sequence,
        })
    }

    /// The council's members (by name), each with the language they read.
    pub(super) async fn council_members(&self, council_id: i64) -> Result<Vec<decide::Member>> {
        Ok(self
            .store
            .members(council_id)
            .await?
            .into_iter()
            .map(|mb| decide::Member {
                coordinator: mb.role == Role::Coordinator,
                failing: mb.failing_since.is_some(),
                person: plan::Person {
                    id: mb.id,
                    lang: self.lang_of(&mb),
                    name: mb.name,
                    email: mb.email,
                },
            })
            .collect())
    }

    /// The meeting's invitations (by name).
    pub(super) async fn invited(&self, meeting_id: i64) -> Result<Vec<decide::Invited>> {
        Ok(self
            .store
            .invitations(meeting_id)
            .await?
            .into_iter()
            .map(|inv| decide::Invited {
                invitation_id: inv.id,
                asked: inv.role.is_asked_to_answer(),
                accepted: inv.response == Some(Response::Accepted),
                substitute: inv.substitute.map(|s| (s.name, s.email)),
                member: plan::Person {
                    id: inv.member_id,
                    lang: inv.member_language.unwrap_or(self.lang()),
                    name: inv.member_name,
                    email: inv.member_email,
                },
                token: inv.token,
            })
            .collect())
    }

    /// Those who were sent a summons without an invitation of their own: substitutes
    /// named in an answer, approved extra attendees.
    async fn guests(
        &self,
        meeting_id: i64,
        invited: &[decide::Invited],
        members: &[decide::Member],
    ) -> Result<Vec<Guest>> {
        let mut guests = Vec::new();
        for inv in invited {
            if let Some((name, Some(email))) = &inv.substitute {
                guests.push(Guest {
                    key: format!("sub:{}", inv.invitation_id),
                    token: Some(inv.token.clone()),
                    person: plan::Person {
                        id: 0,
                        name: name.clone(),
                        email: email.clone(),
                        lang: guest_language(members, email, inv.member.lang),
                    },
                });
            }
        }
        for x in self.store.extra_attendees(meeting_id).await? {
            let (true, Some(email)) = (x.state == crate::domain::ExtraState::Approved, x.email)
            else {
                continue;
            };
            let named_by = invited
                .iter()
                .find(|i| i.invitation_id == x.invitation_id)
                .map(|i| i.member.lang)
                .unwrap_or(self.lang());
            let token = invited
                .iter()
                .find(|i| i.invitation_id == x.invitation_id)
                .map(|i| i.token.clone());
            guests.push(Guest {
                key: format!("extra:{}", x.id),
                token,
                person: plan::Person {
                    id: 0,
                    lang: guest_language(members, &email, named_by),
                    name: x.name,
                    email,
                },
            });
        }
        Ok(guests)
    }

    // ----- plans --------------------------------------------------------------------------

    /// A plan about meeting `m` as what the daemon commits: store changes, outbox rows
    /// (rendered in each recipient's language) and audit lines, tied to the message
    /// that caused them, if one did.
    pub(super) fn realise(
        &self,
        m: &store::Meeting,
        p: Plan,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let mut h = match p.held {
            Some(_) => Handled::held(p.stored_outcome()),
            None => Handled::done(p.outcome),
        };
        h.changes = p
            .changes
            .into_iter()
            .map(|c| store_change(m.id, inbound_id, c))
            .collect();
        for mail in p.mails {
            h.mails.push(self.mail_out(m, mail, inbound_id)?);
        }
        h.events = p
            .events
            .into_iter()
            .map(|e| {
                store::NewEvent::new(
                    &e.actor,
                    e.kind,
                    e.meeting_id.or(Some(m.id)),
                    e.inbound_id.or(inbound_id),
                    e.detail,
                )
            })
            .collect();
        Ok(h)
    }

    /// One planned mail about meeting `m`, rendered and built: its calendar entry with
    /// it, and the meeting and the cause it does not name are `m` and `inbound_id`.
    pub(super) fn mail_out(
        &self,
        m: &store::Meeting,
        mut mail: plan::Mail,
        inbound_id: Option<i64>,
    ) -> Result<OutgoingMail> {
        let calendar = match &mail.calendar {
            Some(c) => {
                let mut at = m.clone();
                at.starts_at = c.starts_at;
                at.ends_at = c.ends_at;
                let ics = self.templated_calendar_entry(
                    &at,
                    c.method,
                    c.sequence,
                    &mail.to,
                    c.rsvp,
                    (c.template, &mail.data),
                    c.token.as_deref(),
                )?;
                Some((c.method, ics))
            }
            None => None,
        };
        mail.meeting_id = mail.meeting_id.or(Some(m.id));
        mail.inbound_id = mail.inbound_id.or(inbound_id);
        self.plan_mail(mail, calendar)
    }

    /// A mail a plan names, rendered in its recipient's language, with the calendar
    /// entry already built for it, if any.
    pub(super) fn plan_mail(
        &self,
        mail: plan::Mail,
        calendar: Option<(&'static str, String)>,
    ) -> Result<OutgoingMail> {
        let key = mail.key.as_deref().and_then(Token::parse);
        let mut out = self.notice(Notice {
            kind: mail.kind,
            effect_key: mail.effect_key,
            to_name: &mail.to.name,
            to_address: &mail.to.email,
            template: Some(mail.template),
            data: mail.data,
            lang: Some(mail.to.lang),
            key: key.as_ref(),
            reference: mail.reference,
            expires_at: mail.expires_at,
            in_reply_to: mail.in_reply_to.as_deref(),
            meeting_id: mail.meeting_id,
            inbound_id: mail.inbound_id,
            auto_submitted: mail.auto_submitted,
            calendar,
            attachments: mail.attachments,
            ..Notice::BLANK
        })?;
        out.invitation_id = mail.invitation_id;
        Ok(out)
    }

    /// A calendar entry whose words come from a template: the kind's subject line is
    /// the entry's title (SUMMARY), its body the description, in the recipient's
    /// language. Otherwise as [`Daemon::calendar_entry`].
    #[allow(clippy::too_many_arguments)]
    fn templated_calendar_entry(
        &self,
        m: &store::Meeting,
        method: &str,
        sequence: i64,
        to: &plan::Person,
        rsvp: bool,
        (template, data): (&str, &serde_json::Value),
        token: Option<&str>,
    ) -> Result<String> {
        let text = self
            .renderer
            .render_kind(to.lang, template, &self.common(&to.name), data)?;
        let uid = ics::personal_uid(token, &m.uid);
        let location = match (&m.place.room, &m.place.digital_link) {
            (Some(r), Some(l)) => Some(format!("{r} / {l}")),
            (Some(r), None) => Some(r.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        };
        Ok(ics::build(&ics::Entry {
            method,
            uid: &uid,
            sequence,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            time_zone: self.tz(m)?,
            summary: &text.subject,
            location: location.as_deref(),
            description: text.body.trim_end(),
            organizer_name: &self.cfg.secretariat.name,
            organizer: &self.cfg.secretariat.address,
            attendee_name: &to.name,
            attendee: &to.email,
            rsvp,
            stamp: self.clock.now(),
        }))
    }

    // ----- moves and cancellations ------------------------------------------------------------

    /// Moves a meeting (or cancels it when `new_times` is `None`): the jobs follow,
    /// and everyone with a calendar entry for it gets an updated or cancelled one.
    pub async fn change_meeting(
        &self,
        m: &store::Meeting,
        new_times: Option<(DateTime<Utc>, DateTime<Utc>)>,
        by: &str,
    ) -> Result<String> {
        self.change_meeting_because(m, new_times, None, by).await
    }

    /// The same, with the reason a cancellation's notice gives (`meeting cancel
    /// --reason`).
    pub async fn change_meeting_because(
        &self,
        m: &store::Meeting,
        new_times: Option<(DateTime<Utc>, DateTime<Utc>)>,
        reason: Option<&str>,
        by: &str,
    ) -> Result<String> {
        let h = self
            .plan_meeting_change(m, new_times, reason, by, None)
            .await?;
        self.commit_command(h).await
    }

    /// A move or cancellation as what the daemon commits, tied to the message that
    /// asked for it when one did (a coordinator's confirmed mail); held (with its
    /// reason) when the workflow refuses it.
    pub(crate) async fn plan_meeting_change(
        &self,
        m: &store::Meeting,
        new_times: Option<(DateTime<Utc>, DateTime<Utc>)>,
        reason: Option<&str>,
        by: &str,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let snapshot = self.change_snapshot(m).await?;
        let change = match new_times {
            Some((starts_at, ends_at)) => MeetingChange::Move { starts_at, ends_at },
            None => MeetingChange::Cancel,
        };
        let p = decide::change_meeting_because(&snapshot, change, reason, by, self.clock.now());
        if p.is_held() && inbound_id.is_none() {
            return Err(DaemonError::Refused(p.outcome));
        }
        self.realise(m, p, inbound_id)
    }

    /// `referent meeting update`: a new title, room or digital link; everyone with a
    /// calendar entry gets an updated one (a higher SEQUENCE).
    pub async fn update_meeting_details(
        &self,
        m: &store::Meeting,
        title: Option<&str>,
        place: crate::domain::Place,
        by: &str,
    ) -> Result<String> {
        // The entries, the mail and the stored title are the meeting as it is to be.
        let mut changed = m.clone();
        if let Some(t) = title {
            changed.title = t.trim().to_string();
        }
        changed.place = place.clone();
        let snapshot = self.change_snapshot(&changed).await?;
        let p = decide::change_meeting(
            &snapshot,
            MeetingChange::Details { place },
            by,
            self.clock.now(),
        );
        if p.is_held() {
            return Err(DaemonError::Refused(p.outcome));
        }
        let h = self.realise(&changed, p, None)?;
        self.commit_command(h).await
    }

    /// `meeting place ID --place … --digital-link …`: the meeting at a new place;
    /// everyone with a calendar entry gets it updated.
    pub async fn change_place(&self, m: &store::Meeting, place: Place, by: &str) -> Result<String> {
        let h = self.plan_place_change(m, place, by, None).await?;
        self.commit_command(h).await
    }

    /// A change of place as what the daemon commits (see `plan_meeting_change`).
    pub(crate) async fn plan_place_change(
        &self,
        m: &store::Meeting,
        place: Place,
        by: &str,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let snapshot = self.change_snapshot(m).await?;
        let p = decide::change_place(&snapshot, &place, by, self.clock.now());
        if p.is_held() && inbound_id.is_none() {
            return Err(DaemonError::Refused(p.outcome));
        }
        // The calendar entries say the new place.
        let mut at = m.clone();
        at.place = place;
        self.realise(&at, p, inbound_id)
    }

    /// What a move, a cancellation or a new place is decided from.
    async fn change_snapshot(&self, m: &store::Meeting) -> Result<ChangeSnapshot> {
        let invited = self.invited(m.id).await?;
        let members = self.council_members(m.council_id).await?;
        let snapshot = ChangeSnapshot {
            meeting: self.meeting_facts(m)?,
            guests: self.guests(m.id, &invited, &members).await?,
            invited,
            done_jobs: self
                .store
                .jobs(m.id)
                .await?
                .into_iter()
                .filter(|j| j.state == crate::domain::JobState::Done)
                .map(|j| j.kind)
                .collect(),
            offsets: self.cfg.offsets(&m.council_slug),
            open_items: self
                .store
                .agenda_items(m.id)
                .await?
                .into_iter()
                .filter(|i| i.number.is_none() && i.kind == crate::domain::ItemKind::Proposal)
                .map(|i| OpenItem {
                    id: i.id,
                    title: i.title,
                    state: i.state,
                })
                .collect(),
            called: {
                let called = self.store.recipients_of(m.id, "call").await?;
                members
                    .iter()
                    .filter(|mb| {
                        called
                            .iter()
                            .any(|c| crate::trust::same_address(c, &mb.person.email))
                    })
                    .map(|mb| mb.person.clone())
                    .collect()
            },
        };
        Ok(snapshot)
    }

    // ----- the summons of a substitute or an extra attendee -----------------------------------

    /// The substitute a member named earlier is not needed any more: their entry is
    /// cancelled, in their language, with the reason.
    pub(crate) async fn substitute_withdrawal(
        &self,
        m: &store::Meeting,
        inv: &store::Invitation,
        (name, email): (&str, &str),
        member_left: bool,
        inbound_id: Option<i64>,
    ) -> Result<OutgoingMail> {
        let members = self.council_members(m.council_id).await?;
        let named_by: Language = inv.member_language.unwrap_or(self.lang());
        let guest = plan::Person {
            id: 0,
            name: name.to_string(),
            email: email.to_string(),
            lang: guest_language(&members, email, named_by),
        };
        let mail = decide::guest_withdrawal(
            &self.meeting_facts(m)?,
            inv.id,
            &inv.token,
            &inv.member_name,
            &guest,
            member_left,
        );
        self.mail_out(m, mail, inbound_id)
    }

    /// The substitute named in an answer (or an approved extra attendee) gets the
    /// summons, the calendar entry and the agenda's documents, saying for whom they come.
    pub(crate) async fn substitute_summons(
        &self,
        m: &store::Meeting,
        inv: &store::Invitation,
        name: &str,
        email: &str,
        inbound_id: i64,
    ) -> Result<OutgoingMail> {
        let members = self.council_members(m.council_id).await?;
        let items = self.store.agenda_items(m.id).await?;
        // The extra attendee's row is there before it is approved; a substitute has
        // none.
        let extra = self.store.extra_attendees(m.id).await?.iter().any(|x| {
            x.invitation_id == inv.id
                && x.email
                    .as_deref()
                    .is_some_and(|e| crate::trust::same_address(e, email))
        });
        let named_by: Language = inv.member_language.unwrap_or(self.lang());
        let s = GuestSummons {
            meeting: self.meeting_facts(m)?,
            place: m.place.clone(),
            agenda: items
                .iter()
                .filter(|i| i.number.is_some())
                .map(|i| AgendaLine {
                    label: i.label().unwrap_or_default(),
                    code: (i.kind == crate::domain::ItemKind::Fixed)
                        .then(|| crate::workflow::agenda::FixedItem::parse(&i.title))
                        .flatten()
                        .map(|f| f.code()),
                    title: i.title.clone(),
                    proposer: i.proposer_name.clone(),
                    attachments: i.attachments.clone(),
                })
                .collect(),
            documents: self.agenda_documents(&items).await?,
            invitation_id: inv.id,
            member_name: inv.member_name.clone(),
            guest: plan::Person {
                id: 0,
                name: name.to_string(),
                email: email.to_string(),
                lang: guest_language(&members, email, named_by),
            },
            extra,
            token: Some(inv.token.clone()),
        };
        self.mail_out(m, decide::guest_summons(&s), Some(inbound_id))
    }
}

/// A planned change as the store writes it.
fn store_change(meeting_id: i64, inbound_id: Option<i64>, c: decide::Change) -> store::Change {
    match c {
        decide::Change::NewMinutes {
            ref_key,
            version,
            body,
            attachment_name,
            submitted_by,
            deadline_at,
        } => store::Change::NewMinutes(store::NewMinutes {
            ref_key,
            meeting_id,
            version,
            body,
            attachment_name,
            submitted_by,
            inbound_id,
            deadline_at,
        }),
        decide::Change::ApproveMinutes { id, by } => store::Change::ApproveMinutes { id, by },
        decide::Change::NewCorrection {
            minutes_id,
            author,
            item,
            before,
            after,
            text,
            no_remarks,
        } => store::Change::NewCorrection(store::NewCorrection {
            minutes_id,
            author,
            item,
            before,
            after,
            text,
            no_remarks,
            inbound_id,
        }),
        decide::Change::UpdateMeeting {
            starts_at,
            ends_at,
            status,
            sequence,
        } => store::Change::UpdateMeeting {
            id: meeting_id,
            starts_at,
            ends_at,
            status,
            sequence,
        },
        decide::Change::UpdatePlace { room, digital_link } => store::Change::UpdatePlace {
            id: meeting_id,
            room,
            digital_link,
        },
        decide::Change::ScheduleJob { kind, due_at } => store::Change::ScheduleJob {
            meeting_id,
            kind,
            due_at,
        },
        decide::Change::CancelJobs => store::Change::CancelJobs { meeting_id },
        decide::Change::UpdateDetails {
            title,
            place,
            sequence,
        } => store::Change::UpdateMeetingDetails {
            id: meeting_id,
            title,
            place,
            sequence,
        },
        decide::Change::DetachAgendaItem { id } => store::Change::MoveAgendaItem {
            id,
            meeting_id: None,
        },
    }
}
