//! The trust model, tried as an attacker would on the embedded default (SQLite and
//! Maildir, `run --once` with a fixed `--now`): a forged `From:` acts on nothing, the
//! person it claims to be is asked, and nothing from outside stops the loop.

use std::path::PathBuf;
use std::process::Command;

use crate::support::*;

const T0: &str = "2027-03-01T09:00:00Z";

/// A council (coordinator, member, observer) with a meeting on 9 March 2027 at
/// Ullevål and the summons sent; `extra` goes into the configuration file.
struct Embedded {
    dir: tempfile::TempDir,
    config: PathBuf,
    n: usize,
}

impl Embedded {
    fn new(extra_config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = embedded_config(dir.path());
        if !extra_config.is_empty() {
            let mut text = std::fs::read_to_string(&config).expect("read");
            text.push_str(extra_config);
            std::fs::write(&config, text).expect("write");
        }
        ok(&config, &["init"]);
        council_with(
            &config,
            "ur",
            "Utdanningsrådet",
            &[
                ("Eldbjørg Koordinator", "koord@hf.example", "coordinator"),
                ("Ola Nordmann", "ola@hf.example", "member"),
                ("Hdir", "hdir@hdir.example", "observer"),
            ],
        );
        ok(
            &config,
            &[
                "--now",
                T0,
                "meeting",
                "add",
                "--council",
                "ur",
                "--starts",
                "2027-03-09T10:00",
                "--place",
                "Ullevål",
            ],
        );
        ok(&config, &["--now", T0, "run", "--once"]);
        Embedded { dir, config, n: 0 }
    }

    fn sent(&self, kind: &str) -> Vec<Vec<u8>> {
        embedded_sent(self.dir.path(), kind)
    }

    fn drop_mail(&mut self, raw: &[u8]) {
        self.n += 1;
        std::fs::write(
            self.dir.path().join(format!("inbox/new/{}.mail", self.n)),
            raw,
        )
        .expect("drop");
    }

    fn run(&self, now: &str) {
        ok(&self.config, &["--now", now, "run", "--once"]);
    }

    fn summons_to(&self, who: &str) -> Vec<u8> {
        self.sent("summons")
            .into_iter()
            .find(|m| header(m, "To").is_some_and(|t| t.contains(who)))
            .expect("a summons")
    }

    fn show(&self) -> serde_json::Value {
        serde_json::from_str(&ok(&self.config, &["meeting", "show", "1", "--json"])).expect("json")
    }

    fn answer_of(&self, email: &str) -> serde_json::Value {
        self.show()["invitations"]
            .as_array()
            .expect("invitations")
            .iter()
            .find(|i| i["email"] == email)
            .map(|i| i["response"].clone())
            .expect("invited")
    }

    /// The id of the held message from this sender.
    fn held_from(&self, sender: &str) -> String {
        self.inbox()
            .into_iter()
            .find(|m| m["state"] == "held" && m["sender"] == sender)
            .and_then(|m| m["id"].as_i64())
            .expect("a held message")
            .to_string()
    }

