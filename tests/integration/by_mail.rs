//! A coordinator's year by mail on the embedded default (SQLite and Maildir, `run
//! --once` with a fixed `--now`): "status" answered with the right table at the
//! registered address; "Nytt møte …" understood, confirmed by one word and added as
//! `meeting add` adds it; a cancellation's reason in the members' notice; what is
//! unclear asked; a forged coordinator's "nytt møte" only asks the real coordinator.

use std::path::PathBuf;

use crate::support::*;

const T0: &str = "2026-12-01T09:00:00Z";
const AUTH: &str = "Authentication-Results: mx.regut.example;\r\n dkim=pass header.d=hf.example;\r\n dmarc=pass (p=reject) header.from=hf.example\r\n";

struct Year {
    dir: tempfile::TempDir,
    config: PathBuf,
    n: usize,
}

impl Year {
    /// A council with a coordinator and three members, a meeting on Tuesday 12
    /// January 2027 at Ullevål, and its summons out.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = embedded_config(dir.path());
        let mut text = std::fs::read_to_string(&config).expect("read");
        text.push_str("\n[mailbox]\ntrusted_authserv_id = \"mx.regut.example\"\n");
        std::fs::write(&config, text).expect("write");
        ok(&config, &["init"]);
        council_with(
            &config,
            "ur",
            "Utdanningsrådet",
            &[
                ("Eldbjørg Koordinator", "koord@hf.example", "coordinator"),
                ("Ola Nordmann", "ola@hf.example", "member"),
                ("Kari Hansen", "kari@hf.example", "member"),
                ("Lene Leder", "lene@hf.example", "member"),
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
                "2027-01-12T10:00",
                "--ends",
                "2027-01-12T12:00",
                "--place",
                "Ullevål sykehus, bygg 1",
            ],
        );
        let w = Year { dir, config, n: 0 };
        // The summons goes 14 days before: 29 December.
        w.run("2026-12-29T09:00:00Z");
        w
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

    fn meetings(&self) -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&ok(&self.config, &["meeting", "list", "--json"]))
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn coordinator_writes(&mut self, auth: bool, id: &str, subject: &str, body: &str) {
        let raw = format!(
            "{}From: Eldbjørg Koordinator <koord@hf.example>\r\nReply-To: eve@evil.example\r\nTo: referent@regut.example\r\n\
             Subject: {subject}\r\nMessage-ID: <{id}@hf.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
            if auth { AUTH } else { "" }
        );
        self.drop_mail(raw.as_bytes());
    }
}

