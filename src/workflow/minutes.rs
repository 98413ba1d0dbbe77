//! Draft minutes, corrections and approval (pure): who gets which version, what a
//! reply to a draft records, the digest at the deadline, and the final minutes.
//!
//! The daemon loads the rows a decision needs into a snapshot, calls one of these
//! functions with `now` (and a new key where one is made), and commits the plan.

use chrono::{DateTime, Utc};

use super::meeting::{guest_language, Change, Invited, Meeting, Member, Plan};
use super::plan::{Event, File, Mail, Person};
use crate::domain::HeldReason;
use crate::trust::{same_address, Trust};
use crate::understand::{Decision, Kind, Understanding};

/// One version of a meeting's minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: i64,
    /// What replies to it find it by.
    pub ref_key: String,
    pub version: i64,
    pub state: crate::domain::MinutesState,
    /// The end of the correction period.
    pub deadline_at: DateTime<Utc>,
    pub body: String,
    pub attachment_name: Option<String>,
}

/// A correction to a draft, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The address it came from.
    pub author: String,
    pub item: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub text: String,
    /// "Ingen merknader": read, nothing to correct.
    pub no_remarks: bool,
}

/// The text of minutes as a mail shows it: its lines, without carriage returns or the
/// final line break.
fn minutes_text(body: &str) -> String {
    body.lines().collect::<Vec<_>>().join("\n")
}

/// Who gets the draft minutes: those who attended (a substitute too, in the member's
/// place) and the coordinators, each once.
pub fn recipients(invited: &[Invited], members: &[Member]) -> Vec<Person> {
    let mut out: Vec<Person> = Vec::new();
    for inv in invited {
        if inv.accepted {
            out.push(inv.member.clone());
        }
        if let Some((name, Some(email))) = &inv.substitute {
            out.push(Person {
                id: 0,
                name: name.clone(),
                email: email.clone(),
                lang: guest_language(members, email, inv.member.lang),
            });
        }
    }
    let mut coordinators: Vec<&Member> = members.iter().filter(|m| m.coordinator).collect();
    coordinators.sort_by_key(|m| m.person.id);
    out.extend(coordinators.into_iter().map(|c| c.person.clone()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.email.to_ascii_lowercase()));
    out
}

/// What a new version of the minutes needs to know.
#[derive(Debug, Clone)]
pub struct SubmitSnapshot {
    pub meeting: Meeting,
    /// The versions there are.
    pub versions: Vec<Draft>,
    pub invited: Vec<Invited>,
    pub members: Vec<Member>,
    /// How long members have to correct a draft.
    pub correction_days: u32,
}

/// A version of the minutes, as it was handed in.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    pub body: &'a str,
    pub attachment: Option<File>,
    /// Who handed it in: an address, or the command line's operator.
    pub by: &'a str,
    /// The new version's key (replies find it by this).
    pub key: String,
}

/// A new version of the draft minutes: to those who attended and the coordinators,
/// with the correction deadline, which a job waits for.
pub fn submit_minutes(s: &SubmitSnapshot, sub: Submission<'_>, now: DateTime<Utc>) -> Plan {
    let m = &s.meeting;
    if s.versions
        .iter()
        .any(|x| x.state == crate::domain::MinutesState::Approved)
    {
        return Plan::held(
            HeldReason::MinutesApproved,
            "minutes for a meeting whose minutes are already approved; kept for a coordinator",
        );
    }
    let version = s.versions.iter().map(|x| x.version).max().unwrap_or(0) + 1;
    let deadline =
        crate::schedule::workdays::correction_deadline(now, s.correction_days, m.time_zone);
    let mut plan = Plan::done(format!(
        "draft minutes, version {version}, for the meeting of {} (corrections until {})",
        m.log_time(m.starts_at),
        m.log_time(deadline)
    ));
    let attachment_name = sub.attachment.as_ref().map(|a| a.0.clone());
    plan.changes.push(Change::NewMinutes {
        ref_key: sub.key.clone(),
        version,
        body: sub.body.to_string(),
        attachment_name: attachment_name.clone(),
        submitted_by: sub.by.to_string(),
        deadline_at: deadline,
    });
    plan.changes.push(Change::ScheduleJob {
        kind: crate::domain::JobKind::MinutesDeadline,
        due_at: deadline,
    });
    plan.events.push(Event::new(
        sub.by.to_string(),
        "minutes",
        plan.outcome.clone(),
    ));
    let data = serde_json::json!({
        "council": m.council_name,
        "starts": m.local(m.starts_at),
        "deadline": m.local(deadline),
        "version": version,
        "attachment": attachment_name,
        "text": minutes_text(sub.body),
    });
    for p in recipients(&s.invited, &s.members) {
        plan.mails.push(Mail {
            key: Some(sub.key.clone()),
            attachments: sub.attachment.iter().cloned().collect(),
            ..Mail::new(
                "minutes",
                "minutes",
                format!("minutes:{}:{version}:{}", m.id, p.email),
                &p,
                data.clone(),
            )
        });
    }
    plan
}

