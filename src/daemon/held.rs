//! Quiet is a failure mode: every held message (a stranger's, an unreadable reply, a
//! quarantined one, an action waiting for confirmation) reaches the coordinators in a
//! digest, at most one an hour, each entry with who, what was understood, why it was
//! held, and the one-line replies that resolve it ("1 Kari", "1 ignorer"). The reply
//! is trusted like every other: with the digest's personal key, from the coordinator
//! it went to.

use std::collections::BTreeMap;

use chrono::Duration;

use super::year::{Handled, Notice};
use super::{Daemon, Result};
use crate::domain::{normalize_address, Language, Role};
use crate::store::{Change, InboundSummary, KeyRow, Member, NewEvent};
use crate::trust::{same_address, Trust};
use crate::understand::Understanding;

/// Entries in one digest; more wait for the next.
const MAX_ENTRIES: usize = 30;
/// How long a digest's key is accepted.
const DIGEST_DAYS: i64 = 14;

/// What a coordinator asks done with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    Dismiss,
    Retry,
    /// Act on it as this person's mail: an address, a full name or a first name.
    As(String),
}

/// The "N …" lines of a reply to a numbered digest: the number and what follows it.
/// Lines that do not start with a number are not instructions (greetings, quotes,
/// signatures).
pub(crate) fn numbered_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['«', '"']);
        if line.starts_with('>') {
            continue;
        }
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(n) = line.get(..digits).unwrap_or("").parse::<usize>() else {
            continue;
        };
        let rest = line
            .get(digits..)
            .unwrap_or("")
            .trim_start_matches(['.', ':', ')', '-'])
            .trim()
            .trim_end_matches(['»', '"', '.'])
            .trim();
        if !rest.is_empty() {
            out.push((n, rest));
        }
    }
    out
}

/// Reads "1 Kari", "2 ignorer", "3 prøv igjen", "4 kari@ous-hf.no" lines.
pub(crate) fn read_resolutions(text: &str) -> Vec<(usize, Resolution)> {
    let mut out = Vec::new();
    for (n, rest) in numbered_lines(text) {
        let lower = rest.to_lowercase();
        let r = match lower.as_str() {
            "ignorer" | "ignorere" | "ignore" | "avvis" | "dismiss" | "slett" | "se bort" => {
                Resolution::Dismiss
            }
            "prøv igjen" | "prøv" | "prøv på nytt" | "retry" | "try again" | "les på nytt" => {
                Resolution::Retry
            }
            _ => Resolution::As(rest.to_string()),
        };
        out.push((n, r));
    }
    out
}

/// The member a coordinator means by "Kari", "Kari Nordmann" or an address, among the
/// members of their councils; `None` when nobody or several match.
pub(crate) fn resolve_person<'a>(who: &str, members: &'a [Member]) -> Option<&'a Member> {
    if let Ok(addr) = normalize_address(who) {
        return members.iter().find(|m| same_address(&m.email, &addr));
    }
    let w = who.trim().to_lowercase();
    let full: Vec<&Member> = members
        .iter()
        .filter(|m| m.name.to_lowercase() == w)
        .collect();
    if let [one] = full.as_slice() {
        return Some(one);
    }
    let mut first: Vec<&Member> = members
        .iter()
        .filter(|m| {
            m.name
                .split_whitespace()
                .next()
                .is_some_and(|f| f.to_lowercase() == w)
        })
        .collect();
    first.dedup_by(|a, b| a.email == b.email);
    match first.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Whether a held message's outcome says a confirmation was asked of `address`.
fn confirmation_asked_of(row: &InboundSummary, address: &str) -> bool {
    row.outcome
        .as_deref()
        .is_some_and(|o| o.contains(&format!("confirmation asked of {address}")))
}

/// What a held message was understood as, in a few words.
fn kind_words(lang: Language, kind: Option<&str>) -> String {
    let (nb, en) = match kind.unwrap_or("unknown") {
        "rsvp" => ("svar på innkalling", "an answer to a summons"),
        "agenda_request" => ("forslag til sak", "an agenda proposal"),
        "minutes_correction" => ("svar på referatutkast", "a reply to draft minutes"),
        "minutes_draft" => ("utkast til referat", "draft minutes"),
        "coordinator_decision" => ("avgjørelse fra koordinator", "a coordinator's decision"),
        "quarantined" => (
            "ukjent (kunne ikke behandles)",
            "unknown (could not be processed)",
        ),
        _ => ("ikke forstått", "not understood"),
    };
    lang.pick(nb.into(), en.into())
}

