//! The council's year around each meeting: the call for agenda items, proposals and
//! their approval, the numbered agenda, calendar entries and the attendance list; what
//! a reply to our mail refers to. Draft minutes are in `minutes.rs`, moves and
//! cancellations in `meeting.rs`.
//!
//! Every function here builds changes and mail, and commits them in one transaction
//! with whatever caused them (a message, a job, a command).

use chrono::{DateTime, Datelike, Utc};

use super::Result;
use crate::daemon::Daemon;
use crate::domain::{Language, Role, Token};
use crate::mail::compose::{self, Draft};
use crate::mail::ics;
use crate::schedule;
use crate::store::{
    AgendaItem, Change, Meeting, Member, Minutes, NewAgendaItem, NewEvent, OutgoingMail,
};
use crate::understand::{Decision, Kind, Understanding};

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

/// The title on the first line of a text and the rest as the description.
fn first_line_item(text: &str) -> Option<crate::understand::AgendaItem> {
    let text = text.trim();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let title: String = first
        .trim()
        .trim_start_matches("Forslag til sak:")
        .trim_start_matches("Sak:")
        .trim()
        .chars()
        .take(200)
        .collect();
    (!title.is_empty()).then(|| crate::understand::AgendaItem {
        title,
        description: rest.trim().to_string(),
    })
}