/// Who approves minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approver<'a> {
    /// A reply by mail, from this (authenticated) address: only a coordinator of the
    /// council may approve.
    Mail(&'a str),
    /// The command line, run by someone who administers the secretariat.
    Operator(&'a str),
}

/// What approving minutes needs to know.
#[derive(Debug, Clone)]
pub struct ApproveSnapshot {
    pub meeting: Meeting,
    pub draft: Draft,
    /// The draft's document (a .docx or .pdf sent with it), read again.
    pub document: Option<File>,
    pub members: Vec<Member>,
}

/// Approves a draft after its deadline: the final minutes go to every member and
/// observer whose address works.
pub fn approve_minutes(s: &ApproveSnapshot, approver: Approver<'_>, now: DateTime<Utc>) -> Plan {
    let (m, mi) = (&s.meeting, &s.draft);
    let by = match approver {
        Approver::Mail(from) => {
            let coordinator = s
                .members
                .iter()
                .any(|x| x.coordinator && same_address(&x.person.email, from));
            if !coordinator {
                return Plan::held(
                    HeldReason::NotCoordinator,
                    format!(
                        "approval of the minutes from {from}, who is not a coordinator; nothing approved"
                    ),
                );
            }
            from
        }
        Approver::Operator(who) => who,
    };
    if mi.state != crate::domain::MinutesState::Draft {
        return Plan::held(
            HeldReason::MinutesNotDraft,
            format!(
                "version {} of the minutes is {}, not a draft; nothing approved",
                mi.version, mi.state
            ),
        );
    }
    if now < mi.deadline_at {
        return Plan::held(
            HeldReason::BeforeDeadline,
            format!(
                "approval of the minutes before the correction deadline ({}); nothing sent",
                m.log_time(mi.deadline_at)
            ),
        );
    }
    let mut plan = Plan::done(format!(
        "minutes of {}, version {}, approved by {by}; sent to the council",
        m.log_time(m.starts_at),
        mi.version
    ));
    plan.changes.push(Change::ApproveMinutes {
        id: mi.id,
        by: by.to_string(),
    });
    plan.events.push(Event::new(
        by.to_string(),
        "minutes_approved",
        plan.outcome.clone(),
    ));
    let data = serde_json::json!({
        "council": m.council_name,
        "starts": m.local(m.starts_at),
        "attachment": s.document.as_ref().map(|d| d.0.clone()),
        "text": minutes_text(&mi.body),
    });
    for mb in s.members.iter().filter(|x| !x.failing) {
        plan.mails.push(Mail {
            attachments: s.document.iter().cloned().collect(),
            ..Mail::new(
                "minutes_final",
                "minutes_final",
                format!("minutes-final:{}:{}", mi.id, mb.person.id),
                &mb.person,
                data.clone(),
            )
        });
    }
    plan
}

/// What the digest at the end of a correction period needs to know.
#[derive(Debug, Clone)]
pub struct DigestSnapshot {
    pub meeting: Meeting,
    /// The newest draft, if there is one still open.
    pub draft: Option<Draft>,
    pub corrections: Vec<Correction>,
    pub invited: Vec<Invited>,
    pub members: Vec<Member>,
}

/// The end of the correction period: every coordinator gets every correction, by
/// name, and who has not answered. The plan's outcome is the job's audit line.
pub fn corrections_digest(s: &DigestSnapshot) -> Plan {
    let Some(mi) = &s.draft else {
        return Plan::done("corrections digest to 0 coordinator(s)");
    };
    let m = &s.meeting;
    let recipients = recipients(&s.invited, &s.members);
    // Names, not addresses: those the draft went to, by their address.
    let name_of = |email: &str| {
        recipients
            .iter()
            .find(|p| same_address(&p.email, email))
            .map(|p| p.name.clone())
            .unwrap_or_else(|| email.to_string())
    };
    let mut coordinators: Vec<&Member> = s.members.iter().filter(|x| x.coordinator).collect();
    coordinators.sort_by_key(|x| x.person.id);
    let silent: Vec<String> = recipients
        .iter()
        .filter(|p| {
            !coordinators
                .iter()
                .any(|c| same_address(&c.person.email, &p.email))
        })
        .filter(|p| {
            !s.corrections
                .iter()
                .any(|c| same_address(&c.author, &p.email))
        })
        .map(|p| p.name.clone())
        .collect();
    let data = serde_json::json!({
        "council": m.council_name,
        "starts": m.local(m.starts_at),
        "deadline": m.local(mi.deadline_at),
        "version": mi.version,
        "corrections": s.corrections.iter().map(|c| serde_json::json!({
            "author": name_of(&c.author),
            "item": c.item,
            "before": c.before,
            "after": c.after,
            "text": c.text,
            "no_remarks": c.no_remarks,
        })).collect::<Vec<_>>(),
        "silent": silent,
        "corrected": s.corrections.iter().any(|c| !c.no_remarks),
    });
    let mut plan = Plan::done("");
    for c in &coordinators {
        plan.mails.push(Mail {
            // "godkjent" in reply approves this version.
            key: Some(mi.ref_key.clone()),
            ..Mail::new(
                "digest",
                "digest",
                format!("digest:{}:{}", mi.id, c.person.id),
                &c.person,
                data.clone(),
            )
        });
    }
    plan.outcome = format!("corrections digest to {} coordinator(s)", plan.mails.len());
    plan
}

/// Who sent a reply to draft minutes, as far as the council knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replier {
    pub coordinator: bool,
    /// They were invited to the meeting.
    pub invited: bool,
    /// They are on the council.
    pub member: bool,
}