/// Why a message was held, for the person who reads the digest. The outcome stored
/// with a message is written for the log (English); the common reasons are said in
/// the secretariat's language, anything else as it was logged.
fn reason_words(lang: Language, outcome: &str) -> String {
    if lang == Language::En {
        return outcome.to_string();
    }
    let o = outcome;
    let nb = if o.starts_with("quarantined") {
        "kunne ikke behandles etter tre forsøk (se loggen)"
    } else if o.contains("does not refer to any summons") {
        "ser ut som et svar, men viser ikke til noen innkalling vi har sendt (ukjent avsender eller ny e-post)"
    } else if o.contains("not from the invitee") {
        "et svar på en innkalling, sendt fra en annen adresse enn den innkalte sin"
    } else if o.contains("a reply to a confirmation request sent to") {
        "et svar på en bekreftelsesforespørsel, men fra en annen adresse enn den forespørselen gikk til; ingenting er gjort"
    } else if o.contains("digest sent to") {
        "et svar på en oversikt som gikk til en annen adresse; ingenting er gjort"
    } else if o.contains("no confirmation request") {
        "vi kan ikke se at meldingen kommer fra avsenderen, og det er sendt for mange bekreftelsesforespørsler til adressen denne timen"
    } else if o.contains("not authenticated")
        || o.contains("asked to confirm")
        || o.contains("confirmation asked")
    {
        "vi kan ikke se at meldingen kommer fra avsenderen; den som står som avsender, er bedt om å bekrefte"
    } else if o.contains("after the meeting is over") {
        "et svar som kom etter at møtet var over (eller avlyst); ikke registrert"
    } else if o.contains("secretariat's own address as substitute") {
        "svaret oppgir sekretariatets egen adresse som vara"
    } else if o.contains("has had no meeting yet") {
        "et utkast til referat, men rådet har ikke hatt noe møte ennå"
    } else if o.contains("a day); kept") {
        "avsenderen har sendt flere forslag til sak i dag enn det som tas imot"
    } else if o.contains("who coordinates several councils") {
        "et utkast til referat fra en koordinator for flere råd; det må sendes inn fra kommandolinjen"
    } else if o.contains("who is not a coordinator") || o.contains("does not decide on it") {
        "avsenderen er ikke koordinator (eller leder) og kan ikke avgjøre dette"
    } else if o.contains("says neither")
        || o.contains("neither approves")
        || o.contains("without a")
    {
        "et svar der vi ikke fant noen avgjørelse"
    } else if o.contains("a reply that reads as") && o.contains(" is asked") {
        "et svar som kan leses på flere måter; vi har ikke registrert noe, og personen er spurt"
    } else if o.contains("naming the secretariat's own address as substitute") {
        "svaret oppgir sekretariatets egen adresse som vara; personen er spurt på nytt"
    } else if (o.contains("no answer could be read") || o.contains("no text of its own"))
        && o.contains(" is asked")
    {
        "et svar på innkallingen der vi ikke kunne lese om personen kommer; personen er spurt"
    } else if o.contains("no answer could be read") || o.contains("no text of its own") {
        "et svar på innkallingen der vi ikke kunne lese om personen kommer (personen er ikke spurt: for mange automatiske svar til adressen denne timen)"
    } else if o.starts_with("mailing-list") {
        "masseutsendelse eller e-postliste"
    } else if o.contains("who is not a member") || o.contains("not in the council") {
        "avsenderen er ikke medlem av rådet"
    } else if o.contains("several councils") {
        "avsenderen er med i flere råd, så vi vet ikke hvilket det gjelder"
    } else if o.contains("bytes, more than") {
        "meldingen er for stor til å leses"
    } else if o.starts_with("not understood") {
        "vi forsto ikke hva meldingen gjelder"
    } else if o.contains("cannot be read") || o.contains("cannot read") {
        "meldingen kunne ikke leses"
    } else {
        return o.to_string();
    };
    nb.to_string()
}

