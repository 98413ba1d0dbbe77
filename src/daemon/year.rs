//! The council's year around each meeting: the call for agenda items, calendar entries,
//! and what a reply to our mail refers to. Proposals and their approval, the numbered
//! agenda, the attendance list and extra attendees are in `agenda.rs`, draft minutes in
//! `minutes.rs`, moves and cancellations in `meeting.rs`.
//!
//! Every function here builds changes and mail, and commits them in one transaction
//! with whatever caused them (a message, a job, a command).

use chrono::{DateTime, Utc};

use super::Result;
use crate::daemon::Daemon;
use crate::domain::{Language, Role, Token};
use crate::mail::compose::{self, Draft};
use crate::mail::ics;
use crate::schedule;
use crate::store::{AgendaItem, Change, Meeting, Member, Minutes, NewEvent, OutgoingMail};
use crate::understand::{Kind, Understanding};

/// One message of the secretariat's own: to one person, about one thing.
pub(crate) struct Notice<'a> {
    pub kind: &'a str,
    pub effect_key: String,
    pub to_name: &'a str,
    pub to_address: &'a str,
    /// The template (`templates/LANG/TEMPLATE.hbs`) and its data. Until every kind has
    /// a template of its own, `None` renders `subject` and `lines` with `notice`.
    pub template: Option<&'static str>,
    pub data: serde_json::Value,
    /// The recipient's own language; the secretariat's when they have none.
    pub lang: Option<Language>,
    pub subject: String,
    pub lines: Vec<String>,
    /// The key of the object a reply should find (an agenda item, minutes). The mail
    /// carries a personal key of its own that points to it, valid only from this
    /// recipient's address.
    pub key: Option<&'a Token>,
    /// What a reply should find when it is not an object with a key (a held message
    /// awaiting confirmation: its inbound id).
    pub reference: Option<String>,
    /// When the personal key stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    pub in_reply_to: Option<&'a str>,
    pub meeting_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub auto_submitted: &'static str,
    pub calendar: Option<(&'a str, String)>,
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl Notice<'static> {
    /// The usual: automatic, about nothing a reply must find, nothing attached. Every
    /// notice names its kind, effect key, recipient, subject and lines over this.
    pub(crate) const BLANK: Notice<'static> = Notice {
        kind: "",
        effect_key: String::new(),
        to_name: "",
        to_address: "",
        template: None,
        data: serde_json::Value::Null,
        lang: None,
        subject: String::new(),
        lines: Vec::new(),
        key: None,
        reference: None,
        expires_at: None,
        in_reply_to: None,
        meeting_id: None,
        inbound_id: None,
        auto_submitted: "auto-generated",
        calendar: None,
        attachments: Vec::new(),
    };
}

/// An audit line of a plan as the store writes it.
pub(crate) fn plan_event(e: crate::workflow::plan::Event) -> NewEvent {
    NewEvent::new(&e.actor, e.kind, e.meeting_id, e.inbound_id, e.detail)
}

impl Daemon {
    /// A workflow's plan as the commit takes it: held (with its reason's code) or done,
    /// its mail rendered, its audit lines, and its changes as the store's (`change`
    /// gives `None` for one the store does not write).
    pub(crate) fn handled_plan<C>(
        &self,
        p: crate::workflow::plan::Plan<C>,
        change: impl FnMut(C) -> Option<Change>,
    ) -> Result<Handled> {
        let mut h = match p.held {
            Some(_) => Handled::held(p.stored_outcome()),
            None => Handled::done(p.outcome),
        };
        h.mails = p
            .mails
            .into_iter()
            .map(|m| self.plan_mail(m, None))
            .collect::<Result<_>>()?;
        h.events = p.events.into_iter().map(plan_event).collect();
        h.changes = p.changes.into_iter().filter_map(change).collect();
        Ok(h)
    }
}

/// What a message about the council's year leads to.
pub(crate) struct Handled {
    pub state: crate::store::InboundState,
    pub outcome: String,
    pub mails: Vec<OutgoingMail>,
    pub events: Vec<NewEvent>,
    pub changes: Vec<Change>,
}