#[test]
fn a_coordinator_asks_for_status_by_mail_and_gets_the_table() {
    let mut w = Year::new();
    let answer = |w: &mut Year, who: &str, name: &str, text: &str| {
        let (_, raw) = answer_summons(&w.summons_to(who), name, who, text);
        w.drop_mail(&raw);
    };
    answer(
        &mut w,
        "kari@hf.example",
        "Kari Hansen",
        "Ja, jeg deltar digitalt.",
    );
    answer(
        &mut w,
        "lene@hf.example",
        "Lene Leder",
        "Jeg har forfall. Per Vara <per@hf.example> møter for meg.",
    );
    // Ola is away: his out-of-office answers the summons.
    w.drop_mail(
        b"From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Automatisk svar: Innkalling\r\n\
          Auto-Submitted: auto-replied\r\nDate: Tue, 29 Dec 2026 10:00:00 +0100\r\nMessage-ID: <ooo@hf.example>\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nJeg er p\xc3\xa5 ferie og er tilbake 4. januar 2027.\r\n",
    );
    w.run("2026-12-29T10:00:00Z");
    // A stranger's mail is held.
    w.drop_mail(b"From: Selger <sales@spam.example>\r\nTo: referent@regut.example\r\nSubject: Tilbud\r\nMessage-ID: <s1@spam.example>\r\n\r\nKjop na.\r\n");
    w.run("2026-12-29T10:05:00Z");

    // The command line shows the same.
    let json: serde_json::Value = serde_json::from_str(&ok(
        &w.config,
        &["--now", "2026-12-29T11:00:00Z", "status", "--json"],
    ))
    .expect("json");
    let m = &json["councils"][0]["meetings"][0];
    assert_eq!(m["counts"]["digital"], 1, "{json}");
    assert_eq!(m["counts"]["substitute"], 1, "{json}");
    assert_eq!(m["counts"]["unanswered"], 1, "{json}");
    assert_eq!(json["held_count"], 1, "{json}");

    // Authenticated, and a forged-looking Reply-To: the status goes to the registered
    // address only.
    w.coordinator_writes(true, "st1", "status", "");
    w.run("2026-12-29T11:00:00Z");
    let status = w.sent("status");
    assert_eq!(status.len(), 1);
    assert!(header(&status[0], "To").is_some_and(|t| t.contains("koord@hf.example")));
    let (subject, text) = subject_and_text(&status[0]);
    assert!(
        subject.starts_with("Oversikt over rådene dine"),
        "{subject}"
    );
    for line in [
        "== Utdanningsrådet ==",
        "Møte tirsdag 12. januar 2027 kl. 10:00–12:00, Ullevål sykehus, bygg 1",
        "0 møter fysisk, 1 digitalt, 1 med vara, 0 forfall, 1 har ikke svart",
        "Kari Hansen: deltar digitalt",
        "Lene Leder: forfall, vara: Per Vara",
        "Ola Nordmann: har ikke svart – borte til 4. januar (automatisk svar)",
        "Tilbakeholdt e-post (1) venter på en koordinator:",
        "«Tilbud» fra sales@spam.example",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    // A status request is never read as an answer, and changes nothing.
    let (_, sv) = answer_summons(
        &w.summons_to("koord@"),
        "Eldbjørg",
        "koord@hf.example",
        "oversikt",
    );
    w.drop_mail(&sv);
    w.run("2026-12-29T11:10:00Z");
    assert_eq!(w.sent("status").len(), 2);
    assert!(w
        .sent("receipt")
        .iter()
        .all(|m| !header(m, "To").is_some_and(|t| t.contains("koord@"))));

    // Unauthenticated: still only to the registered address.
    w.coordinator_writes(false, "st2", "Status", "");
    w.run("2026-12-29T11:20:00Z");
    let status = w.sent("status");
    assert_eq!(status.len(), 3);
    assert!(status
        .iter()
        .all(|m| header(m, "To").is_some_and(|t| !t.contains("evil"))));
    // A member who is not a coordinator gets no status.
    w.drop_mail(b"From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: status\r\nMessage-ID: <st3@hf.example>\r\n\r\nstatus\r\n");
    w.run("2026-12-29T11:30:00Z");
    assert_eq!(w.sent("status").len(), 3);
}

#[test]
fn a_coordinator_adds_a_meeting_by_mail_and_confirms_it() {
    let mut w = Year::new();
    w.coordinator_writes(
        true,
        "nm1",
        "Nytt møte",
        "Nytt møte i Utdanningsrådet 9. februar kl. 10–12 på Ullevål, bygg 1\r\n\r\nHilsen Eldbjørg",
    );
    w.run("2026-12-29T12:00:00Z");
    assert_eq!(w.meetings().len(), 1, "nothing before the confirmation");
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1);
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@hf.example")));
    let (subject, text) = subject_and_text(&asks[0]);
    assert!(subject.starts_with("Bekreft:"), "{subject}");
    assert!(
        text.contains("et nytt møte i Utdanningsrådet tirsdag 9. februar 2027 kl. 10:00–12:00, Ullevål, bygg 1"),
        "{text}"
    );
    assert!(text.contains("Svar «bekreft»"), "{text}");
    // Held for her word, not as a possible forgery.
    let held = ok(&w.config, &["inbox", "--state", "held", "--json"]);
    assert!(held.contains("awaiting_confirmation"), "{held}");

    let (_, yes) = answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "Bekreft");
    w.drop_mail(&yes);
    w.run("2026-12-29T12:10:00Z");
    let meetings = w.meetings();
    assert_eq!(meetings.len(), 2, "{meetings:?}");
    let added = &meetings[1];
    assert_eq!(added["starts_at"], "2027-02-09T09:00:00Z", "{added}");
    assert_eq!(added["place"]["room"], "Ullevål, bygg 1");
    let done = w.sent("meeting_request");
    assert_eq!(done.len(), 1);
    let (subject, text) = subject_and_text(&done[0]);
    assert!(subject.starts_with("Utført:"), "{subject}");
    assert!(text.contains("er lagt inn"), "{text}");
    // A second «bekreft» adds nothing.
    w.drop_mail(&answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "Bekreft").1);
    w.run("2026-12-29T12:20:00Z");
    assert_eq!(w.meetings().len(), 2);
}