/// What a reply to draft minutes leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum MinutesReply {
    /// Nothing authenticates the sender, and the reply would speak for a member or
    /// approve: the person it claims to come from confirms it first.
    ConfirmFirst,
    /// A coordinator approves the draft.
    Approve,
    /// Corrections (or "no remarks") recorded, or the reply held.
    Plan(Plan),
}

/// A reply to draft minutes (or to their digest): corrections, "ingen merknader", or
/// a coordinator's "godkjent".
pub fn reply_to_minutes(
    draft: &Draft,
    u: &Understanding,
    from: &str,
    who: Replier,
    trust: &Trust,
) -> MinutesReply {
    if !trust.is_authenticated() && (who.coordinator || who.invited) {
        // Approving sends the final minutes to the whole council; a correction speaks
        // for its author. Neither acts on an unauthenticated message.
        return MinutesReply::ConfirmFirst;
    }
    let decision = u.decision.or_else(|| {
        if who.coordinator {
            crate::understand::secretariat::read_decision(&u.reply_text)
        } else {
            None
        }
    });
    if who.coordinator && decision == Some(Decision::Approve) {
        return MinutesReply::Approve;
    }
    if draft.state != crate::domain::MinutesState::Draft {
        return MinutesReply::Plan(Plan::held(
            HeldReason::MinutesNotDraft,
            format!(
                "a reply to version {} of the minutes, which is {}; kept for a coordinator",
                draft.version, draft.state
            ),
        ));
    }
    // A key sent to this address with the draft (a substitute who attended gets it
    // too) makes them someone who may answer it.
    let known = who.coordinator || *trust == Trust::Key || who.invited || who.member;
    if !known {
        return MinutesReply::Plan(Plan::held(
            HeldReason::NotMember,
            format!(
                "a reply to the minutes from {from}, who is not in the council; kept for a coordinator"
            ),
        ));
    }
    let mut corrections = if u.kind() == Kind::MinutesCorrection {
        u.corrections.clone()
    } else {
        crate::understand::secretariat::read_corrections(&u.reply_text)
    };
    // Edits made inside the quoted draft (Outlook quotes without `>`): compared with
    // the draft as it was sent, every changed line is a before/after pair.
    if let Some(body) = &u.minutes_reply_body {
        let inline = crate::understand::secretariat::inline_edits_against(body, &draft.body);
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
    let mut plan = if corrections.is_empty() {
        Plan::done(format!(
            "{from} has no remarks to version {} of the minutes",
            draft.version
        ))
    } else {
        Plan::done(format!(
            "{} correction(s) from {from} to version {} of the minutes",
            corrections.len(),
            draft.version
        ))
    };
    if corrections.is_empty() {
        plan.changes.push(Change::NewCorrection {
            minutes_id: draft.id,
            author: from.to_string(),
            item: None,
            before: None,
            after: None,
            text: u.reply_text.trim().to_string(),
            no_remarks: true,
        });
    }
    for c in corrections {
        plan.changes.push(Change::NewCorrection {
            minutes_id: draft.id,
            author: from.to_string(),
            item: c.item,
            before: c.before,
            after: c.after,
            text: c.text,
            no_remarks: false,
        });
    }
    plan.events.push(Event::new(
        from.to_string(),
        "correction",
        plan.outcome.clone(),
    ));
    MinutesReply::Plan(plan)
}

/// A meeting a coordinator's minutes may be for.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub council_id: i64,
    pub meeting: Meeting,
}