impl Handled {
    pub(crate) fn held(outcome: impl Into<String>) -> Handled {
        Handled {
            state: crate::store::InboundState::Held,
            outcome: outcome.into(),
            mails: Vec::new(),
            events: Vec::new(),
            changes: Vec::new(),
        }
    }
    /// Held for `reason`: the outcome is its code, then `sentence` for the log.
    pub(crate) fn held_for(reason: crate::domain::HeldReason, sentence: &str) -> Handled {
        Handled::held(crate::domain::Held::because(reason).outcome(sentence))
    }
    pub(crate) fn done(outcome: impl Into<String>) -> Handled {
        Handled {
            state: crate::store::InboundState::Processed,
            ..Handled::held(outcome)
        }
    }
}

/// What a reply of ours refers to.
enum Thread {
    Item(AgendaItem),
    Extra(crate::store::ExtraAttendee),
    Minutes(Minutes),
    Call(Meeting),
    /// A confirmation request about a held message.
    Confirm(crate::store::KeyRow),
    /// A digest of held messages, to a coordinator.
    Held(crate::store::KeyRow),
    /// A digest of proposals to approve, to a coordinator.
    Approvals(crate::store::KeyRow),
}

impl Daemon {
    pub(crate) fn lang(&self) -> Language {
        self.cfg.secretariat.language
    }

    /// The language a member's mail is written in: their own, or the secretariat's.
    pub(crate) fn lang_of(&self, m: &Member) -> Language {
        m.language.unwrap_or(self.cfg.secretariat.language)
    }

    /// The variables every template gets, for one recipient.
    pub(crate) fn common(&self, to_name: &str) -> crate::render::Common {
        crate::render::Common {
            name: crate::render::first_name(to_name),
            full_name: to_name.to_string(),
            secretariat: self.cfg.secretariat.name.clone(),
            signature_name: self.cfg.secretariat.signature_name.clone(),
            signature_contact: self.cfg.secretariat.signature_contact.clone(),
        }
    }

    /// Builds one notice mail (the `notice` template: a subject and some lines).
    pub(crate) fn notice(&self, n: Notice<'_>) -> Result<OutgoingMail> {
        let lang = n.lang.unwrap_or(self.lang());
        let r = match n.template {
            Some(template) => {
                self.renderer
                    .render_kind(lang, template, &self.common(n.to_name), &n.data)?
            }
            None => {
                let text = crate::render::NoticeText {
                    subject: n.subject,
                    name: crate::render::first_name(n.to_name),
                    lines: n.lines,
                    secretariat: self.cfg.secretariat.name.clone(),
                    signature_name: self.cfg.secretariat.signature_name.clone(),
                    signature_contact: self.cfg.secretariat.signature_contact.clone(),
                };
                self.renderer.render(lang, "notice", &text)?
            }
        };
        // A reply must find what this mail is about, and only from its recipient: the
        // mail carries a key of its own (in the Message-ID and the Reply-To
        // plus-address) that the store maps to the object and to this address.
        let reference = n.key.map(|k| k.as_str().to_string()).or(n.reference);
        let personal = reference.as_ref().map(|_| Token::generate());
        let grant = match (&personal, reference) {
            (Some(p), Some(reference)) => Some(crate::store::KeyGrant {
                key: p.as_str().to_string(),
                address: n.to_address.to_string(),
                purpose: n.kind.to_string(),
                reference,
                expires_at: n.expires_at,
            }),
            _ => None,
        };
        let message_id =
            compose::new_message_id(n.kind, personal.as_ref(), self.cfg.secretariat.domain());
        let reply_to = personal
            .as_ref()
            .map(|p| self.cfg.secretariat.reply_address(p));
        let raw = compose::build(&Draft {
            from_name: &self.cfg.secretariat.name,
            from_address: &self.cfg.secretariat.address,
            reply_to: reply_to.as_deref(),
            to_name: Some(n.to_name),
            to_address: n.to_address,
            subject: &r.subject,
            body: &r.body,
            message_id: &message_id,
            in_reply_to: n.in_reply_to,
            auto_submitted: n.auto_submitted,
            kind: n.kind,
            date: self.clock.now(),
            time_zone: self.cfg.secretariat.time_zone,
            calendar: n.calendar,
            attachments: n.attachments,
        })?;
        Ok(OutgoingMail {
            effect_key: n.effect_key,
            message_id,
            kind: n.kind.to_string(),
            recipient: n.to_address.to_string(),
            envelope_from: self.cfg.secretariat.address.clone(),
            raw,
            meeting_id: n.meeting_id,
            invitation_id: None,
            inbound_id: n.inbound_id,
            grant,
        })
    }