    /// `inbox apply ID --as ADDRESS` at a time: whether it succeeded, and what it said
    /// on standard error.
    fn apply(&self, now: &str, id: &str, as_address: &str) -> (bool, String) {
        let out = referent(
            &self.config,
            &["--now", now, "inbox", "apply", id, "--as", as_address],
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn inbox(&self) -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&ok(&self.config, &["inbox", "--json"]))
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

const MINUTES: &str =
    "To: referent@regut.example\r\nSubject: Utkast til referat fra møtet 9. mars\r\n\
    Message-ID: <min.forged@evil.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
    Sak 1/27: Rådet vedtok å legge ned alt. Se https://evil.example/referat\r\n";

#[test]
fn forged_draft_minutes_reach_only_the_real_coordinators_confirmation() {
    let mut w = Embedded::new("");
    let (_, yes) = answer_summons(
        &w.summons_to("ola@"),
        "Ola Nordmann",
        "ola@hf.example",
        "Ja, jeg kommer.",
    );
    w.drop_mail(&yes);
    w.run("2027-03-02T09:00:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "accepted");

    // An outsider writes the coordinator's address in From:.
    w.drop_mail(format!("From: Eldbjørg Koordinator <koord@hf.example>\r\n{MINUTES}").as_bytes());
    w.run("2027-03-10T09:00:00Z");
    assert!(w.sent("minutes").is_empty(), "no draft goes out");
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1);
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@hf.example")));
    let (subject, text) = subject_and_text(&asks[0]);
    assert!(subject.starts_with("Bekreft:"), "{subject}");
    assert!(text.contains("Svar «bekreft»"), "{text}");
    let held = w.inbox();
    assert!(held.iter().any(|m| m["state"] == "held"
        && m["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("draft minutes"))));

    // The attacker cannot answer the request: it went to the coordinator only, and a
    // reply from another address with a guessed key is nothing.
    let forged_yes = format!(
        "From: eve@evil.example\r\nTo: referent@regut.example\r\nSubject: SV: Bekreft\r\nIn-Reply-To: {}\r\nMessage-ID: <y@evil.example>\r\n\r\nBekreft\r\n",
        header(&asks[0], "Message-ID").expect("id")
    );
    w.drop_mail(forged_yes.as_bytes());
    w.run("2027-03-10T09:10:00Z");
    assert!(w.sent("minutes").is_empty(), "a stranger cannot confirm");

    // The real coordinator says it was not her.
    let (_, no) = answer_summons(
        &asks[0],
        "Eldbjørg",
        "koord@hf.example",
        "Avvis, det var ikke meg.",
    );
    w.drop_mail(&no);
    w.run("2027-03-10T09:20:00Z");
    assert!(w.sent("minutes").is_empty());
    assert!(w.inbox().iter().any(|m| m["state"] == "ignored"
        && m["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("did not come from them"))));
}

#[test]
fn the_receiving_servers_verdict_authenticates_a_coordinator() {
    let mut w = Embedded::new("\n[mailbox]\ntrusted_authserv_id = \"mx.regut.example\"\n");
    let (_, yes) = answer_summons(
        &w.summons_to("ola@"),
        "Ola Nordmann",
        "ola@hf.example",
        "Ja, jeg kommer.",
    );
    w.drop_mail(&yes);
    w.run("2027-03-02T09:00:00Z");
    // dmarc=fail from the trusted server: never authenticated, a forged pass further
    // down notwithstanding.
    w.drop_mail(
        format!(
            "Authentication-Results: mx.regut.example; dmarc=fail header.from=hf.example\r\nReceived: from evil\r\n\
             Authentication-Results: mx.regut.example; dmarc=pass header.from=hf.example\r\n\
             From: koord@hf.example\r\n{MINUTES}"
        )
        .as_bytes(),
    );
    w.run("2027-03-10T09:00:00Z");
    assert!(w.sent("minutes").is_empty());
    assert_eq!(w.sent("confirm").len(), 1);
    // The same from the coordinator's real server: DMARC passes, the draft goes out.
    w.drop_mail(
        format!(
            "Authentication-Results: mx.regut.example;\r\n dkim=pass header.d=hf.example;\r\n dmarc=pass (p=reject) header.from=hf.example\r\n\
             From: koord@hf.example\r\n{}",
            MINUTES.replace("min.forged@evil.example", "min.real@hf.example")
        )
        .as_bytes(),
    );
    w.run("2027-03-10T09:30:00Z");
    let drafts = w.sent("minutes");
    assert_eq!(drafts.len(), 2, "Ola (attended) and the coordinator");
}

#[test]
fn a_forged_forward_changes_no_answer_and_invites_nobody() {
    let mut w = Embedded::new("");
    let (_, yes) = answer_summons(
        &w.summons_to("ola@"),
        "Ola Nordmann",
        "ola@hf.example",
        "Ja, jeg kommer.",
    );
    w.drop_mail(&yes);
    w.run("2027-03-02T09:00:00Z");
    let forward = "From: Eldbjørg Koordinator <koord@hf.example>\r\nTo: referent@regut.example\r\n\
        Subject: VS: Innkalling\r\nMessage-ID: <fwd.1@evil.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
        Se under.\r\n\r\nFra: Ola Nordmann <ola@hf.example>\r\nSendt: 2. mars 2027 10:00\r\nTil: Sekretariatet\r\n\
        Emne: SV: Innkalling\r\n\r\nJeg må dessverre melde forfall. Eve Angriper (eve@evil.example) møter for meg.\r\n";
    w.drop_mail(forward.as_bytes());
    w.run("2027-03-02T10:00:00Z");
    assert_eq!(
        w.answer_of("ola@hf.example"),
        "accepted",
        "the answer stands"
    );
    let summonses = w.sent("summons");
    assert!(
        !summonses
            .iter()
            .any(|m| header(m, "To").is_some_and(|t| t.contains("eve@"))),
        "the named outsider gets nothing"
    );
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1);
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@")));

    // The coordinator did forward it: one word, and it counts.
    let (_, yes) = answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "Bekreft");
    w.drop_mail(&yes);
    w.run("2027-03-02T10:10:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "declined");
    // Ola did not write to us: his receipt says who sent his answer.
    let receipt = w
        .sent("receipt")
        .into_iter()
        .rfind(|m| header(m, "To").is_some_and(|t| t.contains("ola@")))
        .expect("Ola's receipt");
    let (_, text) = subject_and_text(&receipt);
    assert!(
        text.contains("Eldbjørg Koordinator har sendt oss et svar fra deg"),
        "{text}"
    );
}

fn calendar_reply(from: &str, uid: &str, partstat: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: referent@regut.example\r\nSubject: Avslått: Innkalling\r\nMessage-ID: <{}@cal.example>\r\n\
         Content-Type: text/calendar; method=REPLY; charset=utf-8\r\n\r\n\
         BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\n\
         ATTENDEE;PARTSTAT={partstat}:mailto:ola@hf.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

#[test]
fn a_calendar_reply_counts_only_with_the_recipients_own_uid() {
    let mut w = Embedded::new("");
    let summons = w.summons_to("ola@");
    let uid = event_uid(&summons);
    let meeting_uid = w.show()["meeting"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    assert!(
        uid.ends_with(&meeting_uid) && uid != meeting_uid,
        "{uid} is personal"
    );
    // Another member knows the meeting's UID, not Ola's: a decline "from Ola" with it
    // changes nothing and asks Ola.
    w.drop_mail(&calendar_reply(
        "Ola Nordmann <ola@hf.example>",
        &meeting_uid,
        "DECLINED",
    ));
    w.run("2027-03-02T09:00:00Z");
    assert!(w.answer_of("ola@hf.example").is_null());
    assert_eq!(w.sent("confirm").len(), 1);
    // Ola's own calendar answers with the UID it was given.
    w.drop_mail(&calendar_reply(
        "Ola Nordmann <ola@hf.example>",
        &uid,
        "ACCEPTED",
    ));
    w.run("2027-03-02T09:10:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "accepted");
}

/// A calendar reply for Ola with a METHOD, a SEQUENCE and more lines of the event.
fn calendar_message(method: &str, uid: &str, sequence: u32, lines: &str) -> Vec<u8> {
    format!(
        "From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Ny tid foreslått: Innkalling\r\nMessage-ID: <{}@cal.example>\r\n\
         Content-Type: text/calendar; method={method}; charset=utf-8\r\n\r\n\
         BEGIN:VCALENDAR\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

#[test]
fn a_proposed_new_time_reaches_the_coordinators_and_an_answer_to_the_old_time_is_asked_again() {
    let mut w = Embedded::new("");
    let summons = w.summons_to("ola@");
    let uid = event_uid(&summons);
    // Outlook's "propose new time", tentative, with the time in its own zone name.
    w.drop_mail(&calendar_message(
        "COUNTER",
        &uid,
        0,
        "ATTENDEE;PARTSTAT=TENTATIVE:mailto:ola@hf.example\r\n\
         DTSTART;TZID=W. Europe Standard Time:20270316T130000\r\n\
         DTEND;TZID=W. Europe Standard Time:20270316T150000\r\n\
         COMMENT;LANGUAGE=nb-NO:Jeg har vakt til 12\\, kan vi ta det uken etter?\r\n",
    ));
    w.run("2027-03-02T09:00:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "tentative");
    let notices: Vec<(String, String)> = w
        .sent("notice")
        .iter()
        .map(|m| subject_and_text(m))
        .filter(|(s, _)| s.contains("nytt tidspunkt"))
        .collect();
    assert_eq!(notices.len(), 1, "one notice, to the one coordinator");
    let (_, text) = &notices[0];
    assert!(
        text.contains("Ola Nordmann foreslår å flytte møtet i Utdanningsrådet tirsdag 9. mars 2027 kl. 10:00–12:00 til tirsdag 16. mars 2027 kl. 13:00–15:00."),
        "{text}"
    );
    assert!(
        text.contains("tirsdag 16. mars 2027 kl. 13:00–15:00"),
        "{text}"
    );
    assert!(
        text.contains("Jeg har vakt til 12, kan vi ta det uken etter?"),
        "{text}"
    );
    assert!(text.contains("«vet ikke ennå»"), "{text}");

    // The meeting moves; Ola's calendar still answers the entry it had (SEQUENCE 0).
    ok(
        &w.config,
        &[
            "--now",
            "2027-03-02T10:00:00Z",
            "meeting",
            "move",
            "1",
            "--starts",
            "2027-03-16T13:00",
        ],
    );
    w.drop_mail(&calendar_message(
        "REPLY",
        &uid,
        0,
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:ola@hf.example\r\n",
    ));
    w.run("2027-03-02T11:00:00Z");
    assert_eq!(
        w.answer_of("ola@hf.example"),
        "tentative",
        "the old time's answer is not the new time's"
    );
    let questions = w.sent("question");
    assert_eq!(questions.len(), 1);
    let (_, text) = subject_and_text(&questions[0]);
    assert!(
        text.contains("Kalenderen din svarte på et tidligere tidspunkt"),
        "{text}"
    );
    assert!(
        text.contains("tirsdag 16. mars 2027 kl. 13:00–15:00"),
        "{text}"
    );
    // The answer to the entry as it is now counts.
    let current = calendar_message(
        "REPLY",
        &uid,
        1,
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:ola@hf.example\r\n",
    );
    w.drop_mail(&current);
    w.run("2027-03-02T11:10:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "accepted");
    // What was read is shown.
    let file = w.dir.path().join("current.eml");
    std::fs::write(&file, &current).expect("write");
    let inspected = ok(&w.config, &["inspect", "--json", &file.to_string_lossy()]);
    assert!(inspected.contains("\"sequence\": 1"), "{inspected}");
}

#[test]
fn a_substitute_is_a_participant_whose_calendar_answers_count() {
    let mut w = Embedded::new("");
    let summons = w.summons_to("ola@");
    let uid = event_uid(&summons);
    let (_, decline) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kan ikke komme. Per Vara (per.vara@hf.example) møter for meg.",
    );
    w.drop_mail(&decline);
    w.run("2027-03-02T09:00:00Z");
    let per = w
        .sent("summons")
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("per.vara@")))
        .expect("the substitute's summons");
    // A participant: Ola's personal UID, asked to answer, and a reply address of ours.
    // Her own entry (never Ola's key, which would let her answer as Ola).
    let per_uid = event_uid(&per);
    assert_ne!(per_uid, uid);
    assert!(!per_uid.contains(uid.split('.').next().unwrap_or("-")));
    let text = mail_parser::MessageParser::default()
        .parse(&per)
        .expect("parse")
        .parts
        .iter()
        .filter_map(|p| p.text_contents())
        .find(|t| t.contains("BEGIN:VCALENDAR"))
        .expect("a calendar part")
        .replace("\r\n ", "");
    assert!(text.contains("ROLE=REQ-PARTICIPANT"), "{text}");
    assert!(text.contains("RSVP=TRUE"), "{text}");
    assert!(header(&per, "Reply-To").is_some_and(|r| r.contains("referent+")));
    // Per's calendar declines: Ola's answer stays, and the coordinator is told.
    w.drop_mail(
        format!(
            "From: Per Vara <per.vara@hf.example>\r\nTo: referent@regut.example\r\nSubject: Avslått: Innkalling\r\nMessage-ID: <per1@cal.example>\r\n\
             Content-Type: text/calendar; method=REPLY; charset=utf-8\r\n\r\n\
             BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{per_uid}\r\nSEQUENCE:1\r\n\
             ATTENDEE;PARTSTAT=DECLINED:mailto:per.vara@hf.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        .as_bytes(),
    );
    w.run("2027-03-02T09:10:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "declined");
    let told: Vec<String> = w
        .sent("notice")
        .iter()
        .map(|m| subject_and_text(m))
        .filter(|(s, _)| s.starts_with("Forfall: Per Vara"))
        .map(|(_, t)| t)
        .collect();
    assert_eq!(told.len(), 1, "the one coordinator is told once");
    assert!(
        told[0].contains("Per Vara <per.vara@hf.example>, som skulle møte for Ola Nordmann i Utdanningsrådet tirsdag 9. mars 2027, har svart at hen ikke kan komme."),
        "{}",
        told[0]
    );
    assert!(w.inbox().iter().any(|m| m["state"] == "processed"
        && m["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("substitute for ola@hf.example"))));
    // Per's key is his: a reply to his summons that claims to be Ola is not Ola's.
    let (to, forged) = answer_summons(
        &per,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kommer likevel.",
    );
    w.drop_mail(&forged);
    w.run("2027-03-02T09:20:00Z");
    assert_eq!(
        w.answer_of("ola@hf.example"),
        "declined",
        "not applied: {to}"
    );
    // A move reaches Per's entry too, under the same UID.
    ok(
        &w.config,
        &[
            "--now",
            "2027-03-02T10:00:00Z",
            "meeting",
            "move",
            "1",
            "--starts",
            "2027-03-16T13:00",
        ],
    );
    w.run("2027-03-02T10:05:00Z");
    let update = w
        .sent("update")
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("per.vara@")))
        .expect("the substitute's update");
    assert_eq!(event_uid(&update), per_uid);
    // Ola can come after all. Per had already said he cannot, so he gets nothing more;
    // the coordinator hears that the seat is Ola's again.
    let (_, again) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kommer likevel.",
    );
    w.drop_mail(&again);
    w.run("2027-03-02T10:10:00Z");
    assert_eq!(
        w.answer_of("ola@hf.example"),
        "accepted",
        "{:#?}",
        w.inbox()
    );
    assert!(w
        .sent("withdrawn")
        .iter()
        .all(|m| !header(m, "To").is_some_and(|t| t.contains("per.vara@"))));
    let released: Vec<String> = w
        .sent("notice")
        .iter()
        .map(|m| subject_and_text(m))
        .filter(|(s, _)| s.starts_with("Nytt svar fra Ola Nordmann"))
        .map(|(_, t)| t)
        .collect();
    assert_eq!(released.len(), 1, "the coordinator hears it");
    assert!(
        released[0].contains("kommer likevel. Per Vara <per.vara@hf.example>, som skulle møte i stedet, trengs ikke lenger (hen hadde allerede meldt at hen ikke kan)."),
        "{}",
        released[0]
    );
}

#[test]
fn a_substitute_who_is_not_needed_any_more_is_told_and_so_is_the_coordinator() {
    let mut w = Embedded::new("");
    let summons = w.summons_to("ola@");
    let (_, decline) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kan ikke komme. Per Vara (per.vara@hf.example) møter for meg.",
    );
    w.drop_mail(&decline);
    w.run("2027-03-02T09:00:00Z");
    let (_, again) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kommer likevel.",
    );
    w.drop_mail(&again);
    w.run("2027-03-02T09:10:00Z");
    let per = w
        .sent("withdrawn")
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("per.vara@")))
        .expect("the substitute's withdrawal");
    let (subject, text) = subject_and_text(&per);
    assert!(
        subject.starts_with("Du trenger ikke lenger å møte"),
        "{subject}"
    );
    assert!(
        text.contains(
            "Ola Nordmann har gitt nytt svar til møtet i Utdanningsrådet tirsdag 9. mars 2027"
        ),
        "{text}"
    );
    let told = w
        .sent("notice")
        .iter()
        .map(|m| subject_and_text(m).1)
        .any(|t| t.contains("trengs ikke lenger og har fått beskjed"));
    assert!(told, "the coordinator hears it");
}

#[test]
fn a_removed_members_substitute_is_told_and_their_entry_cancelled() {
    let mut w = Embedded::new("");
    let summons = w.summons_to("ola@");
    let (_, decline) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kan ikke komme. Per Vara (per.vara@hf.example) møter for meg.",
    );
    w.drop_mail(&decline);
    w.run("2027-03-02T09:00:00Z");
    ok(
        &w.config,
        &[
            "--now",
            "2027-03-02T09:30:00Z",
            "member",
            "remove",
            "ola@hf.example",
            "--council",
            "ur",
        ],
    );
    w.run("2027-03-02T09:40:00Z");
    let per = w
        .sent("withdrawn")
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("per.vara@")))
        .expect("the substitute's withdrawal");
    let (_, text) = subject_and_text(&per);
    assert!(
        text.contains("Ola Nordmann står ikke lenger på medlemslisten"),
        "{text}"
    );
    // Ola comes back to the council later: his seat, with his history.
    ok(
        &w.config,
        &[
            "member",
            "add",
            "--council",
            "ur",
            "--name",
            "Ola Nordmann",
            "--email",
            "ola@hf.example",
            "--role",
            "member",
        ],
    );
    let list = ok(&w.config, &["member", "list", "--council", "ur", "--json"]);
    assert!(list.contains("ola@hf.example"), "{list}");
    let again = referent(
        &w.config,
        &[
            "member",
            "add",
            "--council",
            "ur",
            "--name",
            "Ola Nordmann",
            "--email",
            "ola@hf.example",
            "--role",
            "member",
        ],
    );
    assert!(!again.status.success(), "a second add is refused");
}

#[test]
fn erasing_a_former_substitute_takes_their_name_out_of_the_log() {
    let mut w = Embedded::new("");
    let summons = w.summons_to("ola@");
    let (_, named) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kan ikke komme. Kari Hansen (kari.hansen@ahus.example) møter for meg.",
    );
    w.drop_mail(&named);
    w.run("2027-03-02T09:00:00Z");
    let (_, again) = answer_summons(
        &summons,
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kommer likevel.",
    );
    w.drop_mail(&again);
    w.run("2027-03-02T09:10:00Z");
    assert!(ok(&w.config, &["log"]).contains("Kari Hansen"));
    ok(
        &w.config,
        &["erase", "--person", "kari.hansen@ahus.example"],
    );
    let log = ok(&w.config, &["log"]);
    assert!(!log.contains("Kari Hansen"), "{log}");
    assert!(!log.contains("kari.hansen@ahus.example"), "{log}");
}

#[test]
fn unverified_proposals_are_flagged_and_limited() {
    let mut w = Embedded::new("\n[daemon]\nproposals_per_day = 5\n");
    for i in 0..6 {
        w.drop_mail(
            format!(
                "From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Forslag til sak: Sak nummer {i}\r\n\
                 Message-ID: <p{i}@hf.example>\r\n\r\nForslag til sak: Sak nummer {i}\r\nBakgrunn.\r\n"
            )
            .as_bytes(),
        );
    }
    w.run("2027-03-01T10:00:00Z");
    let approvals = w.sent("approval");
    assert_eq!(
        approvals.len(),
        3,
        "three at once, the next two wait for the digest"
    );
    let (_, text) = subject_and_text(&approvals[0]);
    assert!(text.contains("ikke autentisert"), "{text}");
    assert!(w.sent("approval_digest").is_empty());
    // An hour later the waiting one comes in a numbered digest; one line decides it.
    w.run("2027-03-01T11:05:00Z");
    let digests = w.sent("approval_digest");
    assert_eq!(digests.len(), 1);
    let (_, text) = subject_and_text(&digests[0]);
    assert!(text.contains("1. «Sak nummer 3»"), "{text}");
    assert!(text.contains("2. «Sak nummer 4»"), "{text}");
    assert!(text.contains("ikke autentisert"), "{text}");
    let (_, yes) = answer_summons(&digests[0], "Eldbjørg", "koord@hf.example", "1 godkjent");
    w.drop_mail(&yes);
    w.run("2027-03-01T11:10:00Z");
    let agenda = ok(&w.config, &["agenda", "list", "--council", "ur", "--json"]);
    assert!(agenda.contains("approved"), "{agenda}");
    assert_eq!(
        w.inbox()
            .iter()
            .filter(|m| m["state"] == "held"
                && m["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("[held:too_many_proposals] ")
                        && o.contains("at most 5 a day")))
            .count(),
        1
    );
}

#[test]
fn a_message_that_keeps_failing_is_quarantined_and_the_next_hundred_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    ok(&config, &["init"]);
    ok(
        &config,
        &[
            "council",
            "add",
            "--slug",
            "ur",
            "--name",
            "Utdanningsrådet",
        ],
    );
    let mut csv = String::from("name,email,org,role,doctor\n");
    for i in 0..100 {
        csv.push_str(&format!("Medlem {i},m{i}@hf.example,HF,member,no\n"));
    }
    let csv_path = dir.path().join("members.csv");
    std::fs::write(&csv_path, csv).expect("csv");
    ok(
        &config,
        &[
            "member",
            "import",
            "--council",
            "ur",
            csv_path.to_str().expect("path"),
        ],
    );
    // A line break in a name is refused with the line it is on, and nothing imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "name,email\n\"Eve\r\nBcc: x@y.no\",eve@hf.example\n").expect("csv");
    let out = referent(
        &config,
        &[
            "member",
            "import",
            "--council",
            "ur",
            bad.to_str().expect("path"),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    ok(
        &config,
        &[
            "--now",
            T0,
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-03-09T10:00",
            "--place",
            "Ullevål",
        ],
    );
    ok(&config, &["--now", T0, "run", "--once"]);
    let summonses = embedded_sent(dir.path(), "summons");
    assert_eq!(summonses.len(), 100);
    // The poisoned message first, then a hundred answers.
    std::fs::write(
        dir.path().join("inbox/new/000.poison"),
        "From: m0@hf.example\r\nTo: referent@regut.example\r\nSubject: x\r\nMessage-ID: <poison@hf.example>\r\n\r\nPOISON-7f3a\r\n",
    )
    .expect("drop");
    for (i, s) in summonses.iter().enumerate() {
        let to = header(s, "To").expect("to");
        let addr = address_in(&to);
        let (_, raw) = answer_summons(s, "Medlem", &addr, "Ja, jeg kommer.");
        std::fs::write(
            dir.path().join(format!("inbox/new/{:03}.answer", i + 1)),
            raw,
        )
        .expect("drop");
    }
    let run = || {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&config)
            .args(["--now", "2027-03-02T09:00:00Z", "run", "--once"])
            .env("REFERENT_LOG", "error")
            .env("REFERENT_FAULT_PANIC_ON", "POISON-7f3a")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for _ in 0..4 {
        run();
    }
    let inbox: serde_json::Value =
        serde_json::from_str(&ok(&config, &["inbox", "--json"])).expect("json");
    let rows = inbox.as_array().expect("rows");
    let poison = rows
        .iter()
        .find(|r| r["message_id"] == "poison@hf.example")
        .expect("stored");
    assert_eq!(poison["state"], "held");
    assert_eq!(poison["kind"], "quarantined");
    let show: serde_json::Value =
        serde_json::from_str(&ok(&config, &["meeting", "show", "1", "--json"])).expect("json");
    let accepted = show["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .filter(|i| i["response"] == "accepted")
        .count();
    assert_eq!(accepted, 100, "every answer after the poisoned one is read");
    // A coordinator sets it aside, and the audit trail says who.
    let id = poison["id"].as_i64().expect("id").to_string();
    ok(
        &config,
        &["inbox", "dismiss", &id, "--by", "koord@hf.example"],
    );
    let log = ok(&config, &["log", "--json"]);
    assert!(log.contains("inbox_dismiss"), "{log}");
}

#[test]
fn an_unreadable_reply_gets_one_question_and_the_one_word_answer_settles_it() {
    let mut w = Embedded::new("");
    let (_, vague) = answer_summons(
        &w.summons_to("ola@"),
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kan ikke si at jeg ikke kommer.",
    );
    w.drop_mail(&vague);
    w.run("2027-03-02T09:00:00Z");
    let questions: Vec<Vec<u8>> = w
        .sent("question")
        .into_iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains("ola@")))
        .collect();
    assert_eq!(questions.len(), 1, "one question to Ola");
    let (subject, text) = subject_and_text(&questions[0]);
    assert!(subject.starts_with("Kommer du?"), "{subject}");
    assert!(text.contains("«forfall»"), "{text}");
    assert!(text.contains("vi leste det både som"), "{text}");
    assert!(w.answer_of("ola@hf.example").is_null(), "nothing guessed");
    let (_, word) = answer_summons(&questions[0], "Ola Nordmann", "ola@hf.example", "forfall");
    w.drop_mail(&word);
    w.run("2027-03-02T09:10:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "declined");
    // The answer settles the reply that was asked about: nothing is left held.
    let inbox = w.inbox();
    assert!(inbox.iter().all(|m| m["state"] != "held"), "{inbox:#?}");
}

#[test]
fn the_same_reply_delivered_twice_in_one_drop_is_acted_on_once() {
    let mut w = Embedded::new("");
    let (_, reply) = answer_summons(
        &w.summons_to("ola@"),
        "Ola Nordmann",
        "ola@hf.example",
        "Ja, jeg kommer.",
    );
    w.drop_mail(&reply);
    w.drop_mail(&reply);
    w.run("2027-03-02T09:00:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "accepted");
    let receipts = w
        .sent("receipt")
        .into_iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains("ola@")))
        .count();
    assert_eq!(receipts, 1, "one receipt");
    let log: serde_json::Value =
        serde_json::from_str(&ok(&w.config, &["log", "--json"])).expect("json");
    let answers = log
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "answer")
        .count();
    assert_eq!(answers, 1, "one answer in the audit log: {log:#}");
    assert_eq!(w.inbox().len(), 1, "one stored message");
}

#[test]
fn applying_an_answer_that_names_no_meeting_to_someone_with_two_says_why_it_stays_held() {
    let mut w = Embedded::new("");
    ok(
        &w.config,
        &[
            "--now",
            T0,
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-03-12T10:00",
            "--place",
            "Ullevål",
        ],
    );
    w.run(T0);
    assert_eq!(
        w.sent("summons")
            .iter()
            .filter(|m| header(m, "To").is_some_and(|t| t.contains("ola@")))
            .count(),
        2,
        "Ola is summoned to both meetings"
    );
    // Ola writes a new mail, not a reply: it names no meeting.
    w.drop_mail(
        "From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Møtet\r\n\
          Message-ID: <new1@hf.example>\r\n\r\nJeg kommer.\r\n"
            .as_bytes(),
    );
    w.run("2027-03-02T09:00:00Z");
    let id = w.held_from("ola@hf.example");
    let held = w
        .inbox()
        .into_iter()
        .find(|m| m["state"] == "held")
        .expect("held");
    assert!(
        held["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("[held:several_meetings]")),
        "the digest can say why: {held:#}"
    );
    let (applied, err) = w.apply("2027-03-02T09:10:00Z", &id, "ola@hf.example");
    assert!(!applied, "not applied to a guessed meeting");
    assert!(err.contains("2 upcoming meetings"), "{err}");
    assert!(
        err.contains("2027-03-09 10:00") && err.contains("2027-03-12 10:00"),
        "{err}"
    );
    assert!(err.contains(&format!("inbox dismiss {id}")), "{err}");
    assert!(w.answer_of("ola@hf.example").is_null());

    // Someone else's reply to Ola's summons, applied as its sender's own: it still
    // answers Ola's invitation, so it stays held, and the command says so.
    let (_, other) = answer_summons(
        &w.summons_to("ola@"),
        "Hdir",
        "hdir@hdir.example",
        "Ja, jeg kommer.",
    );
    w.drop_mail(&other);
    w.run("2027-03-02T09:20:00Z");
    let id = w.held_from("hdir@hdir.example");
    let (applied, err) = w.apply("2027-03-02T09:30:00Z", &id, "hdir@hdir.example");
    assert!(!applied, "nothing recorded, so no success");
    assert!(
        err.contains("still held") && err.contains("not_invitee"),
        "{err}"
    );
    assert!(w.answer_of("ola@hf.example").is_null());
    let log = ok(&w.config, &["log"]);
    assert!(
        log.contains("changed nothing; still held"),
        "the try is in the audit log: {log}"
    );
}

#[test]
fn held_mail_reaches_the_coordinator_and_one_line_resolves_it() {
    let mut w = Embedded::new("");
    // Ola answers from his private address, which the council does not know, and a
    // stranger writes too.
    w.drop_mail(
        "From: Ola <ola.privat@gmail.example>\r\nTo: referent@regut.example\r\nSubject: Møtet 9. mars\r\n\
          Message-ID: <p1@gmail.example>\r\n\r\nJeg kommer på møtet 9. mars.\r\n"
            .as_bytes(),
    );
    w.drop_mail(
        "From: Selger <sales@spam.example>\r\nTo: referent@regut.example\r\nSubject: Tilbud\r\n\
          Message-ID: <s1@spam.example>\r\n\r\nKjøp nå.\r\n"
            .as_bytes(),
    );
    w.run("2027-03-02T09:00:00Z");
    let digests = w.sent("held_digest");
    assert_eq!(digests.len(), 1, "one digest to the one coordinator");
    assert!(header(&digests[0], "To").is_some_and(|t| t.contains("koord@")));
    let (_, text) = subject_and_text(&digests[0]);
    assert!(text.contains("1. Fra ola.privat@gmail.example"), "{text}");
    assert!(text.contains("2. Fra sales@spam.example"), "{text}");
    assert!(text.contains("«1 Kari Nordmann»"), "{text}");
    // Nothing new: no second digest within the hour.
    w.run("2027-03-02T09:20:00Z");
    assert_eq!(w.sent("held_digest").len(), 1);

    // A stranger cannot answer the digest; the coordinator can.
    let (_, reply) = answer_summons(
        &digests[0],
        "Eldbjørg",
        "koord@hf.example",
        "1 Ola\r\n2 ignorer\r\n\r\nHilsen Eldbjørg",
    );
    w.drop_mail(&reply);
    w.run("2027-03-02T09:30:00Z");
    assert_eq!(w.answer_of("ola@hf.example"), "accepted");
    let inbox = w.inbox();
    assert!(inbox
        .iter()
        .any(|m| m["message_id"] == "s1@spam.example" && m["state"] == "ignored"));
    let done: Vec<Vec<u8>> = w
        .sent("notice")
        .into_iter()
        .filter(|m| subject_and_text(m).0.contains("Utført"))
        .collect();
    assert_eq!(done.len(), 1, "the coordinator hears what was done");
    let log = ok(&w.config, &["log", "--json"]);
    assert!(
        log.contains("inbox_apply") && log.contains("inbox_dismiss"),
        "{log}"
    );
}

/// The fuzz target's harness, on its seeds: it builds, and no seed panics.
#[test]
fn the_act_fuzz_harness_runs_its_seeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = referent::daemon::fuzzing::ActHarness::new(dir.path()).expect("state");
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds-act");
    let mut n = 0;
    for e in std::fs::read_dir(seeds).expect("seeds") {
        let raw = std::fs::read(e.expect("entry").path()).expect("seed");
        h.act(&raw);
        n += 1;
    }
    assert!(n >= 8);
    // The forged forward named nobody; Ola's keyed reply counted.
    let outbox = h.rt.block_on(h.daemon.store.outbox()).expect("outbox");
    assert!(!outbox
        .iter()
        .any(|o| o.recipient == "eve@evil.example" && o.kind == "summons"));
    let invitations =
        h.rt.block_on(h.daemon.store.invitations(1))
            .expect("invitations");
    assert!(invitations
        .iter()
        .any(|i| i.member_email == "ola@hf.example" && i.response.is_some()));
}

/// Golden cases of the trust decision (pure: message + trusted id + key owner → how the
/// sender is known, and why), with headers in the formats real receiving servers write.
#[test]
fn trust_decisions_on_real_header_formats() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trust-fixtures");
    let cases = std::fs::read_to_string(dir.join("cases.tsv")).expect("cases");
    let mut n = 0;
    let mut failures = Vec::new();
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let [file, id, owner, expected, reason] = f.as_slice() else {
            panic!("bad line {line:?}");
        };
        let raw = std::fs::read(dir.join(file)).expect("fixture");
        let id = (*id != "-").then_some(*id);
        let owner = (*owner != "-").then_some(*owner);
        let trust = referent::trust::check(&raw, id).trust(owner);
        let got = match &trust {
            referent::trust::Trust::Server(_) => "server",
            referent::trust::Trust::Key => "key",
            referent::trust::Trust::Confirmed(_) => "confirmed",
            referent::trust::Trust::Unverified(_) => "unverified",
        };
        let said = trust.describe();
        eprintln!("{file} [{}]: {said}", id.unwrap_or("-"));
        if got != *expected || (*reason != "-" && !said.contains(reason)) {
            failures.push(format!(
                "{file} with {id:?}: expected {expected} ({reason}), got {said}"
            ));
        }
        n += 1;
    }
    assert!(n >= 15);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