fn decision_state(d: Decision) -> &'static str {
    match d {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
        Decision::Defer => "deferred",
    }
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

    /// The agenda lines of a meeting as the summons and the calendar entry show them,
    /// in `lang`: the numbered items through the `agenda` template.
    pub(crate) fn agenda_lines(&self, items: &[AgendaItem], lang: Language) -> Result<Vec<String>> {
        let entries: Vec<serde_json::Value> = items
            .iter()
            .filter(|i| i.number.is_some())
            .map(|i| {
                let code = (i.kind == "fixed")
                    .then(|| crate::workflow::agenda::FixedItem::parse(&i.title))
                    .flatten()
                    .map(|f| f.code());
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

    /// The next scheduled meeting of a council after `after` (for deferred and late
    /// proposals).
    async fn next_meeting(&self, council_id: i64, after: DateTime<Utc>) -> Result<Option<Meeting>> {
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
    async fn next_open_meeting(
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

    /// Closes a meeting's agenda: the fixed opening items, the approved proposals and
    /// "Eventuelt", numbered per council and year; undecided proposals move to the next
    /// meeting. Returns the changes and the agenda as it will be.
    pub(crate) async fn close_agenda(
        &self,
        m: &Meeting,
    ) -> Result<(Vec<Change>, Vec<AgendaItem>, Vec<NewEvent>)> {
        let mut items = self.store.agenda_items(m.id).await?;
        if items.iter().any(|i| i.number.is_some()) {
            return Ok((Vec::new(), items, Vec::new()));
        }
        let mut changes = Vec::new();
        // Items that waited for a meeting (none was scheduled when they came) join this one.
        for mut waiting in self
            .store
            .council_agenda(m.council_id)
            .await?
            .into_iter()
            .filter(|i| i.meeting_id.is_none() && (i.state == "approved" || i.state == "proposed"))
        {
            changes.push(Change::MoveAgendaItem {
                id: waiting.id,
                meeting_id: Some(m.id),
            });
            waiting.meeting_id = Some(m.id);
            items.push(waiting);
        }
        let year = i64::from(m.starts_at.with_timezone(&self.tz(m)?).year());
        let highest = self.store.highest_number(m.council_id, year).await?;
        let mut approved: Vec<&AgendaItem> =
            items.iter().filter(|i| i.state == "approved").collect();
        approved.sort_by_key(|i| (i.decided_at, i.id));
        let next = self.next_meeting(m.council_id, m.starts_at).await?;
        let mut events = Vec::new();
        for i in items.iter().filter(|i| i.state == "proposed") {
            changes.push(Change::DecideAgendaItem {
                id: i.id,
                state: "proposed".into(),
                by: "scheduler".into(),
                move_to: Some(next.as_ref().map(|n| n.id)),
            });
            events.push(NewEvent::new(
                "scheduler",
                "agenda_moved",
                Some(m.id),
                i.inbound_id,
                format!(
                    "\"{}\" was not decided before the summons; moved to the next meeting",
                    i.title
                ),
            ));
        }
        // The fixed items are stored by their code; the templates give them words.
        let fixed_first = crate::workflow::agenda::FixedItem::OPENING.map(|f| f.code());
        let last = crate::workflow::agenda::FixedItem::CLOSING.code();
        let count = fixed_first.len() + approved.len() + 1;
        let numbers = schedule::next_numbers(year as i32, highest, count);
        let mut agenda = Vec::with_capacity(count);
        let fixed = |title: &str, pos: i64, (y, n): (i32, i64)| AgendaItem {
            id: 0,
            ref_key: Token::generate().as_str().to_string(),
            council_id: m.council_id,
            meeting_id: Some(m.id),
            kind: "fixed".into(),
            position: pos,
            title: title.to_string(),
            description: String::new(),
            attachments: Vec::new(),
            proposer_name: None,
            proposer_email: None,
            forwarded_by: None,
            inbound_id: None,
            state: "fixed".into(),
            late: false,
            year: Some(i64::from(y)),
            number: Some(n),
            decided_by: None,
            decided_at: None,
            created_at: self.clock.now(),
        };
        let mut pos = 0i64;
        let mut nums = numbers.into_iter();
        for title in &fixed_first {
            if let Some(n) = nums.next() {
                pos += 1;
                agenda.push(fixed(title, pos, n));
            }
        }
        for i in &approved {
            if let Some((y, n)) = nums.next() {
                pos += 1;
                changes.push(Change::NumberAgendaItem {
                    id: i.id,
                    year: i64::from(y),
                    number: n,
                    position: pos,
                });
                let mut numbered = (*i).clone();
                numbered.year = Some(i64::from(y));
                numbered.number = Some(n);
                numbered.position = pos;
                agenda.push(numbered);
            }
        }
        if let Some(n) = nums.next() {
            pos += 1;
            agenda.push(fixed(last, pos, n));
        }
        for a in agenda.iter().filter(|a| a.kind == "fixed") {
            changes.push(Change::NewAgendaItem(NewAgendaItem {
                ref_key: a.ref_key.clone(),
                council_id: a.council_id,
                meeting_id: a.meeting_id,
                kind: "fixed".into(),
                position: a.position,
                title: a.title.clone(),
                description: String::new(),
                attachments: Vec::new(),
                proposer_name: None,
                proposer_email: None,
                forwarded_by: None,
                inbound_id: None,
                state: "fixed".into(),
                late: false,
                year: a.year,
                number: a.number,
            }));
        }
        events.push(NewEvent::new(
            "scheduler",
            "agenda",
            Some(m.id),
            None,
            format!("agenda closed with {} item(s)", agenda.len()),
        ));
        Ok((changes, agenda, events))
    }

    // ----- attendance list ------------------------------------------------------------------

    pub(crate) async fn attendance_list(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let mut mails = Vec::new();
        if m.status == "scheduled" && m.starts_at > now {
            let (mut attending, mut absent, mut unanswered, mut unsure, mut substitutes) =
                (0, 0, 0, 0, 0);
            let mut members = Vec::new();
            for inv in self.store.invitations(m.id).await? {
                if !inv.role.is_asked_to_answer() {
                    continue;
                }
                let answer = match (&inv.response, &inv.substitute) {
                    (_, Some(_)) => {
                        absent += 1;
                        substitutes += 1;
                        "substitute"
                    }
                    (Some(crate::domain::Response::Accepted), _) => {
                        attending += 1;
                        "accepted"
                    }
                    (Some(crate::domain::Response::Declined), _) => {
                        absent += 1;
                        "declined"
                    }
                    (Some(crate::domain::Response::Tentative), _) => {
                        unsure += 1;
                        "tentative"
                    }
                    (None, _) => {
                        unanswered += 1;
                        "none"
                    }
                };
                members.push(serde_json::json!({
                    "name": inv.member_name,
                    "email": inv.member_email,
                    "answer": answer,
                    "digital": inv.attendance == Some(crate::domain::Attendance::Digital),
                    "substitute": inv.substitute.as_ref().map(|s| s.name.clone()),
                }));
            }
            let extras: Vec<serde_json::Value> = self
                .store
                .extra_attendees(m.id)
                .await?
                .into_iter()
                .filter(|x| x.state == "approved")
                .map(|x| serde_json::json!({ "name": x.name }))
                .collect();
            let data = serde_json::json!({
                "council": m.council_name,
                "starts": crate::render::local_time(m.starts_at, self.tz(m)?),
                "attending": attending,
                "absent": absent,
                "unanswered": unanswered,
                "unsure": unsure,
                "substitutes": substitutes,
                "members": members,
                "extras": extras,
            });
            for c in self.store.coordinators(m.council_id).await? {
                mails.push(self.notice(Notice {
                    kind: "attendance",
                    effect_key: format!("attendance:{}:{}", m.id, c.id),
                    to_name: &c.name,
                    to_address: &c.email,
                    template: Some("attendance"),
                    data: data.clone(),
                    lang: Some(self.lang_of(&c)),
                    meeting_id: Some(m.id),
                    ..Notice::BLANK
                })?);
            }
        }
        self.finish_job(
            m,
            job_id,
            "attendance",
            format!("attendance list to {} coordinator(s)", mails.len()),
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

    /// A proposal for the agenda, written directly or forwarded by a coordinator.
    async fn proposal(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        call: Option<Meeting>,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let now = self.clock.now();
        let is_call_reply = call.is_some();
        // Who proposes: the original sender of a coordinator's forward, else the sender.
        let sender_memberships = self.store.members_by_email(from).await?;
        let (proposer, forwarded_by) = match &u.on_behalf_of {
            Some(orig) if sender_memberships.iter().any(|m| m.role == Role::Coordinator) => (orig.clone(), Some(from.to_string())),
            Some(orig) => {
                return Ok(Handled::held(format!(
                    "an agenda proposal from {orig} forwarded by {from}, who is not a coordinator; kept for a coordinator"
                )))
            }
            None => (from.to_string(), None),
        };
        let memberships: Vec<Member> = self.store.members_by_email(&proposer).await?;
        let council_id = match (&call, memberships.as_slice()) {
            (Some(m), _) => m.council_id,
            (None, [one]) => one.council_id,
            (None, []) => {
                // A coordinator may forward a proposal from someone outside the council.
                match (&forwarded_by, sender_memberships.as_slice()) {
                    (Some(_), [c]) => c.council_id,
                    _ => return Ok(Handled::held(format!("an agenda proposal from {proposer}, who is not a member of any council; kept for a coordinator"))),
                }
            }
            (None, _) => return Ok(Handled::held(format!("an agenda proposal from {proposer}, who is in several councils; kept for a coordinator to place"))),
        };
        if call.is_none()
            && forwarded_by.is_none()
            && !memberships.iter().any(|m| m.council_id == council_id)
        {
            return Ok(Handled::held(format!(
                "an agenda proposal from {proposer}, who is not a member; kept for a coordinator"
            )));
        }
        if let Some(c) = &forwarded_by {
            if !self.is_coordinator(c, council_id).await? {
                return Ok(Handled::held(format!("an agenda proposal forwarded by {c}, who is not a coordinator of this council; kept for a coordinator")));
            }
            // A forward on someone's behalf: only an authenticated coordinator's acts.
            if !trust.is_authenticated() {
                let title = u
                    .agenda_item
                    .as_ref()
                    .map(|i| i.title.clone())
                    .unwrap_or_else(|| {
                        crate::understand::strip_subject_prefixes(&u.subject).to_string()
                    });
                return self
                    .confirm_first(
                        inbound_id,
                        u,
                        c,
                        super::trusted::Asked::Action {
                            nb: format!("Vi har mottatt en videresendt melding i ditt navn med et forslag til sak fra {proposer}: «{title}». Vi kan ikke se at den kommer fra deg, så forslaget registreres ikke før du bekrefter."),
                            en: format!("We have received a forwarded message in your name with an agenda proposal from {proposer}: \"{title}\". We cannot tell that it comes from you, so the proposal is not filed until you confirm."),
                        },
                        &format!("an agenda proposal from {proposer} forwarded by {c}"),
                        trust,
                    )
                    .await;
            }
        } else {
            // A member's own proposal is kept even unverified (the approval request says
            // so), but a sender files at most `proposals_per_day` a day.
            let today = self
                .store
                .count_events(&proposer, "proposal", now - chrono::Duration::days(1))
                .await?;
            if today >= i64::from(self.cfg.proposals_per_day) {
                return Ok(Handled::held(format!(
                    "an agenda proposal from {proposer}, who has sent {today} today (at most {} a day); kept for a coordinator",
                    self.cfg.proposals_per_day
                )));
            }
        }
        let proposer_name = memberships
            .iter()
            .find(|m| m.council_id == council_id)
            .map(|m| m.name.clone())
            .or_else(|| {
                if forwarded_by.is_some() {
                    u.on_behalf_of_name.clone()
                } else {
                    u.from_name.clone()
                }
            })
            .unwrap_or_else(|| proposer.clone());
        // The proposer's receipt is in their language (an outsider's: the secretariat's).
        let proposer_lang = memberships
            .iter()
            .find(|m| m.council_id == council_id)
            .map(|m| self.lang_of(m))
            .unwrap_or(self.lang());
        // Which meeting: the one the call was for while its agenda is open, else the next
        // one whose summons has not gone out.
        let mut target = match call {
            Some(m) if m.status == "scheduled" && !self.summons_sent(m.id).await? => Some(m),
            _ => None,
        };
        if target.is_none() {
            target = self.next_open_meeting(council_id, now).await?;
        }
        let late = match &target {
            Some(m) => {
                now > schedule::agenda_deadline(m.starts_at, self.cfg.offsets(&m.council_slug))
            }
            None => false,
        };
        // A reply to the call puts the title on its first line (the call asks for that);
        // a mail of its own has it in the subject.
        let item = match (is_call_reply, first_line_item(&u.reply_text)) {
            (true, Some(item)) => item,
            _ => u.agenda_item.clone().unwrap_or_else(|| {
                let title = crate::understand::strip_subject_prefixes(&u.subject).to_string();
                crate::understand::AgendaItem {
                    title,
                    description: u.reply_text.trim().to_string(),
                }
            }),
        };
        let attachments: Vec<String> = u.attachments.iter().map(|a| a.name.clone()).collect();
        // A proposal needs something to call it by: its title, else its first document.
        let title = match (item.title.trim(), attachments.first()) {
            ("", Some(name)) => name.clone(),
            ("", None) => {
                return Ok(Handled::held(format!(
                    "an agenda proposal from {proposer} with neither a title nor a document; kept for a coordinator"
                )))
            }
            (t, _) => t.to_string(),
        };
        let key = Token::generate();
        let (meeting_text, starts) = match &target {
            Some(m) => {
                let tz = self.tz(m)?;
                (
                    format!(
                        "the meeting of {}",
                        m.starts_at.with_timezone(&tz).format("%Y-%m-%d")
                    ),
                    Some(crate::render::local_time(m.starts_at, tz)),
                )
            }
            None => ("the next meeting".to_string(), None),
        };
        let council = self.store.council(council_id).await?;
        let mut h = Handled::done(format!(
            "agenda proposal \"{title}\" from {proposer}{}{} for {meeting_text}{}",
            if trust.is_authenticated() {
                ""
            } else {
                " (unverified)"
            },
            forwarded_by
                .as_ref()
                .map(|f| format!(" (forwarded by {f})"))
                .unwrap_or_default(),
            if late { " (late)" } else { "" }
        ));
        h.changes.push(Change::NewAgendaItem(NewAgendaItem {
            ref_key: key.as_str().to_string(),
            council_id,
            meeting_id: target.as_ref().map(|m| m.id),
            kind: "proposal".into(),
            position: 0,
            title: title.clone(),
            description: item.description.clone(),
            attachments: attachments.clone(),
            proposer_name: Some(proposer_name.clone()),
            proposer_email: Some(proposer.clone()),
            forwarded_by: forwarded_by.clone(),
            inbound_id: Some(inbound_id),
            state: "proposed".into(),
            late,
            year: None,
            number: None,
        }));
        h.events.push(NewEvent::new(
            &proposer,
            "proposal",
            target.as_ref().map(|m| m.id),
            Some(inbound_id),
            h.outcome.clone(),
        ));
        // The proposer's receipt, within the hourly cap on automatic replies (a forged
        // flood must not become a flood of receipts to the member).
        let receipts = self
            .store
            .count_recent(&proposer, "receipt", now - chrono::Duration::hours(1))
            .await?;
        if receipts >= i64::from(self.cfg.receipts_per_hour) {
            h.outcome
                .push_str("; no receipt (too many to this address this hour)");
        } else {
            h.mails.push(self.notice(Notice {
                kind: "receipt",
                effect_key: format!("proposal-receipt:{inbound_id}"),
                to_name: &proposer_name,
                to_address: &proposer,
                template: Some("proposal_receipt"),
                data: serde_json::json!({
                    "council": council.name,
                    "title": title,
                    "starts": starts,
                    "late": late,
                }),
                lang: Some(proposer_lang),
                in_reply_to: u.message_id.as_deref(),
                meeting_id: target.as_ref().map(|m| m.id),
                inbound_id: Some(inbound_id),
                auto_submitted: "auto-replied",
                ..Notice::BLANK
            })?);
        }
        // The approval request to each coordinator; their one-word reply decides. When
        // they were asked about several proposals within the hour already, this one
        // waits for the hourly digest instead, so a flood of proposals is one mail an
        // hour.
        let coordinators = self.store.coordinators(council_id).await?;
        if self.approval_mails_last_hour(&coordinators).await? >= super::approvals::AT_ONCE_PER_HOUR
        {
            h.outcome
                .push_str("; the coordinators are asked in the next approval digest");
            return Ok(h);
        }
        h.changes.push(Change::MarkRequested {
            ref_keys: vec![key.as_str().to_string()],
        });
        let data = serde_json::json!({
            "council": council.name,
            "starts": starts,
            "title": title,
            "description": item.description.lines().take(40).collect::<Vec<_>>(),
            "proposer_name": proposer_name,
            "proposer": proposer,
            "attachments": attachments,
            "forwarded_by": forwarded_by,
            "unverified": !trust.is_authenticated(),
            "late": late,
        });
        for c in coordinators {
            h.mails.push(self.notice(Notice {
                kind: "approval",
                effect_key: format!("approval:{inbound_id}:{}", c.id),
                to_name: &c.name,
                to_address: &c.email,
                template: Some("approval"),
                data: data.clone(),
                lang: Some(self.lang_of(&c)),
                key: Some(&key),
                meeting_id: target.as_ref().map(|m| m.id),
                inbound_id: Some(inbound_id),
                ..Notice::BLANK
            })?);
        }
        Ok(h)
    }

    /// A coordinator's decision on a proposal, from a reply or the command line.
    pub(crate) async fn decide_item(
        &self,
        item: &AgendaItem,
        decision: Decision,
        by: &str,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        if item.number.is_some() || item.kind == "fixed" {
            return Ok(Handled::held(format!(
                "a decision on \"{}\", which is already on a sent agenda; nothing changed",
                item.title
            )));
        }
        let state = decision_state(decision);
        let move_to = match decision {
            Decision::Defer => {
                let after = match item.meeting_id {
                    Some(id) => self.store.meeting(id).await?.starts_at,
                    None => self.clock.now(),
                };
                Some(
                    self.next_meeting(item.council_id, after)
                        .await?
                        .map(|m| m.id),
                )
            }
            Decision::Approve => {
                // Approved after its meeting's agenda closed (or for no meeting yet): it
                // goes on the next agenda that is still open.
                let closed = match item.meeting_id {
                    Some(id) => self.summons_sent(id).await?,
                    None => true,
                };
                if closed {
                    Some(
                        self.next_open_meeting(item.council_id, self.clock.now())
                            .await?
                            .map(|m| m.id),
                    )
                } else {
                    None
                }
            }
            Decision::Reject => None,
        };
        let mut h = Handled::done(format!("agenda item \"{}\" {state} by {by}", item.title));
        h.changes.push(Change::DecideAgendaItem {
            id: item.id,
            state: state.into(),
            by: by.to_string(),
            move_to,
        });
        h.events.push(NewEvent::new(
            by,
            "agenda_decision",
            item.meeting_id,
            inbound_id,
            h.outcome.clone(),
        ));
        let council = self.store.council(item.council_id).await?;
        let coordinators = self.store.coordinators(item.council_id).await?;
        let decided_by = coordinators
            .iter()
            .find(|c| crate::trust::same_address(&c.email, by))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| by.to_string());
        let cause = inbound_id
            .map(|i| i.to_string())
            .unwrap_or_else(|| "cli".into());
        let proposer_name = item
            .proposer_name
            .clone()
            .or_else(|| item.proposer_email.clone())
            .unwrap_or_default();
        let data = |own: bool| {
            serde_json::json!({
                "own": own,
                "council": council.name,
                "title": item.title,
                "decision": state,
                "decided_by": decided_by,
                "items": [{"title": item.title, "decision": state, "proposer_name": proposer_name}],
            })
        };
        if let Some(email) = &item.proposer_email {
            let name = item.proposer_name.clone().unwrap_or_else(|| email.clone());
            let lang = self
                .store
                .members_by_email(email)
                .await?
                .iter()
                .find(|m| m.council_id == item.council_id)
                .map(|m| self.lang_of(m));
            h.mails.push(self.notice(Notice {
                kind: "notice",
                effect_key: format!("decision:{}:{state}:{cause}", item.id),
                to_name: &name,
                to_address: email,
                template: Some("decision"),
                data: data(true),
                lang,
                meeting_id: item.meeting_id,
                inbound_id,
                ..Notice::BLANK
            })?);
        }
        // The other coordinators learn what one of them decided (the proposer has
        // heard already).
        for c in coordinators.iter().filter(|c| {
            !crate::trust::same_address(&c.email, by)
                && !item
                    .proposer_email
                    .as_deref()
                    .is_some_and(|p| crate::trust::same_address(&c.email, p))
        }) {
            h.mails.push(self.notice(Notice {
                kind: "notice",
                effect_key: format!("decision-told:{}:{state}:{cause}:{}", item.id, c.id),
                to_name: &c.name,
                to_address: &c.email,
                template: Some("decision"),
                data: data(false),
                lang: Some(self.lang_of(c)),
                meeting_id: item.meeting_id,
                inbound_id,
                ..Notice::BLANK
            })?);
        }
        Ok(h)
    }

    async fn reply_to_approval(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        item: AgendaItem,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        if !self.is_coordinator(from, item.council_id).await? {
            return Ok(Handled::held(format!(
                "a reply about agenda item \"{}\" from {from}, who is not a coordinator; kept for a coordinator",
                item.title
            )));
        }
        let decision = u
            .decision
            .or_else(|| crate::understand::secretariat::read_decision(&u.reply_text));
        match decision {
            Some(d) if !trust.is_authenticated() => {
                let word = decision_state(d);
                self.confirm_first(
                    inbound_id,
                    u,
                    from,
                    super::trusted::Asked::Action {
                        nb: format!("Vi har mottatt en avgjørelse i ditt navn om forslaget «{}»: {}. Vi kan ikke se sikkert at den kommer fra deg, så vi gjennomfører den ikke før du bekrefter.", item.title, match d { Decision::Approve => "godkjent", Decision::Reject => "avvist", Decision::Defer => "utsatt" }),
                        en: format!("We have received a decision in your name on the proposal \"{}\": {word}. We cannot tell for sure that it comes from you, so we do not carry it out until you confirm.", item.title),
                    },
                    &format!("a decision ({word}) on \"{}\" from {from}", item.title),
                    trust,
                )
                .await
            }
            Some(d) => self.decide_item(&item, d, from, Some(inbound_id)).await,
            None => Ok(Handled::held(format!(
                "a reply about agenda item \"{}\" that says neither approved, rejected nor deferred; kept for a coordinator",
                item.title
            ))),
        }
    }

    pub async fn cli_decide_item(&self, id: i64, decision: Decision, by: &str) -> Result<String> {
        let item = self.store.agenda_item(id).await?;
        let h = self.decide_item(&item, decision, by, None).await?;
        self.commit_command(h).await
    }
}

impl Daemon {
    /// Those who decide on an extra attendee: the council's leader, else its
    /// coordinators.
    async fn extra_deciders(&self, council_id: i64) -> Result<Vec<Member>> {
        let members = self.store.members(council_id).await?;
        let leaders: Vec<Member> = members
            .iter()
            .filter(|m| m.role == Role::Leader)
            .cloned()
            .collect();
        Ok(if leaders.is_empty() {
            members
                .into_iter()
                .filter(|m| m.role == Role::Coordinator)
                .collect()
        } else {
            leaders
        })
    }

    /// An extra attendee announced in an answer: held, and the leader asked.
    pub(crate) async fn announce_extra(
        &self,
        m: &Meeting,
        inv: &crate::store::Invitation,
        extra: &crate::domain::Substitute,
        inbound_id: i64,
    ) -> Result<(Change, Vec<OutgoingMail>)> {
        let key = Token::generate();
        let change = Change::NewExtraAttendee {
            ref_key: key.as_str().to_string(),
            invitation_id: inv.id,
            name: extra.name.clone(),
            email: extra.email.clone(),
            inbound_id: Some(inbound_id),
        };
        let data = serde_json::json!({
            "council": m.council_name,
            "starts": crate::render::local_time(m.starts_at, self.tz(m)?),
            "member_name": inv.member_name,
            "extra_name": extra.name,
            "extra_email": extra.email,
        });
        let mut mails = Vec::new();
        for d in self.extra_deciders(m.council_id).await? {
            mails.push(self.notice(Notice {
                kind: "extra_request",
                effect_key: format!("extra-request:{inbound_id}:{}", d.id),
                to_name: &d.name,
                to_address: &d.email,
                template: Some("extra_request"),
                data: data.clone(),
                lang: Some(self.lang_of(&d)),
                key: Some(&key),
                meeting_id: Some(m.id),
                inbound_id: Some(inbound_id),
                ..Notice::BLANK
            })?);
        }
        Ok((change, mails))
    }

    async fn reply_about_extra(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        x: crate::store::ExtraAttendee,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let inv = self.store.invitation(x.invitation_id).await?;
        let m = self.store.meeting(inv.meeting_id).await?;
        if !self
            .extra_deciders(m.council_id)
            .await?
            .iter()
            .any(|d| d.email == from)
        {
            return Ok(Handled::held(format!("a reply about the extra attendee {} from {from}, who does not decide on it; kept for a coordinator", x.name)));
        }
        if !trust.is_authenticated() {
            return self
                .confirm_first(
                    inbound_id,
                    u,
                    from,
                    super::trusted::Asked::Action {
                        nb: format!("Vi har mottatt et svar i ditt navn om bisitteren {} til {}. Vi kan ikke se sikkert at det kommer fra deg, så vi gjennomfører det ikke før du bekrefter.", x.name, inv.member_name),
                        en: format!("We have received a reply in your name about the extra attendee {} for {}. We cannot tell for sure that it comes from you, so we do not carry it out until you confirm.", x.name, inv.member_name),
                    },
                    &format!("a reply about the extra attendee {} from {from}", x.name),
                    trust,
                )
                .await;
        }
        let decision = u
            .decision
            .or_else(|| crate::understand::secretariat::read_decision(&u.reply_text));
        let approved = match decision {
            Some(Decision::Approve) => true,
            Some(Decision::Reject) => false,
            _ => return Ok(Handled::held(format!("a reply about the extra attendee {} that neither approves nor rejects; kept for a coordinator", x.name))),
        };
        if x.state != "pending" && x.state == if approved { "approved" } else { "rejected" } {
            return Ok(Handled::done(format!(
                "the extra attendee {} was already {}",
                x.name, x.state
            )));
        }
        let state = if approved { "approved" } else { "rejected" };
        let mut h = Handled::done(format!(
            "extra attendee {} for {} {state} by {from}",
            x.name, inv.member_name
        ));
        h.changes.push(Change::DecideExtraAttendee {
            id: x.id,
            state: state.into(),
            by: from.to_string(),
        });
        h.events.push(NewEvent::new(
            from,
            "extra_attendee",
            Some(m.id),
            Some(inbound_id),
            h.outcome.clone(),
        ));
        h.mails.push(self.notice(Notice {
            kind: "notice",
            effect_key: format!("extra-decision:{}:{state}", x.id),
            to_name: &inv.member_name,
            to_address: &inv.member_email,
            template: Some("extra_decision"),
            data: serde_json::json!({
                "council": m.council_name,
                "starts": crate::render::local_time(m.starts_at, self.tz(&m)?),
                "extra_name": x.name,
                "approved": approved,
            }),
            lang: Some(inv.member_language.unwrap_or(self.lang())),
            meeting_id: Some(m.id),
            inbound_id: Some(inbound_id),
            ..Notice::BLANK
        })?);
        if let (true, Some(email)) = (approved, &x.email) {
            if m.status == "scheduled" && m.starts_at > self.clock.now() {
                let mut mail = self
                    .substitute_summons(&m, &inv, &x.name, email, inbound_id)
                    .await?;
                mail.effect_key = format!("extra-summons:{}", x.id);
                h.mails.push(mail);
            }
        }
        Ok(h)
    }
}
