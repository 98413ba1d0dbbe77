//! The council's year around each meeting: the call for agenda items, proposals and
//! their approval, the numbered agenda, calendar entries, moves and cancellations, the
//! attendance list, and draft minutes with their corrections and approval.
//!
//! Every function here builds changes and mail, and commits them in one transaction
//! with whatever caused them (a message, a job, a command).

use chrono::{DateTime, Utc};

use super::{DaemonError, Result};
use crate::daemon::Daemon;
use crate::domain::{Language, Role, Token};
use crate::mail::compose::{self, Draft};
use crate::mail::ics;
use crate::schedule;
use crate::store::{
    AgendaItem, Change, Meeting, Member, Minutes, NewCorrection, NewEvent, NewMinutes, OutgoingMail,
};
use crate::understand::{Decision, Kind, Understanding};

/// Picks the sentence in the secretariat's language.
pub(crate) fn t(lang: Language, nb: &str, en: &str) -> String {
    lang.pick(nb, en).to_string()
}

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
            .complete_job(Some(job_id), &[], mails, Some(ev), &[], self.clock.now())
            .await?)
    }

    /// Whether a meeting's summons has gone out (its agenda is closed then).
    pub(crate) async fn summons_sent(&self, meeting_id: i64) -> Result<bool> {
        Ok(self
            .store
            .jobs(meeting_id)
            .await?
            .iter()
            .any(|j| j.kind == schedule::SUMMONS && j.state == "done"))
    }

    // ----- call for agenda items ---------------------------------------------------------

    pub(crate) async fn call_for_items(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let mut mails = Vec::new();
        let offsets = self.cfg.offsets(&m.council_slug);
        let deadline = schedule::agenda_deadline(m.starts_at, offsets);
        // A meeting added after its deadline (an ad-hoc meeting) gets no call: its
        // agenda is whatever is proposed before the summons.
        if m.status == "scheduled" && m.starts_at > now && now < deadline {
            let tz = self.tz(m)?;
            let data = serde_json::json!({
                "council": m.council_name,
                "starts": crate::render::local_time(m.starts_at, tz),
                "deadline": crate::render::local_time(deadline, tz),
            });
            for mb in self.store.members(m.council_id).await? {
                if mb.failing_since.is_some() {
                    continue;
                }
                mails.push(self.notice(Notice {
                    kind: "call",
                    effect_key: format!("call:{}:{}", m.id, mb.id),
                    to_name: &mb.name,
                    to_address: &mb.email,
                    template: Some("call"),
                    data: data.clone(),
                    lang: Some(self.lang_of(&mb)),
                    meeting_id: Some(m.id),
                    ..Notice::BLANK
                })?);
            }
        }
        self.finish_job(
            m,
            job_id,
            "call",
            format!("call for agenda items to {} member(s)", mails.len()),
            &mails,
        )
        .await
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
            .store
            .members_by_email(address)
            .await?
            .iter()
            .any(|m| m.council_id == council_id && m.role == Role::Coordinator))
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
            Some((Thread::Call(m), _)) if u.kind() == Kind::AgendaRequest || u.answer.is_none() => {
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
            _ => Ok(None),
        }
    }

    // ----- minutes ------------------------------------------------------------------------------

    /// Draft minutes sent to the mailbox by a coordinator.
    async fn minutes_by_mail(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        raw: &[u8],
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let now = self.clock.now();
        let councils: Vec<i64> = self
            .store
            .members_by_email(from)
            .await?
            .iter()
            .filter(|m| m.role == Role::Coordinator)
            .map(|m| m.council_id)
            .collect();
        let [council_id] = councils.as_slice() else {
            return Ok(Handled::held(if councils.is_empty() {
                format!("minutes from {from}, who is not a coordinator; kept for a coordinator")
            } else {
                format!("minutes from {from}, who coordinates several councils; submit them with `referent minutes submit`")
            }));
        };
        let meeting = self
            .store
            .meetings()
            .await?
            .into_iter()
            .filter(|m| {
                m.council_id == *council_id && m.status == "scheduled" && m.starts_at <= now
            })
            .max_by_key(|m| m.starts_at);
        let Some(meeting) = meeting else {
            return Ok(Handled::held(
                "minutes, but the council has had no meeting yet; kept for a coordinator",
            ));
        };
        let text_file = u.attachments.iter().find(|a| a.text.is_some());
        let document = u.attachments.iter().find(|a| {
            let n = a.name.to_lowercase();
            n.ends_with(".docx")
                || n.ends_with(".pdf")
                || n.ends_with(".odt")
                || n.ends_with(".doc")
        });
        let body = match text_file.and_then(|f| f.text.clone()) {
            Some(t) => t,
            None => u.reply_text.clone(),
        };
        let attachment = match document {
            Some(d) => match crate::understand::attachment_bytes(raw, &d.name) {
                Some((ct, bytes)) => Some((d.name.clone(), ct, bytes)),
                None => {
                    return Ok(Handled::held(format!(
                    "minutes with the attachment {}, which cannot be read; kept for a coordinator",
                    d.name
                )))
                }
            },
            None => None,
        };
        if body.trim().is_empty() && attachment.is_none() {
            return Ok(Handled::held(
                "minutes without any text or document; kept for a coordinator",
            ));
        }
        if !trust.is_authenticated() {
            // Draft minutes reach everyone who attended: never on an unauthenticated
            // message. The coordinator it claims to come from confirms it.
            let recipients = self.minutes_recipients(&meeting).await?;
            let n = recipients.len();
            let names = recipients
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return self
                .confirm_first(
                    inbound_id,
                    u,
                    from,
                    super::trusted::Asked::Action {
                        nb: format!("Vi har mottatt et utkast til referat i ditt navn for møtet i {}. Svar «bekreft» for å sende det til {n} mottakere ({names}).", meeting.council_name),
                        en: format!("We have received draft minutes in your name for the meeting of {}. Reply \"confirm\" to send them to {n} recipients ({names}).", meeting.council_name),
                    },
                    &format!("draft minutes from {from} for {n} recipient(s)"),
                    trust,
                )
                .await;
        }
        self.submit_minutes(&meeting, &body, attachment, from, Some(inbound_id))
            .await
    }

    /// Sends a version of the draft minutes to those who attended and the coordinators,
    /// with the correction deadline.
    pub(crate) async fn submit_minutes(
        &self,
        m: &Meeting,
        body: &str,
        attachment: Option<(String, String, Vec<u8>)>,
        by: &str,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let lang = self.lang();
        let now = self.clock.now();
        let existing = self.store.minutes(m.id).await?;
        if existing.iter().any(|x| x.state == "approved") {
            return Ok(Handled::held(
                "minutes for a meeting whose minutes are already approved; kept for a coordinator",
            ));
        }
        let version = existing.iter().map(|x| x.version).max().unwrap_or(0) + 1;
        let offsets = self.cfg.offsets(&m.council_slug);
        let deadline = now + chrono::Duration::days(i64::from(offsets.correction_days));
        let tz = self.tz(m)?;
        let key = Token::generate();
        let date = crate::render::format_date(lang, m.starts_at, tz);
        let deadline_text = crate::render::format_date(lang, deadline, tz);
        let mut h = Handled::done(format!("draft minutes, version {version}, for the meeting of {date} (corrections until {deadline_text})"));
        h.changes.push(Change::NewMinutes(NewMinutes {
            ref_key: key.as_str().to_string(),
            meeting_id: m.id,
            version,
            body: body.to_string(),
            attachment_name: attachment.as_ref().map(|a| a.0.clone()),
            submitted_by: by.to_string(),
            inbound_id,
            deadline_at: deadline,
        }));
        h.changes.push(Change::ScheduleJob {
            meeting_id: m.id,
            kind: schedule::MINUTES_DEADLINE.into(),
            due_at: deadline,
        });
        h.events.push(NewEvent::new(
            by,
            "minutes",
            Some(m.id),
            inbound_id,
            h.outcome.clone(),
        ));
        let recipients = self.minutes_recipients(m).await?;
        let subject = format!(
            "{} {} {date}{}",
            t(lang, "Utkast til referat:", "Draft minutes:"),
            m.council_name,
            if version > 1 {
                format!(" ({} {version})", t(lang, "versjon", "version"))
            } else {
                String::new()
            }
        );
        for (name, email) in &recipients {
            let mut lines = vec![
                match lang {
                    Language::Nb | Language::Nn => format!("Her er utkastet til referat fra møtet i {} {date}. Rettelser sendes som svar på denne e-posten innen {deadline_text}: skriv hva som skal endres (gjerne med saksnummer), eller rett direkte i teksten under. Har du ingen merknader, svar gjerne «ingen merknader».", m.council_name),
                    Language::En => format!("Here is the draft of the minutes of {} on {date}. Send corrections as a reply to this email by {deadline_text}: say what should change (with the item number), or edit the text below. If you have no remarks, reply \"no remarks\".", m.council_name),
                },
                String::new(),
            ];
            if let Some((n, _, _)) = &attachment {
                lines.push(format!(
                    "{}: {n}",
                    t(lang, "Referatet ligger ved", "The minutes are attached")
                ));
                lines.push(String::new());
            }
            lines.extend(body.lines().map(str::to_string));
            h.mails.push(self.notice(Notice {
                kind: "minutes",
                effect_key: format!("minutes:{}:{version}:{email}", m.id),
                to_name: name,
                to_address: email,
                subject: subject.clone(),
                lines,
                key: Some(&key),
                meeting_id: Some(m.id),
                inbound_id,
                attachments: attachment.iter().cloned().collect(),
                ..Notice::BLANK
            })?);
        }
        Ok(h)
    }

    /// Who gets the draft minutes: those who attended (or sent a substitute, who gets
    /// it too) and the coordinators, each once.
    pub(crate) async fn minutes_recipients(&self, m: &Meeting) -> Result<Vec<(String, String)>> {
        let mut recipients: Vec<(String, String)> = Vec::new();
        for inv in self.store.invitations(m.id).await? {
            if inv.response == Some(crate::domain::Response::Accepted) {
                recipients.push((inv.member_name.clone(), inv.member_email.clone()));
            }
            if let Some(s) = &inv.substitute {
                if let Some(e) = &s.email {
                    recipients.push((s.name.clone(), e.clone()));
                }
            }
        }
        for c in self.store.coordinators(m.council_id).await? {
            recipients.push((c.name, c.email));
        }
        let mut seen = std::collections::HashSet::new();
        recipients.retain(|(_, e)| seen.insert(e.clone()));
        Ok(recipients)
    }

    async fn reply_to_minutes(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        mi: Minutes,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let m = self.store.meeting(mi.meeting_id).await?;
        let coordinator = self.is_coordinator(from, m.council_id).await?;
        if !trust.is_authenticated()
            && (coordinator || self.store.invitation_for(m.id, from).await?.is_some())
        {
            // Approving sends the final minutes to the whole council; a correction
            // speaks for its author. Neither acts on an unauthenticated message.
            return self
                .confirm_first(
                    inbound_id,
                    u,
                    from,
                    super::trusted::Asked::Action {
                        nb: format!("Vi har mottatt et svar i ditt navn på utkastet til referat fra møtet i {} (versjon {}). Vi kan ikke se sikkert at det kommer fra deg, så vi registrerer det ikke før du bekrefter.", m.council_name, mi.version),
                        en: format!("We have received a reply in your name to the draft minutes of {} (version {}). We cannot tell for sure that it comes from you, so we do not record it until you confirm.", m.council_name, mi.version),
                    },
                    &format!("a reply to the minutes from {from}"),
                    trust,
                )
                .await;
        }
        let decision = u.decision.or_else(|| {
            if coordinator {
                crate::understand::secretariat::read_decision(&u.reply_text)
            } else {
                None
            }
        });
        if coordinator && decision == Some(Decision::Approve) {
            return self.approve_minutes(&m, &mi, from, Some(inbound_id)).await;
        }
        if mi.state != "draft" {
            return Ok(Handled::held(format!(
                "a reply to version {} of the minutes, which is {}; kept for a coordinator",
                mi.version, mi.state
            )));
        }
        // A key sent to this address with the draft (a substitute who attended gets it
        // too) makes them someone who may answer it.
        let known = coordinator
            || *trust == crate::trust::Trust::Key
            || self.store.invitation_for(m.id, from).await?.is_some()
            || self
                .store
                .members_by_email(from)
                .await?
                .iter()
                .any(|x| x.council_id == m.council_id);
        if !known {
            return Ok(Handled::held(format!("a reply to the minutes from {from}, who is not in the council; kept for a coordinator")));
        }
        let mut corrections = if u.kind() == Kind::MinutesCorrection {
            u.corrections.clone()
        } else {
            crate::understand::secretariat::read_corrections(&u.reply_text)
        };
        // Edits made inside the quoted draft (Outlook quotes without `>`): compared
        // with the draft as it was sent, every changed line is a before/after pair.
        if let Some(body) = &u.minutes_reply_body {
            let inline = crate::understand::secretariat::inline_edits_against(body, &mi.body);
            if !inline.is_empty() {
                corrections.retain(|c| c.before.is_some() || c.item.is_some());
                for c in inline {
                    if !corrections
                        .iter()
                        .any(|x| x.before == c.before && x.after == c.after)
                    {
                        corrections.push(c);
                    }
                }
            }
        }
        let mut h = if corrections.is_empty() {
            Handled::done(format!(
                "{from} has no remarks to version {} of the minutes",
                mi.version
            ))
        } else {
            Handled::done(format!(
                "{} correction(s) from {from} to version {} of the minutes",
                corrections.len(),
                mi.version
            ))
        };
        if corrections.is_empty() {
            h.changes.push(Change::NewCorrection(NewCorrection {
                minutes_id: mi.id,
                author: from.to_string(),
                item: None,
                before: None,
                after: None,
                text: u.reply_text.trim().to_string(),
                no_remarks: true,
                inbound_id: Some(inbound_id),
            }));
        }
        for c in corrections {
            h.changes.push(Change::NewCorrection(NewCorrection {
                minutes_id: mi.id,
                author: from.to_string(),
                item: c.item,
                before: c.before,
                after: c.after,
                text: c.text,
                no_remarks: false,
                inbound_id: Some(inbound_id),
            }));
        }
        h.events.push(NewEvent::new(
            from,
            "correction",
            Some(m.id),
            Some(inbound_id),
            h.outcome.clone(),
        ));
        Ok(h)
    }

    /// Approves a draft after its deadline and sends the final minutes to every member
    /// and observer.
    pub(crate) async fn approve_minutes(
        &self,
        m: &Meeting,
        mi: &Minutes,
        by: &str,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let lang = self.lang();
        let now = self.clock.now();
        if mi.state != "draft" {
            return Ok(Handled::held(format!(
                "version {} of the minutes is {}, not a draft; nothing approved",
                mi.version, mi.state
            )));
        }
        let tz = self.tz(m)?;
        if now < mi.deadline_at {
            return Ok(Handled::held(format!(
                "approval of the minutes before the correction deadline ({}); nothing sent",
                crate::render::format_date(lang, mi.deadline_at, tz)
            )));
        }
        let date = crate::render::format_date(lang, m.starts_at, tz);
        let mut h = Handled::done(format!(
            "minutes of {date}, version {}, approved by {by}; sent to the council",
            mi.version
        ));
        h.changes.push(Change::ApproveMinutes {
            id: mi.id,
            by: by.to_string(),
        });
        h.events.push(NewEvent::new(
            by,
            "minutes_approved",
            Some(m.id),
            inbound_id,
            h.outcome.clone(),
        ));
        let attachment = match (&mi.attachment_name, mi.inbound_id) {
            (Some(name), Some(src)) => {
                let raw = self.store.inbound_raw(src).await?;
                crate::understand::attachment_bytes(&raw, name).map(|(ct, b)| (name.clone(), ct, b))
            }
            _ => None,
        };
        for mb in self.store.members(m.council_id).await? {
            if mb.failing_since.is_some() {
                continue;
            }
            let mut lines = vec![
                match lang {
                    Language::Nb | Language::Nn => format!(
                        "Referatet fra møtet i {} {date} er godkjent.",
                        m.council_name
                    ),
                    Language::En => {
                        format!("The minutes of {} on {date} are approved.", m.council_name)
                    }
                },
                String::new(),
            ];
            lines.extend(mi.body.lines().map(str::to_string));
            h.mails.push(self.notice(Notice {
                kind: "minutes_final",
                effect_key: format!("minutes-final:{}:{}", mi.id, mb.id),
                to_name: &mb.name,
                to_address: &mb.email,
                subject: format!(
                    "{} {} {date}",
                    t(lang, "Referat:", "Minutes:"),
                    m.council_name
                ),
                lines,
                meeting_id: Some(m.id),
                inbound_id,
                attachments: attachment.iter().cloned().collect(),
                ..Notice::BLANK
            })?);
        }
        Ok(h)
    }

    /// The end of the correction period: the coordinators get every correction.
    pub(crate) async fn corrections_digest(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let lang = self.lang();
        let mut mails = Vec::new();
        let current = self
            .store
            .minutes(m.id)
            .await?
            .into_iter()
            .filter(|x| x.state == "draft")
            .max_by_key(|x| x.version);
        if let Some(mi) = current {
            let key = Token::parse(&mi.ref_key);
            let corrections = self.store.corrections(mi.id).await?;
            // Names, not addresses: those the draft went to, by their address.
            let recipients = self.minutes_recipients(m).await?;
            let name_of = |email: &str| {
                recipients
                    .iter()
                    .find(|(_, e)| crate::trust::same_address(e, email))
                    .map(|(n, _)| n.clone())
                    .unwrap_or_else(|| email.to_string())
            };
            let mut lines = vec![match lang {
                Language::Nb | Language::Nn => format!("Fristen for rettelser til referatet (versjon {}) er ute. Dette kom inn:", mi.version),
                Language::En => format!("The deadline for corrections to the minutes (version {}) has passed. This came in:", mi.version),
            }, String::new()];
            let mut any = false;
            for c in &corrections {
                if c.no_remarks {
                    lines.push(format!(
                        "  {}: {}",
                        name_of(&c.author),
                        t(lang, "ingen merknader", "no remarks")
                    ));
                    continue;
                }
                any = true;
                let item = c
                    .item
                    .as_ref()
                    .map(|i| format!(" ({} {i})", t(lang, "sak", "item")))
                    .unwrap_or_default();
                match (&c.before, &c.after) {
                    (Some(b), Some(a)) => {
                        lines.push(format!("  {}{item}: «{b}» → «{a}»", name_of(&c.author)))
                    }
                    _ => lines.push(format!("  {}{item}: {}", name_of(&c.author), c.text)),
                }
            }
            if corrections.is_empty() {
                lines.push(t(lang, "  Ingen svar.", "  No replies."));
            }
            let coordinators: Vec<String> = self
                .store
                .coordinators(m.council_id)
                .await?
                .into_iter()
                .map(|c| c.email)
                .collect();
            let silent: Vec<String> = recipients
                .iter()
                .filter(|(_, e)| !coordinators.contains(e))
                .filter(|(_, e)| {
                    !corrections
                        .iter()
                        .any(|c| crate::trust::same_address(&c.author, e))
                })
                .map(|(n, _)| n.clone())
                .collect();
            if !silent.is_empty() {
                lines.push(String::new());
                lines.push(format!(
                    "{}: {}",
                    t(lang, "Har ikke svart", "Have not answered"),
                    silent.join(", ")
                ));
            }
            lines.push(String::new());
            lines.push(if any {
                t(lang, "Send en rettet versjon til postkassen («Utkast til referat …») for en ny runde, eller svar «godkjent» for å sende referatet ut.",
                  "Send a corrected version to the mailbox (\"Draft minutes …\") for another round, or reply \"approved\" to send the minutes out.")
            } else {
                t(lang, "Svar «godkjent» på denne e-posten for å sende referatet til alle.", "Reply \"approved\" to this email to send the minutes to everyone.")
            });
            for c in self.store.coordinators(m.council_id).await? {
                mails.push(self.notice(Notice {
                    kind: "digest",
                    effect_key: format!("digest:{}:{}", mi.id, c.id),
                    to_name: &c.name,
                    to_address: &c.email,
                    subject: format!(
                        "{} {} ({} {})",
                        t(
                            lang,
                            "Rettelser til referat:",
                            "Corrections to the minutes:"
                        ),
                        m.council_name,
                        t(lang, "versjon", "version"),
                        mi.version
                    ),
                    lines: lines.clone(),
                    key: key.as_ref(),
                    meeting_id: Some(m.id),
                    ..Notice::BLANK
                })?);
            }
        }
        self.finish_job(
            m,
            job_id,
            "digest",
            format!("corrections digest to {} coordinator(s)", mails.len()),
            &mails,
        )
        .await
    }

    // ----- moves and cancellations ------------------------------------------------------------

    /// Moves a meeting (or cancels it when `new_times` is `None`): the jobs follow,
    /// and everyone already invited gets an updated or cancelled calendar entry.
    pub async fn change_meeting(
        &self,
        m: &Meeting,
        new_times: Option<(DateTime<Utc>, DateTime<Utc>)>,
        by: &str,
    ) -> Result<String> {
        let lang = self.lang();
        let now = self.clock.now();
        if m.status != "scheduled" {
            return Err(DaemonError::Refused(format!(
                "meeting {} is {}, not scheduled",
                m.id, m.status
            )));
        }
        let sequence = m.sequence + 1;
        let mut changes = Vec::new();
        let mut moved = m.clone();
        moved.sequence = sequence;
        match new_times {
            Some((s, e)) => {
                moved.starts_at = s;
                moved.ends_at = e;
                changes.push(Change::UpdateMeeting {
                    id: m.id,
                    starts_at: s,
                    ends_at: e,
                    status: "scheduled".into(),
                    sequence,
                });
                let jobs = self.store.jobs(m.id).await?;
                for (kind, due) in schedule::jobs_for(s, self.cfg.offsets(&m.council_slug)) {
                    let done = jobs.iter().any(|j| j.kind == kind && j.state == "done");
                    if !done {
                        changes.push(Change::ScheduleJob {
                            meeting_id: m.id,
                            kind,
                            due_at: due,
                        });
                    }
                }
            }
            None => {
                moved.status = "cancelled".into();
                changes.push(Change::UpdateMeeting {
                    id: m.id,
                    starts_at: m.starts_at,
                    ends_at: m.ends_at,
                    status: "cancelled".into(),
                    sequence,
                });
                changes.push(Change::CancelJobs { meeting_id: m.id });
            }
        }
        let tz = self.tz(m)?;
        let at = t(lang, "kl.", "at");
        let old_date = format!(
            "{} {at} {}",
            crate::render::format_date(lang, m.starts_at, tz),
            crate::render::format_time_range(m.starts_at, m.ends_at, tz)
        );
        let new_date = format!(
            "{} {at} {}",
            crate::render::format_date(lang, moved.starts_at, tz),
            crate::render::format_time_range(moved.starts_at, moved.ends_at, tz)
        );
        let mut mails = Vec::new();
        let method = if new_times.is_some() {
            "REQUEST"
        } else {
            "CANCEL"
        };
        for inv in self.store.invitations(m.id).await? {
            let asked = inv.role.is_asked_to_answer();
            let (subject, line) = match (new_times.is_some(), lang) {
                (true, Language::Nb | Language::Nn) => (
                    format!("Endret tidspunkt: {} {new_date}", m.council_name),
                    format!(
                        "Møtet i {} er flyttet fra {old_date} til {new_date}.",
                        m.council_name
                    ),
                ),
                (true, Language::En) => (
                    format!("New time: {} {new_date}", m.council_name),
                    format!(
                        "The meeting of {} has moved from {old_date} to {new_date}.",
                        m.council_name
                    ),
                ),
                (false, Language::Nb | Language::Nn) => (
                    format!("Avlyst: {} {old_date}", m.council_name),
                    format!("Møtet i {} {old_date} er avlyst.", m.council_name),
                ),
                (false, Language::En) => (
                    format!("Cancelled: {} {old_date}", m.council_name),
                    format!(
                        "The meeting of {} on {old_date} is cancelled.",
                        m.council_name
                    ),
                ),
            };
            let mut lines = vec![line];
            if new_times.is_some() && asked {
                lines.push(t(
                    lang,
                    "Svar gjerne på nytt hvis dette endrer om du kan komme.",
                    "Please answer again if this changes whether you can come.",
                ));
            }
            let ics = self.calendar_entry(
                &moved,
                method,
                sequence,
                &inv.member_name,
                &inv.member_email,
                asked,
                &lines.join("\n"),
                Some(&inv.token),
            )?;
            let token = Token::parse(&inv.token);
            let mut mail = self.notice(Notice {
                kind: if new_times.is_some() {
                    "update"
                } else {
                    "cancel"
                },
                effect_key: format!(
                    "{}:{}:{}:{sequence}",
                    if new_times.is_some() {
                        "update"
                    } else {
                        "cancel"
                    },
                    m.id,
                    inv.id
                ),
                to_name: &inv.member_name,
                to_address: &inv.member_email,
                subject,
                lines,
                key: token.as_ref(),
                meeting_id: Some(m.id),
                calendar: Some((method, ics)),
                ..Notice::BLANK
            })?;
            mail.invitation_id = Some(inv.id);
            mails.push(mail);
        }
        let what = match new_times {
            Some(_) => format!(
                "meeting {} moved from {old_date} to {new_date}; {} update(s) queued",
                m.id,
                mails.len()
            ),
            None => format!(
                "meeting {} on {old_date} cancelled; {} cancellation(s) queued",
                m.id,
                mails.len()
            ),
        };
        let ev = NewEvent::new(
            by,
            if new_times.is_some() {
                "meeting_moved"
            } else {
                "meeting_cancelled"
            },
            Some(m.id),
            None,
            what.clone(),
        );
        self.store.commit(&changes, &mails, &[ev], now).await?;
        self.store.advance_clock(now).await?;
        Ok(what)
    }

    /// Commits what a command decided (approve an item, submit or approve minutes),
    /// or refuses with the reason when it would be held.
    pub(crate) async fn commit_command(&self, h: Handled) -> Result<String> {
        if h.state == crate::store::InboundState::Held {
            return Err(DaemonError::Refused(h.outcome));
        }
        let now = self.clock.now();
        self.store
            .commit(&h.changes, &h.mails, &h.events, now)
            .await?;
        self.store.advance_clock(now).await?;
        Ok(h.outcome)
    }

    pub async fn cli_submit_minutes(
        &self,
        meeting_id: i64,
        body: &str,
        attachment: Option<(String, String, Vec<u8>)>,
        by: &str,
    ) -> Result<String> {
        let m = self.store.meeting(meeting_id).await?;
        if m.starts_at > self.clock.now() {
            return Err(DaemonError::Refused(format!(
                "meeting {meeting_id} has not taken place yet"
            )));
        }
        let h = self.submit_minutes(&m, body, attachment, by, None).await?;
        self.commit_command(h).await
    }

    pub async fn cli_approve_minutes(&self, meeting_id: i64, by: &str) -> Result<String> {
        let m = self.store.meeting(meeting_id).await?;
        let Some(mi) = self
            .store
            .minutes(meeting_id)
            .await?
            .into_iter()
            .filter(|x| x.state == "draft")
            .max_by_key(|x| x.version)
        else {
            return Err(DaemonError::Refused(format!(
                "meeting {meeting_id} has no draft minutes to approve"
            )));
        };
        let h = self.approve_minutes(&m, &mi, by, None).await?;
        self.commit_command(h).await
    }

    /// The substitute named in an answer gets the summons and the calendar entry in the
    /// member's place.
    pub(crate) async fn substitute_summons(
        &self,
        m: &Meeting,
        inv: &crate::store::Invitation,
        name: &str,
        email: &str,
        inbound_id: i64,
    ) -> Result<OutgoingMail> {
        let lang = self.lang();
        let items = self.store.agenda_items(m.id).await?;
        let mut ctx = self.meeting_text(m, name, false, lang)?;
        ctx.agenda = self.agenda_lines(&items, lang)?;
        let r = self.renderer.render(lang, "summons", &ctx)?;
        let body = match lang {
            Language::Nb | Language::Nn => format!(
                "{} har meldt at du møter i stedet.\n\n{}",
                inv.member_name, r.body
            ),
            Language::En => format!(
                "{} has told us that you attend in their place.\n\n{}",
                inv.member_name, r.body
            ),
        };
        let ics = self.calendar_entry(
            m,
            "REQUEST",
            m.sequence,
            name,
            email,
            false,
            &ctx.agenda.join("\n"),
            None,
        )?;
        let message_id = compose::new_message_id("summons", None, self.cfg.secretariat.domain());
        let raw = compose::build(&Draft {
            from_name: &self.cfg.secretariat.name,
            from_address: &self.cfg.secretariat.address,
            reply_to: None,
            to_name: Some(name),
            to_address: email,
            subject: &r.subject,
            body: &body,
            message_id: &message_id,
            in_reply_to: None,
            auto_submitted: "auto-generated",
            kind: "summons",
            date: self.clock.now(),
            calendar: Some(("REQUEST", ics)),
            attachments: Vec::new(),
        })?;
        Ok(OutgoingMail {
            effect_key: format!("substitute:{}:{email}", inv.id),
            message_id,
            kind: "summons".into(),
            recipient: email.to_string(),
            envelope_from: self.cfg.secretariat.address.clone(),
            raw,
            meeting_id: Some(m.id),
            invitation_id: Some(inv.id),
            inbound_id: Some(inbound_id),
            grant: None,
        })
    }
}