#[test]
fn a_cancellation_by_mail_gives_its_reason_to_the_members() {
    let mut w = Year::new();
    w.coordinator_writes(
        true,
        "av1",
        "Avlysning",
        "Avlys møtet 12. januar: for få påmeldte",
    );
    w.run("2026-12-30T09:00:00Z");
    assert!(w.sent("cancel").is_empty());
    let asks = w.sent("confirm");
    let (_, text) = subject_and_text(&asks[0]);
    assert!(
        text.contains("med begrunnelsen «for få påmeldte»"),
        "{text}"
    );
    w.drop_mail(&answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "bekreft").1);
    w.run("2026-12-30T09:10:00Z");
    let cancels = w.sent("cancel");
    assert!(cancels.len() >= 3, "every invited member is told");
    let (_, text) = subject_and_text(&cancels[0]);
    assert!(text.contains("Begrunnelse: for få påmeldte"), "{text}");
    assert_eq!(w.meetings()[0]["status"], "cancelled");
}

#[test]
fn what_is_unclear_is_asked_and_nothing_is_done() {
    let mut w = Year::new();
    w.coordinator_writes(
        true,
        "u1",
        "Nytt møte",
        "Nytt møte i Utdanningsrådet 9. februar på Ullevål",
    );
    w.run("2026-12-30T09:00:00Z");
    assert!(w.sent("confirm").is_empty());
    let asked = w.sent("meeting_request");
    assert_eq!(asked.len(), 1);
    let (_, text) = subject_and_text(&asked[0]);
    assert!(text.contains("vi fant ikke noe klokkeslett"), "{text}");
    assert_eq!(w.meetings().len(), 1);
}

#[test]
fn a_forged_new_meeting_only_asks_the_real_coordinator() {
    let mut w = Year::new();
    w.coordinator_writes(
        false,
        "f1",
        "Nytt møte",
        "Nytt møte i Utdanningsrådet 9. februar kl. 10–12 på Ullevål, bygg 1",
    );
    w.run("2026-12-30T09:00:00Z");
    assert_eq!(w.meetings().len(), 1);
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1);
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@hf.example")));
    // Nothing else went out: not to the forger's Reply-To, not to the members.
    let all = embedded_outbox(w.dir.path());
    assert!(all
        .iter()
        .all(|m| !header(m, "To").is_some_and(|t| t.contains("evil"))));
    assert!(w.sent("meeting_request").is_empty());
}

#[test]
fn a_new_place_by_mail_updates_every_calendar_entry() {
    let mut w = Year::new();
    w.coordinator_writes(
        true,
        "pl1",
        "Nytt sted",
        "Nytt sted for møtet 12. januar: Rikshospitalet, auditorium 2",
    );
    w.run("2026-12-30T09:00:00Z");
    assert!(w.sent("update").is_empty());
    let asks = w.sent("confirm");
    let (_, text) = subject_and_text(&asks[0]);
    assert!(
        text.contains("nytt sted for møtet i Utdanningsrådet tirsdag 12. januar 2027 kl. 10:00–12:00: Rikshospitalet, auditorium 2"),
        "{text}"
    );
    w.drop_mail(&answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "Bekreft").1);
    w.run("2026-12-30T09:10:00Z");
    let updates = w.sent("update");
    assert_eq!(updates.len(), 4, "every member and the coordinator");
    let (subject, text) = subject_and_text(&updates[0]);
    assert!(
        subject.starts_with("Nytt sted: Utdanningsrådet"),
        "{subject}"
    );
    assert!(
        text.contains("holdes nå på Rikshospitalet, auditorium 2"),
        "{text}"
    );
    let raw = String::from_utf8_lossy(&updates[0]).replace("\r\n ", "");
    assert!(
        raw.contains("LOCATION:Rikshospitalet\\, auditorium 2"),
        "{raw}"
    );
    assert!(raw.contains("SEQUENCE:1"), "{raw}");
    assert_eq!(
        w.meetings()[0]["place"]["room"],
        "Rikshospitalet, auditorium 2"
    );
    // The command line does the same.
    ok(
        &w.config,
        &[
            "--now",
            "2026-12-30T10:00:00Z",
            "meeting",
            "place",
            "1",
            "--digital-link",
            "https://teams.example/m/9",
        ],
    );
    let m = &w.meetings()[0];
    assert_eq!(m["place"]["digital_link"], "https://teams.example/m/9");
    assert_eq!(m["place"]["room"], "Rikshospitalet, auditorium 2");
}