    /// The calendar entry of a meeting for one recipient. With the recipient's
    /// invitation token the event's UID is personal (`TOKEN.MEETING-UID`): Outlook,
    /// Google and Apple all keep the UID in their REPLY, so a calendar answer is matched
    /// to exactly one invitation and cannot be made for someone else.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn calendar_entry(
        &self,
        m: &Meeting,
        method: &str,
        sequence: i64,
        name: &str,
        address: &str,
        rsvp: bool,
        description: &str,
        token: Option<&str>,
    ) -> Result<String> {
        let uid = crate::mail::ics::personal_uid(token, &m.uid);
        let tz = self.tz(m)?;
        let location = match (&m.place.room, &m.place.digital_link) {
            (Some(r), Some(l)) => Some(format!("{r} / {l}")),
            (Some(r), None) => Some(r.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        };
        let summary = format!("{}: {}", m.council_name, m.title);
        Ok(ics::build(&ics::Entry {
            method,
            uid: &uid,
            sequence,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            time_zone: tz,
            summary: &summary,
            location: location.as_deref(),
            description,
            organizer_name: &self.cfg.secretariat.name,
            organizer: &self.cfg.secretariat.address,
            attendee_name: name,
            attendee: address,
            rsvp,
            stamp: self.clock.now(),
        }))
    }

    /// The documents attached to the proposals on an agenda, to go with the summons.
    /// Past a total of 10 MB they are only listed, so the summons still arrives.
    pub(crate) async fn agenda_documents(
        &self,
        agenda: &[AgendaItem],
    ) -> Result<Vec<(String, String, Vec<u8>)>> {
        const MAX_TOTAL: usize = 10 * 1024 * 1024;
        let mut out = Vec::new();
        let mut total = 0usize;
        for item in agenda.iter().filter(|i| i.number.is_some()) {
            let Some(src) = item.inbound_id else { continue };
            if item.attachments.is_empty() {
                continue;
            }
            let raw = self.store.inbound_raw(src).await?;
            for name in &item.attachments {
                match crate::understand::attachment_bytes(&raw, name) {
                    Some((ct, bytes)) if total + bytes.len() <= MAX_TOTAL => {
                        total += bytes.len();
                        out.push((name.clone(), ct, bytes));
                    }
                    Some(_) => {
                        tracing::warn!(item = item.id, file = %name, "agenda documents exceed 10 MB; this one is only listed");
                    }
                    None => {
                        tracing::warn!(item = item.id, file = %name, "cannot read an agenda document again; only listed");
                    }
                }
            }
        }
        Ok(out)
    }

    /// Marks a scheduled job done with the mail it sends and its audit line, in one
    /// transaction; false when another run did it first.
    pub(crate) async fn finish_job(
        &self,
        m: &Meeting,
        job_id: i64,
        kind: &str,
        detail: String,
        mails: &[OutgoingMail],
    ) -> Result<bool> {
        let ev = NewEvent::new("scheduler", kind, Some(m.id), None, detail);
        Ok(self
            .store
            .complete_job(Some(job_id), &[], mails, &[ev], &[], self.clock.now())
            .await?)
    }

    /// Whether a meeting's summons has gone out (its agenda is closed then).
    pub(crate) async fn summons_sent(&self, meeting_id: i64) -> Result<bool> {
        Ok(self.store.jobs(meeting_id).await?.iter().any(|j| {
            j.kind == crate::domain::JobKind::Summons && j.state == crate::domain::JobState::Done
        }))
    }

    // ----- call for agenda items ---------------------------------------------------------

    /// The call for agenda items, to the council a chunk of members per transaction
    /// (see `jobs::CHUNK`); the job is done with the last. A run stopped midway is done
    /// again by the next, the mail already written kept once by its effect key.
    pub(crate) async fn call_for_items(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let offsets = self.cfg.offsets(&m.council_slug);
        let tz = self.tz(m)?;
        let deadline = schedule::agenda_deadline(m.starts_at, offsets, tz);
        let data = serde_json::json!({
            "council": m.council_name,
            "starts": crate::render::local_time(m.starts_at, tz),
            "deadline": crate::render::local_time(deadline, tz),
        });
        let limit = self.chunk.max(1);
        let (mut after, mut count) = (0, 0usize);
        loop {
            let page = self
                .store
                .members_page(m.council_id, after, limit as i64)
                .await?;
            let last = page.len() < limit;
            let to = match crate::workflow::jobs::call(m, &page, deadline, now) {
                Ok(to) => to,
                Err(skip) => {
                    return self
                        .finish_job(m, job_id, "call", skip.detail().to_string(), &[])
                        .await
                }
            };
            after = page.last().map_or(after, |mb| mb.id);
            let mut mails = Vec::with_capacity(to.len());
            for mb in page.iter().filter(|mb| to.contains(&mb.id)) {
                mails.push(self.notice(Notice {
                    kind: "call",
                    effect_key: format!("call:{}:{}", m.id, mb.id),
                    to_name: &mb.name,
                    to_address: &mb.email,
                    template: Some("call"),
                    data: data.clone(),
                    lang: Some(self.lang_of(mb)),
                    meeting_id: Some(m.id),
                    ..Notice::BLANK
                })?);
            }
            count += mails.len();
            let detail = format!("call for agenda items to {count} member(s)");
            if !self
                .job_chunk(m, job_id, last, mails, "call", detail)
                .await?
            {
                return Ok(false);
            }
            if last {
                return Ok(true);
            }
        }
    }

    // ----- messages about the year ----------------------------------------------------------

    /// What a reply refers to, and the address its key was sent to when it carries a
    /// personal one. Our Message-IDs say what they are about; the Reply-To
    /// plus-address carries the same key for clients that drop the threading headers.
    async fn thread(&self, u: &Understanding) -> Result<Option<(Thread, Option<String>)>> {
        let domain = self.cfg.secretariat.domain();
        for id in &u.thread_ids {
            let Some(kind) = compose::kind_in_message_id(id, domain) else {
                continue;
            };
            let key = compose::token_in_message_id(id, domain);
            if let Some(k) = &key {
                if let Some(row) = self.store.key(k.as_str()).await? {
                    let owner = row.grant.address.clone();
                    if let Some(t) = self.thread_by_key(row).await? {
                        return Ok(Some((t, Some(owner))));
                    }
                    continue;
                }
            }
            // Mail sent before keys were personal names the object itself: found, but
            // the key proves nothing about who replies.
            let key = key.as_ref().map(Token::as_str);
            let found = match (kind, key) {
                ("approval", Some(k)) => self.store.agenda_item_by_key(k).await?.map(Thread::Item),
                ("minutes" | "digest", Some(k)) => {
                    self.store.minutes_by_key(k).await?.map(Thread::Minutes)
                }
                ("extra_request", Some(k)) => self
                    .store
                    .extra_attendee_by_key(k)
                    .await?
                    .map(Thread::Extra),
                ("call", _) => match self.store.sent_message(id).await? {
                    Some(row) if row.kind == "call" => match row.meeting_id {
                        Some(mid) => Some(Thread::Call(self.store.meeting(mid).await?)),
                        None => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            if let Some(t) = found {
                return Ok(Some((t, None)));
            }
        }
        for addr in &u.recipients {
            if crate::domain::base_address(addr) != self.cfg.secretariat.address {
                continue;
            }
            let Some(k) = crate::domain::address_detail(addr).and_then(Token::parse) else {
                continue;
            };
            if let Some(row) = self.store.key(k.as_str()).await? {
                let owner = row.grant.address.clone();
                if let Some(t) = self.thread_by_key(row).await? {
                    return Ok(Some((t, Some(owner))));
                }
            }
        }
        Ok(None)
    }

    async fn thread_by_key(&self, row: crate::store::KeyRow) -> Result<Option<Thread>> {
        let r = row.grant.reference.as_str();
        Ok(match row.grant.purpose.as_str() {
            "approval" => self.store.agenda_item_by_key(r).await?.map(Thread::Item),
            "minutes" | "digest" => self.store.minutes_by_key(r).await?.map(Thread::Minutes),
            "extra_request" => self
                .store
                .extra_attendee_by_key(r)
                .await?
                .map(Thread::Extra),
            "confirm" => Some(Thread::Confirm(row)),
            "held_digest" => Some(Thread::Held(row)),
            "approval_digest" => Some(Thread::Approvals(row)),
            _ => None,
        })
    }

    pub(crate) async fn is_coordinator(&self, address: &str, council_id: i64) -> Result<bool> {
        Ok(self
            .coordinator_roles(address)
            .await?
            .iter()
            .any(|m| m.council_id == council_id))
    }

    /// The memberships in which this address is a coordinator.
    pub(crate) async fn coordinator_roles(&self, address: &str) -> Result<Vec<Member>> {
        Ok(self
            .store
            .members_by_email(address)
            .await?
            .into_iter()
            .filter(|m| m.role == Role::Coordinator)
            .collect())
    }

    /// A message about agenda items or minutes: `None` when it is about something else
    /// (an answer to a summons), and the daemon goes on as before.
    pub(crate) async fn act_on_year(
        &self,
        inbound_id: i64,
        u: &Understanding,
        raw: &[u8],
        check: &crate::trust::SenderCheck,
        acting: Option<&super::Acting>,
        report: &mut super::Report,
    ) -> Result<Option<Handled>> {
        let Some(from) = u.from.clone() else {
            return Ok(None);
        };
        let trust_of = |owner: Option<&str>| match acting {
            Some(a) => a.trust.clone(),
            None => check.trust(owner),
        };
        let found = self.thread(u).await?;
        match found {
            Some((Thread::Confirm(row), owner)) => {
                let trust = trust_of(owner.as_deref());
                return self
                    .reply_to_confirmation(inbound_id, u, &from, row, trust, report)
                    .await
                    .map(Some);
            }
            Some((Thread::Held(row), owner)) => {
                let trust = trust_of(owner.as_deref());
                return self
                    .reply_to_held_digest(inbound_id, u, &from, row, trust)
                    .await
                    .map(Some);
            }
            Some((Thread::Approvals(row), owner)) => {
                let trust = trust_of(owner.as_deref());
                return self
                    .reply_to_approval_digest(inbound_id, u, &from, row, &trust)
                    .await
                    .map(Some);
            }
            Some((Thread::Item(item), owner)) => {
                let trust = trust_of(owner.as_deref());
                return self
                    .reply_to_approval(inbound_id, u, &from, item, &trust)
                    .await
                    .map(Some);
            }
            Some((Thread::Minutes(mi), owner)) => {
                let trust = trust_of(owner.as_deref());
                return self
                    .reply_to_minutes(inbound_id, u, &from, mi, &trust)
                    .await
                    .map(Some);
            }
            Some((Thread::Extra(x), owner)) => {
                let trust = trust_of(owner.as_deref());
                return self
                    .reply_about_extra(inbound_id, u, &from, x, &trust)
                    .await
                    .map(Some);
            }
            Some((Thread::Call(m), _))
                if u.kind() == Kind::AgendaRequest
                    || (u.answer.is_none()
                        && !matches!(
                            u.kind(),
                            Kind::Status | Kind::MeetingChange | Kind::Roster
                        )) =>
            {
                let trust = trust_of(None);
                return self
                    .proposal(inbound_id, u, &from, Some(m), &trust)
                    .await
                    .map(Some);
            }
            _ => {}
        }
        let trust = trust_of(None);
        match u.kind() {
            Kind::AgendaRequest => self
                .proposal(inbound_id, u, &from, None, &trust)
                .await
                .map(Some),
            Kind::MinutesDraft => self
                .minutes_by_mail(inbound_id, u, &from, raw, &trust)
                .await
                .map(Some),
            Kind::Status => self.status_by_mail(inbound_id, u, &from, &trust).await,
            Kind::MeetingChange => self.meeting_by_mail(inbound_id, u, &from, &trust).await,
            Kind::Roster => self.roster_by_mail(inbound_id, u, &from, &trust).await,
            _ => Ok(None),
        }
    }
}
