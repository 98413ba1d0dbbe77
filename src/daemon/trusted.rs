//! Acting only on what can be trusted: a message that would change someone else's
//! state or reach many people, from a sender nothing authenticates, is held and the
//! person it claims to come from is asked to confirm it by a one-word reply to their
//! registered address. A forger never sees the request; the real person confirms with
//! "bekreft". See `crate::trust` for how a sender is authenticated.

use chrono::Duration;

use super::year::{Handled, Notice};
use super::{Acting, Daemon, Report, Result};

use crate::store::{Change, InboundOutcome, InboundState, KeyRow, Meeting, NewEvent, OutgoingMail};
use crate::trust::{same_address, Trust};
use crate::understand::Understanding;

/// How long a confirmation request is good for.
const CONFIRM_DAYS: i64 = 7;

/// What a confirmation request asks about.
pub(crate) enum Asked<'a> {
    /// An answer to a summons, for `member`.
    Answer {
        member: &'a str,
        meeting: &'a Meeting,
        what: &'a str,
    },
    /// Anything else, said in both languages.
    Action { nb: String, en: String },
}

/// The reply to a confirmation request, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Confirm,
    Refuse,
}

/// "bekreft" / "avvis" and their kin, in nb, nn and en, from the first words of a reply.
pub(crate) fn read_confirmation(text: &str) -> Option<Reply> {
    const YES: &[&str] = &[
        "bekreft",
        "bekrefter",
        "bekreftet",
        "bekrefta",
        "stadfest",
        "stadfestar",
        "stadfesta",
        "ja",
        "ok",
        "okay",
        "confirm",
        "confirmed",
        "yes",
    ];
    const NO: &[&str] = &[
        "avvis", "avvist", "avviser", "nei", "no", "reject", "rejected", "refuse",
    ];
    let first = text
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())?
        .to_lowercase();
    if YES.contains(&first.as_str()) {
        Some(Reply::Confirm)
    } else if NO.contains(&first.as_str()) {
        Some(Reply::Refuse)
    } else {
        None
    }
}