/// What draft minutes sent to the mailbox lead to.
#[derive(Debug, Clone, PartialEq)]
pub enum MinutesMail {
    /// Kept for a coordinator, for the reason, with a sentence for the log.
    Held(HeldReason, String),
    /// For this meeting, with this text and document: handed in when the sender is
    /// authenticated, else the coordinator confirms first.
    Minutes {
        meeting_id: i64,
        body: String,
        attachment: Option<File>,
        authenticated: bool,
    },
}

/// Reads draft minutes a coordinator sent: for the last meeting held by the one
/// council they coordinate; the text of an attached text file, else of the mail, and
/// a document (.docx, .pdf, .odt, .doc) if one is attached.
pub fn read_minutes_mail(
    u: &Understanding,
    raw: &[u8],
    from: &str,
    coordinates: &[i64],
    meetings: &[Candidate],
    trust: &Trust,
    now: DateTime<Utc>,
) -> MinutesMail {
    let [council_id] = coordinates else {
        return if coordinates.is_empty() {
            MinutesMail::Held(
                HeldReason::NotCoordinator,
                format!("minutes from {from}, who is not a coordinator; kept for a coordinator"),
            )
        } else {
            MinutesMail::Held(HeldReason::MinutesSeveralCouncils, format!("minutes from {from}, who coordinates several councils; submit them with `referent minutes submit`"))
        };
    };
    let meeting = meetings
        .iter()
        .filter(|c| {
            c.council_id == *council_id
                && c.meeting.status == crate::domain::MeetingStatus::Scheduled
                && c.meeting.starts_at <= now
        })
        .max_by_key(|c| c.meeting.starts_at);
    let Some(meeting) = meeting else {
        return MinutesMail::Held(
            HeldReason::NoMeetingYet,
            "minutes, but the council has had no meeting yet; kept for a coordinator".into(),
        );
    };
    // A roster (.csv) is read as text too, but is no minutes.
    let text_file = u
        .attachments
        .iter()
        .find(|a| a.text.is_some() && !a.name.to_lowercase().ends_with(".csv"));
    let document = u.attachments.iter().find(|a| {
        let n = a.name.to_lowercase();
        n.ends_with(".docx") || n.ends_with(".pdf") || n.ends_with(".odt") || n.ends_with(".doc")
    });
    let body = match text_file.and_then(|f| f.text.clone()) {
        Some(t) => t,
        None => u.reply_text.clone(),
    };
    let attachment = match document {
        Some(d) => match crate::understand::attachment_bytes(raw, &d.name) {
            Some((ct, bytes)) => Some((d.name.clone(), ct, bytes)),
            None => {
                let why = format!(
                    "minutes with the attachment {}, which cannot be read; kept for a coordinator",
                    d.name
                );
                return MinutesMail::Held(HeldReason::Unreadable, why);
            }
        },
        None => None,
    };
    if body.trim().is_empty() && attachment.is_none() {
        return MinutesMail::Held(
            HeldReason::EmptyMinutes,
            "minutes without any text or document; kept for a coordinator".into(),
        );
    }
    MinutesMail::Minutes {
        meeting_id: meeting.meeting.id,
        body,
        attachment,
        authenticated: trust.is_authenticated(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;
    use crate::render::{Common, Renderer};
    use crate::understand::{understand, Limits};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn person(name: &str, email: &str, lang: Language) -> Person {
        Person {
            id: 0,
            name: name.into(),
            email: email.into(),
            lang,
        }
    }

    fn meeting() -> Meeting {
        Meeting {
            id: 1,
            council_name: "Utdanningsrådet".into(),
            title: "Møte i Utdanningsrådet".into(),
            starts_at: t("2027-03-09T09:00:00Z"),
            ends_at: t("2027-03-09T11:00:00Z"),
            time_zone: chrono_tz::Europe::Oslo,
            status: crate::domain::MeetingStatus::Scheduled,
            sequence: 0,
        }
    }

    fn member(id: i64, name: &str, email: &str, lang: Language, coordinator: bool) -> Member {
        Member {
            person: Person {
                id,
                ..person(name, email, lang)
            },
            coordinator,
            failing: false,
        }
    }

    /// Listed by name, as the store gives them; the coordinators' ids are not in that
    /// order.
    fn members() -> Vec<Member> {
        vec![
            member(5, "Anna Ahus", "anna@hf.example", Language::Nn, false),
            member(
                2,
                "Eldbjørg Koordinator",
                "koord@hf.example",
                Language::Nb,
                true,
            ),
            member(3, "Kari Hansen", "kari@hf.example", Language::Nb, false),
            member(4, "Lene Leder", "lene@hf.example", Language::Nb, false),
            member(1, "Mary Coordinator", "mary@hf.example", Language::En, true),
            member(6, "Stille Medlem", "stille@hf.example", Language::Nb, false),
        ]
    }

    fn invited() -> Vec<Invited> {
        let inv = |id: i64, name: &str, email: &str, lang, accepted| Invited {
            invitation_id: id,
            token: format!("{id:032x}"),
            member: person(name, email, lang),
            asked: true,
            accepted,
            substitute: None,
        };
        vec![
            inv(1, "Anna Ahus", "anna@hf.example", Language::Nn, true),
            inv(2, "Kari Hansen", "kari@hf.example", Language::Nb, true),
            Invited {
                substitute: Some(("Per Vara".into(), Some("per@ekstern.example".into()))),
                ..inv(3, "Lene Leder", "lene@hf.example", Language::En, false)
            },
            inv(4, "Stille Medlem", "stille@hf.example", Language::Nb, false),
        ]
    }

    fn draft(state: &str) -> Draft {
        Draft {
            id: 11,
            ref_key: "a".repeat(32),
            version: 1,
            state: state.parse().unwrap(),
            deadline_at: t("2027-03-17T08:00:00Z"),
            body: "Sak 3/27 Veileder for LIS1\nRådet drøftet veilederen.".into(),
            attachment_name: None,
        }
    }

    fn render(kind: &str, m: &Mail) -> crate::render::Rendered {
        let common = Common {
            name: m.to.name.clone(),
            full_name: m.to.name.clone(),
            secretariat: "RegUt HSØ".into(),
            ..Default::default()
        };
        Renderer::new()
            .unwrap()
            .render_kind(m.to.lang, kind, &common, &m.data)
            .unwrap()
    }

    fn correction(
        author: &str,
        item: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
        text: &str,
        no_remarks: bool,
    ) -> Correction {
        Correction {
            author: author.into(),
            item: item.map(Into::into),
            before: before.map(Into::into),
            after: after.map(Into::into),
            text: text.into(),
            no_remarks,
        }
    }

    #[test]
    fn the_draft_goes_to_those_who_attended_the_substitute_and_the_coordinators() {
        let r = recipients(&invited(), &members());
        let to: Vec<(&str, Language)> = r.iter().map(|p| (p.email.as_str(), p.lang)).collect();
        assert_eq!(
            to,
            vec![
                ("anna@hf.example", Language::Nn),
                ("kari@hf.example", Language::Nb),
                // From outside the council: the language of the member who named them.
                ("per@ekstern.example", Language::En),
                ("mary@hf.example", Language::En),
                ("koord@hf.example", Language::Nb),
            ]
        );
    }

    #[test]
    fn a_new_version_follows_the_last_and_waits_for_its_deadline() {
        let mut old = draft("superseded");
        old.version = 1;
        let s = SubmitSnapshot {
            meeting: meeting(),
            versions: vec![old],
            invited: invited(),
            members: members(),
            correction_days: 7,
        };
        let now = t("2027-03-10T08:00:00Z");
        let key = "b".repeat(32);
        let p = submit_minutes(
            &s,
            Submission {
                body: "Sak 3/27 Veileder for LIS1\r\nRådet drøftet og vedtok veilederen.\r\n",
                attachment: Some((
                    "referat.pdf".into(),
                    "application/pdf".into(),
                    b"%PDF".to_vec(),
                )),
                by: "koord@hf.example",
                key: key.clone(),
            },
            now,
        );
        assert!(!p.is_held());
        // Seven days after Wednesday 10 March: the end of Wednesday 17 March, Oslo time.
        let deadline = t("2027-03-17T22:59:59Z");
        assert_eq!(
            p.changes,
            vec![
                Change::NewMinutes {
                    ref_key: key.clone(),
                    version: 2,
                    body: "Sak 3/27 Veileder for LIS1\r\nRådet drøftet og vedtok veilederen.\r\n"
                        .into(),
                    attachment_name: Some("referat.pdf".into()),
                    submitted_by: "koord@hf.example".into(),
                    deadline_at: deadline,
                },
                Change::ScheduleJob {
                    kind: crate::domain::JobKind::MinutesDeadline,
                    due_at: deadline,
                },
            ]
        );
        assert_eq!(p.outcome, "draft minutes, version 2, for the meeting of 2027-03-09 10:00 (corrections until 2027-03-17 23:59)");
        assert_eq!(p.mails.len(), 5);
        assert!(p
            .mails
            .iter()
            .all(|m| m.key.as_deref() == Some(key.as_str()) && m.attachments.len() == 1));
        let anna = &p.mails[0];
        assert_eq!(anna.effect_key, "minutes:1:2:anna@hf.example");
        let r = render("minutes", anna);
        assert_eq!(
            r.subject,
            "Utkast til referat: Utdanningsrådet tysdag 9. mars 2027 (versjon 2)"
        );
        assert!(
            r.body.contains("innan utgangen av onsdag 17. mars 2027"),
            "{}",
            r.body
        );
        assert!(r.body.contains("Referatet ligg ved: referat.pdf\n\nSak 3/27 Veileder for LIS1\nRådet drøftet og vedtok veilederen.\n\nDenne meldinga"), "{}", r.body);
        let approved = SubmitSnapshot {
            versions: vec![draft("approved")],
            ..s
        };
        let p = submit_minutes(
            &approved,
            Submission {
                body: "x",
                attachment: None,
                by: "koord@hf.example",
                key,
            },
            now,
        );
        assert!(p.is_held() && p.changes.is_empty() && p.mails.is_empty());
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::MinutesApproved));
    }

    #[test]
    fn corrections_from_two_members_reach_every_coordinator_by_name() {
        let s = DigestSnapshot {
            meeting: meeting(),
            draft: Some(draft("draft")),
            corrections: vec![
                correction(
                    "Kari@HF.example",
                    Some("3/27"),
                    Some("drøftet"),
                    Some("drøftet og vedtok"),
                    "Under sak 3/27 …",
                    false,
                ),
                correction(
                    "anna@hf.example",
                    None,
                    None,
                    None,
                    "Høringen går til alle helseforetak.",
                    false,
                ),
                correction(
                    "koord@hf.example",
                    None,
                    None,
                    None,
                    "Ingen merknader.",
                    true,
                ),
            ],
            invited: invited(),
            members: members(),
        };
        let p = corrections_digest(&s);
        assert_eq!(p.outcome, "corrections digest to 2 coordinator(s)");
        assert!(p.changes.is_empty());
        // Coordinators in the order they were added (by id).
        let to: Vec<&str> = p.mails.iter().map(|m| m.to.email.as_str()).collect();
        assert_eq!(to, vec!["mary@hf.example", "koord@hf.example"]);
        let koord = &p.mails[1];
        assert_eq!(koord.effect_key, "digest:11:2");
        assert_eq!(
            koord.key.as_deref(),
            Some("a".repeat(32).as_str()),
            "«godkjent» in reply approves this version"
        );
        assert_eq!(koord.data["silent"], serde_json::json!(["Per Vara"]));
        assert_eq!(koord.data["corrected"], true);
        let r = render("digest", koord);
        assert_eq!(
            r.subject,
            "Rettelser til referat: Utdanningsrådet (versjon 1)"
        );
        assert!(r.body.contains("  Kari Hansen (sak 3/27): «drøftet» → «drøftet og vedtok»\n  Anna Ahus: Høringen går til alle helseforetak.\n  Eldbjørg Koordinator: ingen merknader\n\nHar ikke svart: Per Vara\n"), "{}", r.body);
        let en = render("digest", &p.mails[0]);
        assert!(
            en.body
                .contains("Kari Hansen (item 3/27): \"drøftet\" → \"drøftet og vedtok\""),
            "{}",
            en.body
        );
        // No open draft: nothing to send, the job is done all the same.
        let p = corrections_digest(&DigestSnapshot { draft: None, ..s });
        assert!(p.mails.is_empty() && !p.is_held());
    }

    #[test]
    fn a_digest_without_corrections_asks_only_for_approval() {
        let s = DigestSnapshot {
            meeting: meeting(),
            draft: Some(draft("draft")),
            corrections: Vec::new(),
            invited: Vec::new(),
            members: members(),
        };
        let p = corrections_digest(&s);
        let r = render("digest", &p.mails[1]);
        assert!(
            r.body
                .contains("  Ingen svar.\n\nSvar «godkjent» på denne e-posten"),
            "{}",
            r.body
        );
    }

    fn approve(approver: Approver<'_>, now: &str, state: &str) -> Plan {
        let mut ms = members();
        ms[5].failing = true;
        let s = ApproveSnapshot {
            meeting: meeting(),
            draft: draft(state),
            document: None,
            members: ms,
        };
        approve_minutes(&s, approver, t(now))
    }

    #[test]
    fn only_a_coordinator_approves_and_only_after_the_deadline() {
        let after = "2027-03-17T09:00:00Z";
        let p = approve(Approver::Mail("kari@hf.example"), after, "draft");
        assert!(p.is_held() && p.changes.is_empty() && p.mails.is_empty());
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::NotCoordinator));
        assert!(
            p.outcome.contains("who is not a coordinator"),
            "{}",
            p.outcome
        );
        let p = approve(
            Approver::Mail("koord@hf.example"),
            "2027-03-16T09:00:00Z",
            "draft",
        );
        assert!(p.is_held() && p.mails.is_empty());
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::BeforeDeadline));
        assert!(
            p.outcome
                .contains("before the correction deadline (2027-03-17 09:00)"),
            "{}",
            p.outcome
        );
        let p = approve(Approver::Mail("koord@hf.example"), after, "superseded");
        assert!(p.is_held() && p.mails.is_empty());
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::MinutesNotDraft));
        let p = approve(Approver::Mail("KOORD@hf.example"), after, "draft");
        assert!(!p.is_held(), "{}", p.outcome);
        assert_eq!(
            p.changes,
            vec![Change::ApproveMinutes {
                id: 11,
                by: "KOORD@hf.example".into()
            }]
        );
        assert_eq!(p.events.first().map(|e| e.kind), Some("minutes_approved"));
        // Every member whose address works, observers and coordinators included.
        let to: Vec<&str> = p.mails.iter().map(|m| m.to.email.as_str()).collect();
        assert_eq!(
            to,
            vec![
                "anna@hf.example",
                "koord@hf.example",
                "kari@hf.example",
                "lene@hf.example",
                "mary@hf.example"
            ]
        );
        assert_eq!(p.mails[0].effect_key, "minutes-final:11:5");
        let r = render("minutes_final", &p.mails[4]);
        assert_eq!(r.subject, "Minutes: Utdanningsrådet Tuesday 9 March 2027");
        let p = approve(Approver::Operator("command line (kari)"), after, "draft");
        assert!(!p.is_held());
    }

    fn reply(from: &str, body: &str) -> Understanding {
        let raw = format!("From: {from}\r\nTo: referent@regut.example\r\nSubject: SV: Utkast til referat\r\nMessage-ID: <r@hf.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
        understand(raw.as_bytes(), Limits::default())
    }

    const MEMBER: Replier = Replier {
        coordinator: false,
        invited: true,
        member: true,
    };
    const COORDINATOR: Replier = Replier {
        coordinator: true,
        invited: false,
        member: true,
    };

    #[test]
    fn replies_to_the_draft() {
        let d = draft("draft");
        let unverified = Trust::Unverified("no DMARC".into());
        let u = reply(
            "kari@hf.example",
            "Under sak 3/27 skal det stå «drøftet og vedtok», ikke «drøftet».",
        );
        assert_eq!(
            reply_to_minutes(&d, &u, "kari@hf.example", MEMBER, &unverified),
            MinutesReply::ConfirmFirst
        );
        let MinutesReply::Plan(p) =
            reply_to_minutes(&d, &u, "kari@hf.example", MEMBER, &Trust::Key)
        else {
            panic!("a plan");
        };
        assert!(!p.is_held());
        assert!(
            matches!(
                p.changes.as_slice(),
                [Change::NewCorrection { minutes_id: 11, item: Some(i), no_remarks: false, .. }] if i == "3/27"
            ),
            "{:?}",
            p.changes
        );
        let u = reply("koord@hf.example", "Godkjent");
        assert_eq!(
            reply_to_minutes(&d, &u, "koord@hf.example", COORDINATOR, &Trust::Key),
            MinutesReply::Approve
        );
        // A member's "godkjent" is no approval: read, nothing to correct.
        let u = reply("kari@hf.example", "Ingen merknader");
        let MinutesReply::Plan(p) =
            reply_to_minutes(&d, &u, "kari@hf.example", MEMBER, &Trust::Key)
        else {
            panic!("a plan");
        };
        assert!(matches!(
            p.changes.as_slice(),
            [Change::NewCorrection {
                no_remarks: true,
                ..
            }]
        ));
        // A stranger without the key is held.
        let stranger = Replier {
            coordinator: false,
            invited: false,
            member: false,
        };
        let u = reply("x@elsewhere.example", "Feil i sak 3");
        let MinutesReply::Plan(p) = reply_to_minutes(
            &d,
            &u,
            "x@elsewhere.example",
            stranger,
            &Trust::Server("x".into()),
        ) else {
            panic!("a plan");
        };
        assert!(p.is_held() && p.changes.is_empty());
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::NotMember));
        // A version that is no longer a draft takes no corrections.
        let MinutesReply::Plan(p) = reply_to_minutes(
            &draft("superseded"),
            &reply("kari@hf.example", "Feil"),
            "kari@hf.example",
            MEMBER,
            &Trust::Key,
        ) else {
            panic!("a plan");
        };
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::MinutesNotDraft));
    }

    #[test]
    fn minutes_by_mail_are_for_the_last_meeting_held() {
        let u = reply(
            "koord@hf.example",
            "Sak 3/27 Veileder for LIS1\nRådet drøftet veilederen.",
        );
        let raw = b"";
        let mut later = meeting();
        later.id = 2;
        later.starts_at = t("2027-04-13T08:00:00Z");
        let meetings = vec![
            Candidate {
                council_id: 1,
                meeting: meeting(),
            },
            Candidate {
                council_id: 1,
                meeting: later,
            },
        ];
        let now = t("2027-03-10T08:00:00Z");
        let trust = Trust::Server("mx".into());
        match read_minutes_mail(&u, raw, "koord@hf.example", &[1], &meetings, &trust, now) {
            MinutesMail::Minutes {
                meeting_id: 1,
                body,
                attachment: None,
                authenticated: true,
            } => {
                assert!(body.contains("Rådet drøftet veilederen."));
            }
            other => panic!("{other:?}"),
        }
        let held = read_minutes_mail(&u, raw, "koord@hf.example", &[1, 2], &meetings, &trust, now);
        assert!(
            matches!(held, MinutesMail::Held(HeldReason::MinutesSeveralCouncils, r) if r.contains("several councils"))
        );
        let held = read_minutes_mail(
            &u,
            raw,
            "koord@hf.example",
            &[1],
            &meetings,
            &trust,
            t("2027-03-01T08:00:00Z"),
        );
        assert!(
            matches!(held, MinutesMail::Held(HeldReason::NoMeetingYet, r) if r.contains("no meeting yet"))
        );
    }
}