impl Daemon {
    /// Sends the coordinators the held messages they have not seen, at most one
    /// digest an hour. Returns how many digests went out.
    pub(crate) async fn held_digest(&self) -> Result<usize> {
        let now = self.clock.now();
        // Every tick asks; the usual answer, nothing held, comes from the index on
        // the state, before the outbox is counted.
        let held = self.store.unreported_held(MAX_ENTRIES as i64).await?;
        if held.is_empty()
            || self
                .store
                .count_kind_since("held_digest", now - Duration::hours(1))
                .await?
                > 0
        {
            return Ok(0);
        }
        // Who hears of each: the coordinators of the sender's councils, or, for a
        // stranger, every coordinator.
        let mut all_coordinators: Vec<Member> = Vec::new();
        for c in self.store.councils().await? {
            all_coordinators.extend(self.store.coordinators(c.id).await?);
        }
        let mut per: BTreeMap<String, (String, Vec<&InboundSummary>)> = BTreeMap::new();
        for row in &held {
            let councils: Vec<i64> = match &row.sender {
                Some(s) => self
                    .store
                    .members_by_email(s)
                    .await?
                    .iter()
                    .map(|m| m.council_id)
                    .collect(),
                None => Vec::new(),
            };
            for c in all_coordinators
                .iter()
                .filter(|c| councils.is_empty() || councils.contains(&c.council_id))
                // A coordinator who was just asked to confirm this very message does
                // not need it twice.
                .filter(|c| !confirmation_asked_of(row, &c.email))
            {
                let entry = per
                    .entry(c.email.clone())
                    .or_insert_with(|| (c.name.clone(), Vec::new()));
                if !entry.1.iter().any(|r| r.id == row.id) {
                    entry.1.push(row);
                }
            }
        }
        let lang = self.lang();
        let tz = self.cfg.secretariat.time_zone;
        let mut mails = Vec::new();
        for (address, (name, rows)) in &per {
            let mut lines = vec![
                match (lang, rows.len()) {
                    (Language::Nb | Language::Nn, 1) => {
                        "Én melding til sekretariatet er holdt tilbake og venter på deg:"
                            .to_string()
                    }
                    (Language::Nb | Language::Nn, n) => {
                        format!(
                            "{n} meldinger til sekretariatet er holdt tilbake og venter på deg:"
                        )
                    }
                    (Language::En, 1) => {
                        "One message to the secretariat is held and waits for you:".to_string()
                    }
                    (Language::En, n) => {
                        format!("{n} messages to the secretariat are held and wait for you:")
                    }
                },
                String::new(),
            ];
            for (i, r) in rows.iter().enumerate() {
                let when = r.received_at.with_timezone(&tz).format("%d.%m.%Y %H:%M");
                lines.push(format!(
                    "{}. {} {}, {when}: «{}»",
                    i + 1,
                    lang.pick("Fra".to_string(), "From".to_string()),
                    r.sender.clone().unwrap_or_else(|| "?".into()),
                    r.subject.clone().unwrap_or_default()
                ));
                // What the person wrote, so the coordinator can decide without the
                // server: what it was read as, and the first lines of their own text.
                let u = match self.store.inbound_raw(r.id).await {
                    Ok(raw) => Some(crate::understand::understand(&raw, self.limits)),
                    Err(_) => None,
                };
                if !matches!(r.kind.as_deref(), None | Some("unknown")) {
                    let answer = u
                        .as_ref()
                        .filter(|u| u.confidence == crate::understand::Confidence::Sure)
                        .and_then(|u| u.answer.as_ref())
                        .map(|a| {
                            format!(
                                " ({})",
                                crate::render::describe_answer_of(
                                    lang,
                                    lang.pick("avsenderen", "the sender"),
                                    a,
                                )
                            )
                        })
                        .unwrap_or_default();
                    lines.push(format!(
                        "   {}: {}{answer}",
                        lang.pick("Forstått som".to_string(), "Understood as".to_string()),
                        kind_words(lang, r.kind.as_deref())
                    ));
                }
                if let Some(u) = u {
                    for l in u
                        .reply_text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .take(3)
                    {
                        lines.push(format!("   | {}", l.chars().take(160).collect::<String>()));
                    }
                }
                lines.push(format!(
                    "   {}: {}",
                    lang.pick("Holdt fordi".to_string(), "Held because".to_string()),
                    reason_words(lang, r.outcome.as_deref().unwrap_or(""))
                ));
            }
            lines.push(String::new());
            lines.push(lang.pick("Svar på denne e-posten med én linje per melding: «1 Kari Nordmann» (navnet eller e-postadressen til et medlem) registrerer melding 1 som det medlemmets egen, «1 ignorer» ser bort fra den, «1 prøv igjen» leser den på nytt.".to_string(),
                "Reply to this email with one line per message: \"1 Kari Nordmann\" (a member's name or address) acts on message 1 as that member's own, \"1 ignore\" sets it aside, \"1 retry\" reads it again.".to_string(),
            ));
            let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
            mails.push(self.notice(Notice {
                kind: "held_digest",
                effect_key: format!("held-digest:{}:{address}", ids.join(",")),
                to_name: name,
                to_address: address,
                subject: match (lang, rows.len()) {
                    (Language::Nb | Language::Nn, 1) => {
                        "Holdt tilbake: én melding venter på deg".to_string()
                    }
                    (Language::Nb | Language::Nn, n) => {
                        format!("Holdt tilbake: {n} meldinger venter på deg")
                    }
                    (Language::En, 1) => "Held: one message waits for you".to_string(),
                    (Language::En, n) => format!("Held: {n} messages wait for you"),
                },
                lines,
                reference: Some(ids.join(",")),
                expires_at: Some(now + Duration::days(DIGEST_DAYS)),
                ..Notice::BLANK
            })?);
        }
        let ids: Vec<i64> = held.iter().map(|r| r.id).collect();
        let n = mails.len();
        let ev = NewEvent::new(
            "scheduler",
            "held_digest",
            None,
            None,
            format!("{} held message(s) told to {n} coordinator(s)", ids.len()),
        );
        self.store
            .commit(&[Change::MarkReported { ids }], &mails, &[ev], now)
            .await?;
        Ok(n)
    }