impl Year {
    /// The coordinator sends a roster: `subject`, and `csv` attached as `file`.
    fn roster(&mut self, auth: bool, id: &str, subject: &str, file: &str, csv: &str) {
        let raw = format!(
            "{}From: Eldbjørg Koordinator <koord@hf.example>\r\nReply-To: eve@evil.example\r\nTo: referent@regut.example\r\n\
             Subject: {subject}\r\nMessage-ID: <{id}@hf.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Her er den nye lista.\r\n\r\nHilsen Eldbjørg\r\n\
             --b1\r\nContent-Type: text/csv; charset=utf-8; name=\"{file}\"\r\n\
             Content-Disposition: attachment; filename=\"{file}\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             {csv}\r\n--b1--\r\n",
            if auth { AUTH } else { "" }
        );
        self.drop_mail(raw.as_bytes());
    }

    /// The coordinator sends a roster as a spreadsheet file (base64).
    fn roster_file(&mut self, id: &str, subject: &str, file: &str, bytes: &[u8]) {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        let raw = format!(
            "{AUTH}From: Eldbjørg Koordinator <koord@hf.example>\r\nTo: referent@regut.example\r\n\
             Subject: {subject}\r\nMessage-ID: <{id}@hf.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHer er lista.\r\n\
             --b1\r\nContent-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name=\"{file}\"\r\n\
             Content-Disposition: attachment; filename=\"{file}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {encoded}\r\n--b1--\r\n"
        );
        self.drop_mail(raw.as_bytes());
    }

    fn members(&self) -> String {
        ok(
            &self.config,
            &["member", "list", "--council", "ur", "--json"],
        )
    }
}

/// Kari becomes deputy, Per is new, Lene is not in the file (she leaves), and the
/// coordinator is left out (she stays).
const ROSTER: &str = "name,email,org,role,doctor\r\n\
    Ola Nordmann,ola@hf.example,,member,no\r\n\
    Kari Hansen,Kari@HF.example,,deputy,no\r\n\
    Per Ny,per@hf.example,Ahus,member,yes\r\n";