impl Daemon {
    /// The mail that asks `ask` to confirm a held message, and a note for the outcome.
    /// Requests count against the per-address hourly cap, like receipts.
    pub(crate) async fn confirmation_request(
        &self,
        inbound_id: i64,
        u: &Understanding,
        ask: &str,
        asked: Asked<'_>,
    ) -> Result<(Option<OutgoingMail>, String)> {
        let now = self.clock.now();
        let lang = self.lang();
        let recent = self
            .store
            .count_recent(ask, "confirm", now - Duration::hours(1))
            .await?;
        if recent >= i64::from(self.cfg.receipts_per_hour) {
            return Ok((
                None,
                "; no confirmation request (too many to that address this hour)".into(),
            ));
        }
        let name = self
            .store
            .members_by_email(ask)
            .await?
            .into_iter()
            .next()
            .map(|m| m.name)
            .unwrap_or_else(|| ask.to_string());
        let first = match &asked {
            Asked::Answer {
                member,
                meeting,
                what,
            } => {
                let date = crate::render::format_date(lang, meeting.starts_at, self.tz(meeting)?);
                let what = what.trim_end_matches('.');
                let own = u.from.as_deref().is_some_and(|f| same_address(f, ask))
                    && u.on_behalf_of.is_none();
                if own {
                    lang.pick(format!("Vi har mottatt et svar i ditt navn på innkallingen til møtet i {} {date}: {what}. Vi kan ikke se sikkert at det kommer fra deg, så vi registrerer det ikke før du bekrefter.", meeting.council_name),
                        format!("We have received an answer in your name to the summons to {} on {date}: {what}. We cannot tell for sure that it comes from you, so we do not record it until you confirm.", meeting.council_name),
                    )
                } else {
                    lang.pick(format!("Vi har mottatt en videresendt melding i ditt navn med svar fra {member} på innkallingen til møtet i {} {date}: {what}. Vi kan ikke se at den kommer fra deg, så vi registrerer ikke svaret før du bekrefter.", meeting.council_name),
                        format!("We have received a forwarded message in your name with {member}'s answer to the summons to {} on {date}: {what}. We cannot tell that it comes from you, so we do not record the answer until you confirm.", meeting.council_name),
                    )
                }
            }
            Asked::Action { nb, en } => lang.pick(nb.clone(), en.clone()),
        };
        let subject_line = crate::understand::strip_subject_prefixes(&u.subject);
        let mut lines = vec![
            first,
            String::new(),
            lang.pick(
                format!("Emne: {subject_line}"),
                format!("Subject: {subject_line}"),
            ),
            lang.pick(
                format!("Avsender (oppgitt): {}", u.from.clone().unwrap_or_default()),
                format!("Sender (as given): {}", u.from.clone().unwrap_or_default()),
            ),
        ];
        if !u.attachments.is_empty() {
            let names: Vec<&str> = u.attachments.iter().map(|a| a.name.as_str()).collect();
            lines.push(format!(
                "{}: {}",
                lang.pick("Vedlegg".to_string(), "Attachments".to_string()),
                names.join(", ")
            ));
        }
        // What is being confirmed, as it came: a request to confirm what one has not
        // seen would let a forgery through on a coordinator's good faith.
        let text = if u.reply_text.trim().is_empty() {
            u.attachments
                .iter()
                .find_map(|a| a.text.clone())
                .unwrap_or_default()
        } else {
            u.reply_text.clone()
        };
        if !text.trim().is_empty() {
            lines.push(String::new());
            lines.push(lang.pick(
                "Meldingen lyder:".to_string(),
                "The message reads:".to_string(),
            ));
            let all: Vec<&str> = text.lines().collect();
            for l in all.iter().take(40) {
                lines.push(format!("  | {l}"));
            }
            if all.len() > 40 {
                lines.push(lang.pick(
                    format!("  | … ({} linjer til)", all.len() - 40),
                    format!("  | … ({} more lines)", all.len() - 40),
                ));
            }
        }
        lines.extend([
            String::new(),
            lang.pick(format!("Svar «bekreft» på denne e-posten hvis det er du som har sendt dette, eller «avvis» hvis det ikke kom fra deg. Forespørselen gjelder i {CONFIRM_DAYS} dager."),
                format!("Reply \"confirm\" to this email if you sent this, or \"reject\" if it did not come from you. This request is valid for {CONFIRM_DAYS} days."),
            ),
        ]);
        let expires = now + Duration::days(CONFIRM_DAYS);
        let mail = self.notice(Notice {
            kind: "confirm",
            effect_key: format!("confirm:{inbound_id}:{ask}"),
            to_name: &name,
            to_address: ask,
            subject: lang.pick(
                format!("Bekreft: {subject_line}"),
                format!("Please confirm: {subject_line}"),
            ),
            lines,
            reference: Some(inbound_id.to_string()),
            expires_at: Some(expires),
            in_reply_to: None,
            inbound_id: Some(inbound_id),
            ..Notice::BLANK
        })?;
        Ok((Some(mail), format!("; confirmation asked of {ask}")))
    }

    /// Tells the coordinators of `person`'s councils that mail was sent in their name
    /// and refused by them.
    async fn forgery_notices(
        &self,
        person: &str,
        summary: &crate::store::InboundSummary,
        inbound_id: i64,
    ) -> Result<Vec<OutgoingMail>> {
        let lang = self.lang();
        let mut mails = Vec::new();
        let mut told = std::collections::HashSet::new();
        for m in self.store.members_by_email(person).await? {
            for c in self.store.coordinators(m.council_id).await? {
                if same_address(&c.email, person) || !told.insert(c.email.clone()) {
                    continue;
                }
                let subject = summary.subject.clone().unwrap_or_default();
                mails.push(self.notice(Notice {
                    kind: "notice",
                    effect_key: format!("forgery:{inbound_id}:{}", c.id),
                    to_name: &c.name,
                    to_address: &c.email,
                    subject: lang.pick(format!("E-post i navnet til {}", m.name),
                        format!("Mail in the name of {}", m.name),
                    ),
                    lines: vec![lang.pick(format!("Vi fikk en e-post i navnet til {} <{person}> («{subject}»). Vi spurte {} om å bekrefte den, og svaret var at e-posten ikke kom fra {}. Den er satt til side; ingenting er gjort.", m.name, crate::render::first_name(&m.name), crate::render::first_name(&m.name)),
                        format!("We received an email in the name of {} <{person}> (\"{subject}\"). We asked them to confirm it, and they said it did not come from them. It is set aside; nothing was done.", m.name),
                    )],
                    inbound_id: Some(inbound_id),
                    ..Notice::BLANK
                })?);
            }
        }
        Ok(mails)
    }