    /// A coordinator's reply to a held-mail digest: each "N …" line applied, and a
    /// short answer saying what was done.
    pub(crate) async fn reply_to_held_digest(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        key: KeyRow,
        trust: Trust,
    ) -> Result<Handled> {
        let now = self.clock.now();
        let lang = self.lang();
        if !same_address(from, &key.grant.address) || !trust.is_authenticated() {
            return Ok(Handled::held(format!(
                "a reply to a held-mail digest sent to {}, from {from} ({}); nothing done",
                key.grant.address,
                trust.describe()
            )));
        }
        if key.grant.expires_at.is_some_and(|e| e < now) {
            return Ok(Handled::held(
                "a reply to a held-mail digest that has expired; nothing done",
            ));
        }
        let ids: Vec<i64> = key
            .grant
            .reference
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .collect();
        let wanted = read_resolutions(&u.reply_text);
        if wanted.is_empty() {
            return Ok(Handled::held(format!(
                "a reply to a held-mail digest from {from} without a \"1 …\" line; kept for a coordinator"
            )));
        }
        let mut members: Vec<Member> = Vec::new();
        for m in self.store.members_by_email(from).await? {
            if m.role == Role::Coordinator {
                members.extend(self.store.members(m.council_id).await?);
            }
        }
        let mut done = Vec::new();
        for (n, r) in wanted {
            let Some(&id) = n.checked_sub(1).and_then(|i| ids.get(i)) else {
                done.push(lang.pick(
                    format!("{n}: finnes ikke i oversikten"),
                    format!("{n}: not in the digest"),
                ));
                continue;
            };
            let mut as_name = None;
            let said = match &r {
                Resolution::Dismiss => Box::pin(self.cli_dismiss(id, from)).await,
                Resolution::Retry => Box::pin(self.cli_retry(id, from)).await,
                Resolution::As(who) => match resolve_person(who, &members) {
                    Some(m) => {
                        as_name = Some(m.name.clone());
                        Box::pin(self.cli_apply(id, &m.email, from)).await
                    }
                    None => Ok(lang.pick(
                        format!(
                            "vet ikke hvem «{who}» er (skriv hele navnet eller e-postadressen)"
                        ),
                        format!(
                            "cannot tell who \"{who}\" is (write the full name or the address)"
                        ),
                    )),
                },
            };
            let after = self.store.inbound(id).await?;
            let state = match (said, after.state.as_str()) {
                (Err(e), _) => lang.pick(format!("ikke gjort: {e}"), format!("not done: {e}")),
                (Ok(s), _) if s.starts_with("vet ikke") || s.starts_with("cannot tell") => s,
                (Ok(_), "processed") => lang.pick("behandlet".to_string(), "processed".to_string()),
                (Ok(_), "ignored") => {
                    lang.pick("satt til side".to_string(), "set aside".to_string())
                }
                (Ok(_), _) => lang.pick(
                    format!(
                        "fortsatt holdt tilbake ({})",
                        reason_words(lang, after.outcome.as_deref().unwrap_or(""))
                    ),
                    format!("still held ({})", after.outcome.clone().unwrap_or_default()),
                ),
            };
            let what = match &as_name {
                Some(name) => lang.pick(
                    format!(" som meldingen fra {name}"),
                    format!(" as the message from {name}"),
                ),
                None => String::new(),
            };
            done.push(format!(
                "{n}. «{}»{what}: {state}",
                after.subject.clone().unwrap_or_default()
            ));
        }
        let mut h = Handled::done(format!(
            "held-mail digest answered by {from}: {}",
            done.join("; ")
        ));
        let name = members
            .iter()
            .find(|m| same_address(&m.email, from))
            .map(|m| m.name.clone())
            .unwrap_or_else(|| from.to_string());
        h.mails.push(self.notice(Notice {
            kind: "notice",
            effect_key: format!("held-done:{inbound_id}"),
            to_name: &name,
            to_address: from,
            subject: lang.pick(
                "Utført: holdte meldinger".to_string(),
                "Done: held messages".to_string(),
            ),
            lines: done,
            in_reply_to: u.message_id.as_deref(),
            inbound_id: Some(inbound_id),
            auto_submitted: "auto-replied",
            ..Notice::BLANK
        })?);
        h.events.push(NewEvent::new(
            from,
            "held_resolved",
            None,
            Some(inbound_id),
            h.outcome.clone(),
        ));
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, email: &str) -> Member {
        Member {
            id: 1,
            council_id: 1,
            name: name.into(),
            email: email.into(),
            organisation: None,
            role: Role::Member,
            doctor: false,
            failing_since: None,
            failing_reason: None,
            language: None,
        }
    }