#[test]
fn a_roster_by_mail_is_shown_as_a_diff_confirmed_and_applied() {
    let mut w = Year::new();
    w.roster(
        true,
        "r1",
        "Medlemsliste Utdanningsrådet",
        "medlemmer.csv",
        ROSTER,
    );
    w.run("2026-12-30T09:00:00Z");
    assert!(
        !w.members().contains("per@hf.example"),
        "nothing before «bekreft»"
    );
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1);
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@hf.example")));
    let (_, text) = subject_and_text(&asks[0]);
    for line in [
        "ny medlemsliste for Utdanningsrådet",
        "Nye (1):",
        "  + Per Ny <per@hf.example>, Ahus, medlem, lege",
        "Endret (1):",
        "  ~ Kari Hansen <kari@hf.example>: rolle medlem → nestleder",
        "Går ut (1), ikke med i listen:",
        "  - Lene Leder <lene@hf.example>",
        "Blir stående (1): koordinatorer fjernes aldri",
        "  = Eldbjørg Koordinator <koord@hf.example>",
        "Svar «bekreft»",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    let held = ok(&w.config, &["inbox", "--state", "held", "--json"]);
    assert!(held.contains("awaiting_confirmation"), "{held}");

    w.drop_mail(&answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "bekreft").1);
    w.run("2026-12-30T09:10:00Z");
    let members: serde_json::Value = serde_json::from_str(&w.members()).expect("json");
    let list = members.as_array().cloned().unwrap_or_default();
    let role_of = |email: &str| {
        list.iter()
            .find(|m| m["email"] == email)
            .map(|m| m["role"].clone())
    };
    assert_eq!(
        role_of("per@hf.example"),
        Some("member".into()),
        "{members}"
    );
    assert_eq!(
        role_of("kari@hf.example"),
        Some("deputy".into()),
        "{members}"
    );
    assert_eq!(role_of("lene@hf.example"), None, "{members}");
    assert_eq!(role_of("koord@hf.example"), Some("coordinator".into()));
    // Lene's invitation to 12 January is withdrawn with a cancelled calendar entry.
    let withdrawn = w.sent("withdrawn");
    assert_eq!(withdrawn.len(), 1);
    assert!(header(&withdrawn[0], "To").is_some_and(|t| t.contains("lene@hf.example")));
    let done = w.sent("roster");
    assert_eq!(done.len(), 1);
    let (subject, text) = subject_and_text(&done[0]);
    assert!(subject.starts_with("Utført:"), "{subject}");
    assert!(text.contains("1 nye, 1 endret, 1 gått ut"), "{text}");
    let mut failures = Vec::new();
    crate::outgoing::compare("roster", &done[0], &mut failures);
    assert!(failures.is_empty(), "{failures:?}");

    // A second «bekreft» changes nothing more.
    w.drop_mail(&answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "bekreft").1);
    w.run("2026-12-30T09:20:00Z");
    assert_eq!(w.sent("withdrawn").len(), 1);
    assert_eq!(w.sent("roster").len(), 1);
}

#[test]
fn a_forged_roster_only_asks_the_real_coordinator() {
    let mut w = Year::new();
    let before = w.members();
    w.roster(false, "fr1", "Ny medlemsliste", "liste.csv", ROSTER);
    w.run("2026-12-30T09:00:00Z");
    assert_eq!(w.members(), before);
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1);
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@hf.example")));
    let all = embedded_outbox(w.dir.path());
    assert!(all
        .iter()
        .all(|m| !header(m, "To").is_some_and(|t| t.contains("evil"))));
    assert!(w.sent("withdrawn").is_empty());
    assert!(w.sent("roster").is_empty());
}

#[test]
fn a_roster_as_a_spreadsheet_is_read_from_its_first_sheet() {
    let mut w = Year::new();
    w.roster_file(
        "x1",
        "Medlemsliste Utdanningsrådet",
        "Medlemmer.xlsx",
        include_bytes!("../fixtures/roster/medlemmer.xlsx"),
    );
    w.run("2026-12-30T09:00:00Z");
    let asks = w.sent("confirm");
    assert_eq!(asks.len(), 1, "{}", ok(&w.config, &["inbox", "--json"]));
    let (_, text) = subject_and_text(&asks[0]);
    for line in [
        "Nye (2):",
        "  + Per Ny <per@hf.example>, Ahus, medlem, lege",
        "  + Åse Ødegård, dr. <ase@hf.example>, OUS, medlem, lege",
        "  ~ Kari Hansen <kari@hf.example>: rolle medlem → nestleder",
        "Svar «bekreft»",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
}

#[test]
fn what_a_roster_lacks_is_asked() {
    let mut w = Year::new();
    let before = w.members();
    w.roster(
        true,
        "b1",
        "Medlemsliste",
        "liste.csv",
        "name,email,role\r\nOla Nordmann,ola@hf.example,member\r\n,kari@hf.example,member\r\n",
    );
    w.roster(true, "b2", "Medlemsliste", "liste.xlsx", "PK");
    w.run("2026-12-30T09:00:00Z");
    assert_eq!(w.members(), before);
    assert!(w.sent("confirm").is_empty());
    let asked = w.sent("roster");
    assert_eq!(asked.len(), 2);
    let texts: Vec<String> = asked.iter().map(|m| subject_and_text(m).1).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("line 3: the name is empty")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("kunne ikke lese regnearket liste.xlsx")),
        "{texts:?}"
    );
}