    /// Holds a message until `ask` confirms it.
    pub(crate) async fn confirm_first(
        &self,
        inbound_id: i64,
        u: &Understanding,
        ask: &str,
        asked: Asked<'_>,
        what: &str,
        trust: &Trust,
    ) -> Result<Handled> {
        let (mail, note) = self.confirmation_request(inbound_id, u, ask, asked).await?;
        let mut h = Handled::held(format!("{what}, {}; held{note}", trust.describe()));
        h.mails.extend(mail);
        h.events.push(NewEvent::new(
            u.from.as_deref().unwrap_or(""),
            "held_unverified",
            None,
            Some(inbound_id),
            h.outcome.clone(),
        ));
        Ok(h)
    }

    /// A reply to a confirmation request: "bekreft" acts on the held message as the
    /// person's own, "avvis" sets it aside. Only the address the request went to can
    /// answer it, with the key it carried.
    pub(crate) async fn reply_to_confirmation(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        key: KeyRow,
        trust: Trust,
        report: &mut Report,
    ) -> Result<Handled> {
        let now = self.clock.now();
        let asked = &key.grant.address;
        if !same_address(from, asked) || !trust.is_authenticated() {
            return Ok(Handled::held(format!(
                "a reply to a confirmation request sent to {asked}, from {from} ({}); nothing done",
                trust.describe()
            )));
        }
        if key.used_at.is_some() {
            return Ok(Handled::done(
                "a second reply to a confirmation request that was already answered; nothing more to do",
            ));
        }
        if key.grant.expires_at.is_some_and(|e| e < now) {
            return Ok(Handled::held(format!(
                "a reply to a confirmation request from {from} that had expired; the held message stays held"
            )));
        }
        let Some(reply) = read_confirmation(&u.reply_text) else {
            return Ok(Handled::held(format!(
                "a reply to a confirmation request from {from} that says neither \"bekreft\" nor \"avvis\"; kept for a coordinator"
            )));
        };
        let Ok(original) = key.grant.reference.parse::<i64>() else {
            return Ok(Handled::held(
                "a reply to a confirmation request about nothing known",
            ));
        };
        let summary = self.store.inbound(original).await?;
        let mut h = if summary.state != "held" {
            Handled::done(format!(
                "a confirmation by {from} of message {original}, which is {} already",
                summary.state
            ))
        } else {
            match reply {
                Reply::Confirm => {
                    let raw = self.store.inbound_raw(original).await?;
                    let acting = Acting {
                        trust: Trust::Confirmed(from.to_string()),
                        as_address: None,
                    };
                    Box::pin(self.act(original, &raw, summary.received_at, report, Some(&acting)))
                        .await?;
                    Handled::done(format!("{from} confirmed message {original}; acted on it"))
                }
                Reply::Refuse => {
                    let outcome = InboundOutcome {
                        state: InboundState::Ignored,
                        kind: summary.kind.clone().unwrap_or_else(|| "unknown".into()),
                        sender: summary.sender.clone(),
                        subject: summary.subject.clone().unwrap_or_default(),
                        outcome: format!(
                            "{from} said this message did not come from them; set aside"
                        ),
                        problems: summary.problems.clone(),
                        invitation_id: summary.invitation_id,
                    };
                    let ev = NewEvent::new(
                        from,
                        "refused",
                        None,
                        Some(original),
                        outcome.outcome.clone(),
                    );
                    self.store
                        .finish_inbound(original, &outcome, None, &[], &[ev], &[], now)
                        .await?;
                    let mut h = Handled::done(format!(
                        "{from} refused message {original}; it is set aside"
                    ));
                    // Someone wrote in their name: the coordinators should know.
                    h.mails
                        .extend(self.forgery_notices(from, &summary, inbound_id).await?);
                    h
                }
            }
        };
        h.changes.push(Change::UseKey {
            key: key.grant.key.clone(),
        });
        h.events.push(NewEvent::new(
            from,
            "confirmation",
            None,
            Some(inbound_id),
            h.outcome.clone(),
        ));
        Ok(h)
    }
}