    #[test]
    fn lines() {
        let r = read_resolutions(
            "1 Kari\n2. ignorer\n3: prøv igjen\nHilsen Eldbjørg\n> 4 Ola\n5 kari@ous-hf.no",
        );
        assert_eq!(
            r,
            vec![
                (1, Resolution::As("Kari".into())),
                (2, Resolution::Dismiss),
                (3, Resolution::Retry),
                (5, Resolution::As("kari@ous-hf.no".into())),
            ]
        );
    }

    #[test]
    fn people() {
        let ms = vec![
            member("Kari Nordmann", "kari@ous-hf.no"),
            member("Kari Hansen", "kh@ahus.no"),
            member("Ola Nordmann", "ola@ous-hf.no"),
        ];
        assert_eq!(
            resolve_person("Ola", &ms).map(|m| m.email.as_str()),
            Some("ola@ous-hf.no")
        );
        assert!(resolve_person("Kari", &ms).is_none(), "two Karis");
        assert_eq!(
            resolve_person("kari nordmann", &ms).map(|m| m.email.as_str()),
            Some("kari@ous-hf.no")
        );
        assert_eq!(
            resolve_person("KH@ahus.no", &ms).map(|m| m.email.as_str()),
            Some("kh@ahus.no")
        );
        assert!(resolve_person("eve@evil.example", &ms).is_none());
    }
}