impl Daemon {
    /// `inbox apply ID --as ADDRESS`: acts on a held message as that person's own.
    pub async fn cli_apply(&self, id: i64, as_address: &str, by: &str) -> Result<String> {
        let summary = self.store.inbound(id).await?;
        if summary.state != "held" {
            return Err(super::DaemonError::Refused(format!(
                "message {id} is {}, not held: nothing to apply",
                summary.state
            )));
        }
        if self.store.members_by_email(as_address).await?.is_empty() {
            return Err(super::DaemonError::Refused(format!(
                "{as_address} is not a member of any council: a message is applied only as a member's own"
            )));
        }
        let raw = self.store.inbound_raw(id).await?;
        let acting = Acting {
            trust: Trust::Confirmed(by.to_string()),
            as_address: Some(as_address.to_string()),
        };
        let mut report = Report::default();
        self.act(id, &raw, summary.received_at, &mut report, Some(&acting))
            .await?;
        let after = self.store.inbound(id).await?;
        let ev = NewEvent::new(
            by,
            "inbox_apply",
            None,
            Some(id),
            format!(
                "message {id} applied as {as_address}'s: {}",
                after.outcome.clone().unwrap_or_default()
            ),
        );
        self.store.commit(&[], &[], &[ev], self.clock.now()).await?;
        Ok(format!(
            "message {id}: {} ({})",
            after.state,
            after.outcome.unwrap_or_default()
        ))
    }

    /// `inbox dismiss ID`: sets a held message aside.
    pub async fn cli_dismiss(&self, id: i64, by: &str) -> Result<String> {
        let summary = self.store.inbound(id).await?;
        if summary.state != "held" && summary.state != "new" {
            return Err(super::DaemonError::Refused(format!(
                "message {id} is {}, not held: nothing to dismiss",
                summary.state
            )));
        }
        let outcome = InboundOutcome {
            state: InboundState::Ignored,
            kind: summary.kind.clone().unwrap_or_else(|| "unknown".into()),
            sender: summary.sender.clone(),
            subject: summary.subject.clone().unwrap_or_default(),
            outcome: format!(
                "dismissed by {by} (was: {})",
                summary.outcome.clone().unwrap_or_default()
            ),
            problems: summary.problems.clone(),
            invitation_id: summary.invitation_id,
        };
        let ev = NewEvent::new(by, "inbox_dismiss", None, Some(id), outcome.outcome.clone());
        self.store
            .finish_inbound(id, &outcome, None, &[], &[ev], &[], self.clock.now())
            .await?;
        Ok(format!("message {id} dismissed"))
    }

    /// `inbox retry ID`: tries a held or quarantined message again from the start.
    pub async fn cli_retry(&self, id: i64, by: &str) -> Result<String> {
        let ev = NewEvent::new(
            by,
            "inbox_retry",
            None,
            Some(id),
            format!("message {id} tried again by {by}"),
        );
        if !self.store.retry_inbound(id, &ev, self.clock.now()).await? {
            return Err(super::DaemonError::Refused(format!(
                "message {id} is not held or ignored: nothing to retry"
            )));
        }
        let summary = self.store.inbound(id).await?;
        let raw = self.store.inbound_raw(id).await?;
        let mut report = Report::default();
        self.act_on_stored(id, &raw, summary.received_at, &mut report)
            .await;
        let after = self.store.inbound(id).await?;
        Ok(format!(
            "message {id}: {} ({})",
            after.state,
            after.outcome.unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_word_replies() {
        assert_eq!(read_confirmation("Bekreft"), Some(Reply::Confirm));
        assert_eq!(
            read_confirmation("  bekreftet.\n\nMvh Kari"),
            Some(Reply::Confirm)
        );
        assert_eq!(read_confirmation("Confirm"), Some(Reply::Confirm));
        assert_eq!(
            read_confirmation("Avvis – det var ikke meg"),
            Some(Reply::Refuse)
        );
        assert_eq!(read_confirmation("Hva er dette?"), None);
        assert_eq!(read_confirmation(""), None);
    }
}
