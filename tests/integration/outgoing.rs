//! Golden files for what goes out: one council's year on the embedded default, with a
//! fixed `--now`, and the first mail of every kind saved under `tests/outgoing/` in a
//! form a reviewer reads — the headers that matter, the text as decoded, the calendar
//! entry, the attachments — with what varies from run to run (keys, dates of sending,
//! MIME boundaries) replaced by placeholders. A change to any wording, header or `.ics`
//! shows up in review. `REFERENT_BLESS=1` writes the expected files (read the diff).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mail_parser::MimeHeaders;

use crate::support::*;

/// Replaces the 32-hex keys and 12-hex Message-ID tails that differ on every run.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let run = chars
            .iter()
            .skip(i)
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        let boundary_before =
            i == 0 || !chars.get(i - 1).is_some_and(|c| c.is_ascii_alphanumeric());
        let boundary_after = !chars
            .get(i + run)
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if boundary_before && boundary_after && (run == 32 || run == 12) {
            out.push_str(if run == 32 { "KEY" } else { "TAIL" });
            i += run;
            continue;
        }
        // A long number (the Message-ID of a test reply) and a time of arrival
        // ("23.11.2026 12:47", the file's time in the test's Maildir).
        let digits = chars
            .iter()
            .skip(i)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if boundary_before && digits >= 15 {
            out.push('N');
            i += digits;
            continue;
        }
        let shape: String = chars
            .iter()
            .skip(i)
            .take(16)
            .map(|c| if c.is_ascii_digit() { '9' } else { *c })
            .collect();
        if boundary_before && shape == "99.99.9999 99:99" {
            out.push_str("<when received>");
            i += 16;
            continue;
        }
        if let Some(c) = chars.get(i) {
            out.push(*c);
        }
        i += 1;
    }
    out
}

/// The readable form of one mail.
fn readable(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse");
    let mut out = String::new();
    for name in [
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        "X-Referent",
    ] {
        if let Some(v) = header(raw, name) {
            let v = if name == "Subject" {
                msg.subject().unwrap_or("").to_string()
            } else {
                v
            };
            out.push_str(&format!("{name}: {v}\n"));
        }
    }
    out.push('\n');
    out.push_str(&msg.body_text(0).map(|t| t.to_string()).unwrap_or_default());
    for part in msg.parts.iter() {
        let is_calendar = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("calendar"))
        });
        if is_calendar && part.attachment_name().is_none() {
            let ics = String::from_utf8_lossy(part.contents()).replace("\r\n", "\n");
            let ics: Vec<&str> = ics
                .lines()
                .map(|l| {
                    if l.starts_with("DTSTAMP:") {
                        "DTSTAMP:<when sent>"
                    } else {
                        l
                    }
                })
                .collect();
            out.push_str("\n----- calendar -----\n");
            out.push_str(&ics.join("\n"));
            out.push('\n');
        }
    }
    let files: Vec<String> = msg
        .attachments()
        .filter_map(|a| a.attachment_name().map(str::to_string))
        .collect();
    if !files.is_empty() {
        out.push_str(&format!("\n----- attached: {}\n", files.join(", ")));
    }
    normalise(&out)
}

/// Compares one mail with `tests/outgoing/NAME.txt` (writes it under `REFERENT_BLESS`);
/// a difference is written beside it as `NAME.actual.txt` and its name pushed.
pub(crate) fn compare(name: &str, raw: &[u8], failures: &mut Vec<String>) {
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/outgoing");
    std::fs::create_dir_all(&golden).expect("folder");
    let text = readable(raw);
    let path = golden.join(format!("{name}.txt"));
    if std::env::var("REFERENT_BLESS").is_ok() {
        std::fs::write(&path, &text).expect("write");
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == text => {}
        _ => {
            std::fs::write(path.with_extension("actual.txt"), &text).expect("write");
            failures.push(name.to_string());
        }
    }
}

#[test]
fn every_kind_of_mail_matches_its_golden_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    let run = |now: &str| ok(&config, &["--now", now, "run", "--once"]);
    let mut n = 0;
    let mut drop_mail = |raw: &[u8]| {
        n += 1;
        std::fs::write(dir.path().join(format!("inbox/new/{n:03}.mail")), raw).expect("drop");
    };
    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", "koord@hf.example", "coordinator"),
            ("Lene Leder", "lene@hf.example", "leader"),
            ("Ola Nordmann", "ola@hf.example", "member"),
            ("Kari Hansen", "kari@hf.example", "member"),
            ("Helsedirektoratet", "post@hdir.example", "observer"),
        ],
    );
    let t0 = "2027-02-01T08:00:00Z";
    ok(
        &config,
        &[
            "--now",
            t0,
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-03-09T10:00",
            "--ends",
            "2027-03-09T12:00",
            "--place",
            "Ullevål sykehus, bygg 1",
            "--digital-link",
            "https://teams.example/m/1",
        ],
    );
    ok(
        &config,
        &[
            "--now",
            t0,
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-04-13T10:00",
            "--ends",
            "2027-04-13T12:00",
            "--place",
            "Ullevål sykehus, bygg 1",
        ],
    );
    // The call for items (28 days before), a proposal, its approval.
    run("2027-02-09T10:00:00Z");
    drop_mail(
        "From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Forslag til sak: Veileder for LIS1\r\n\
         Message-ID: <p1@hf.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nForslag til sak: Veileder for LIS1\r\nRådet bør drøfte den nye veilederen.\r\n"
            .as_bytes(),
    );
    run("2027-02-09T11:00:00Z");
    let approval = embedded_outbox(dir.path())
        .into_iter()
        .find(|m| header(m, "X-Referent").as_deref() == Some("approval"))
        .expect("approval");
    let (_, yes) = answer_summons(&approval, "Eldbjørg", "koord@hf.example", "Godkjent");
    drop_mail(&yes);
    run("2027-02-09T11:30:00Z");
    // The summons (14 days before); an unsure answer gets a question, Kari accepts,
    // Lene names a substitute.
    run("2027-02-23T10:00:00Z");
    // The coordinator asks for the status, and for a new meeting without a time.
    drop_mail(
        "From: Eldbjørg Koordinator <koord@hf.example>\r\nTo: referent@regut.example\r\nSubject: Status\r\n\
         Message-ID: <st1@hf.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n"
            .as_bytes(),
    );
    drop_mail(
        "From: Eldbjørg Koordinator <koord@hf.example>\r\nTo: referent@regut.example\r\nSubject: Nytt møte\r\n\
         Message-ID: <nm1@hf.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nNytt møte i Utdanningsrådet 20. april på Ullevål\r\n"
            .as_bytes(),
    );
    run("2027-02-23T10:30:00Z");
    let summons_to = |who: &str| {
        embedded_outbox(dir.path())
            .into_iter()
            .find(|m| {
                header(m, "X-Referent").as_deref() == Some("summons")
                    && header(m, "To").is_some_and(|t| t.contains(who))
            })
            .expect("summons")
    };
    let (_, unsure) = answer_summons(
        &summons_to("ola@"),
        "Ola Nordmann",
        "ola@hf.example",
        "Jeg kan ikke si at jeg ikke kommer.",
    );
    drop_mail(&unsure);
    let (_, yes) = answer_summons(
        &summons_to("kari@"),
        "Kari Hansen",
        "kari@hf.example",
        "Ja, jeg kommer digitalt.",
    );
    drop_mail(&yes);
    let (_, sub) = answer_summons(
        &summons_to("lene@"),
        "Lene Leder",
        "lene@hf.example",
        "Jeg har forfall. Per Vara <per@hf.example> møter for meg.",
    );
    drop_mail(&sub);
    // A stranger, held for the coordinator's digest; forged minutes, asked about.
    drop_mail(b"From: Selger <sales@spam.example>\r\nTo: referent@regut.example\r\nSubject: Tilbud\r\nMessage-ID: <s1@spam.example>\r\n\r\nKjop na.\r\n");
    run("2027-02-23T11:00:00Z");
    // The reminder (5 days before) and the attendance list (2 days before).
    run("2027-03-04T10:00:00Z");
    run("2027-03-07T10:00:00Z");
    // After the meeting: the coordinator's minutes, confirmed; a correction; the digest;
    // the final minutes.
    drop_mail(
        "From: Eldbjørg Koordinator <koord@hf.example>\r\nTo: referent@regut.example\r\nSubject: Utkast til referat\r\n\
         Message-ID: <m1@hf.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSak 1/27 Veileder for LIS1\r\nRådet drøftet veilederen.\r\n"
            .as_bytes(),
    );
    run("2027-03-10T08:00:00Z");
    let confirm = embedded_outbox(dir.path())
        .into_iter()
        .find(|m| header(m, "X-Referent").as_deref() == Some("confirm"))
        .expect("confirm");
    let (_, yes) = answer_summons(&confirm, "Eldbjørg", "koord@hf.example", "Bekreft");
    drop_mail(&yes);
    run("2027-03-10T08:30:00Z");
    let draft = embedded_outbox(dir.path())
        .into_iter()
        .find(|m| {
            header(m, "X-Referent").as_deref() == Some("minutes")
                && header(m, "To").is_some_and(|t| t.contains("kari@"))
        })
        .expect("draft");
    let (_, fix) = answer_summons(
        &draft,
        "Kari Hansen",
        "kari@hf.example",
        "Under sak 1/27 skal det stå «drøftet og vedtok», ikke «drøftet».",
    );
    drop_mail(&fix);
    run("2027-03-11T08:00:00Z");
    // The correction period ends with Wednesday 17 March (Oslo time); the digest goes
    // then, and the minutes can be approved the morning after.
    run("2027-03-17T23:00:00Z");
    ok(
        &config,
        &["--now", "2027-03-18T08:00:00Z", "minutes", "approve", "1"],
    );
    run("2027-03-18T08:05:00Z");
    // The second meeting's summons, then it moves, then it is cancelled.
    run("2027-03-30T10:00:00Z");
    ok(
        &config,
        &[
            "--now",
            "2027-03-31T08:00:00Z",
            "meeting",
            "move",
            "2",
            "--starts",
            "2027-04-20T10:00",
        ],
    );
    ok(
        &config,
        &["--now", "2027-03-31T08:05:00Z", "meeting", "cancel", "2"],
    );
    run("2027-03-31T08:10:00Z");
    // Nothing about 2027 before the new year; on the first working day of 2028 (Monday
    // 3 January) at 08:00, the year's attendance to the coordinator, once.
    run("2028-01-01T12:00:00Z");
    assert!(!embedded_outbox(dir.path())
        .iter()
        .any(|m| header(m, "X-Referent").as_deref() == Some("attendance_report")));
    run("2028-01-03T07:05:00Z");
    run("2028-01-04T07:05:00Z");
    let reports: Vec<Vec<u8>> = embedded_outbox(dir.path())
        .into_iter()
        .filter(|m| header(m, "X-Referent").as_deref() == Some("attendance_report"))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "one attendance report, to the one coordinator"
    );
    let report = ok(
        &config,
        &[
            "--now",
            "2028-01-04T08:00:00Z",
            "report",
            "attendance",
            "--council",
            "ur",
            "--year",
            "2027",
            "--csv",
        ],
    );
    assert_eq!(
        report,
        "name,email,organisation,invited,in_person,digital,substitute,absent,tentative,no_answer\n\
         Kari Hansen,kari@hf.example,,1,0,1,0,0,0,0\n\
         Lene Leder,lene@hf.example,,1,0,0,1,0,0,0\n\
         Ola Nordmann,ola@hf.example,,1,0,0,0,0,0,1\n"
    );

    // The first mail of every kind (notices by subject, as they differ).
    let mut first: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for m in embedded_outbox(dir.path()) {
        let kind = header(&m, "X-Referent").unwrap_or_else(|| "unknown".into());
        let key = if kind == "notice" {
            let (subject, _) = subject_and_text(&m);
            let word: String = subject
                .chars()
                .take_while(|c| *c != ':')
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            format!("notice-{word}")
        } else {
            kind
        };
        first.entry(key).or_insert(m);
    }
    let mut failures = Vec::new();
    for (kind, raw) in &first {
        compare(kind, raw, &mut failures);
    }
    for kind in [
        "call",
        "receipt",
        "approval",
        "notice-forslagtilsak",
        "summons",
        "question",
        "reminder",
        "attendance",
        "confirm",
        "held_digest",
        "minutes",
        "digest",
        "minutes_final",
        "update",
        "cancel",
        "attendance_report",
        "status",
        "meeting_request",
    ] {
        assert!(
            first.contains_key(kind),
            "no {kind} mail went out: {:?}",
            first.keys()
        );
    }
    assert!(
        failures.is_empty(),
        "outgoing mail differs from tests/outgoing (see *.actual.txt): {failures:?}"
    );
}

/// A submission server on loopback that takes every message, except to `refuse`, which
/// it refuses for good the way Postfix refuses an unknown user. What it took is kept in
/// `taken`, in order.
struct Submission {
    port: u16,
    taken: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Submission {
    fn start(refuse: &'static str) -> Submission {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let taken = Arc::new(Mutex::new(Vec::new()));
        let kept = taken.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, refuse, &kept);
                });
            }
        });
        Submission { port, taken }
    }

    fn taken(&self) -> Vec<Vec<u8>> {
        self.taken.lock().expect("lock").clone()
    }
}

fn serve(conn: TcpStream, refuse: &str, taken: &Mutex<Vec<Vec<u8>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    w.write_all(b"220 sink ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.to_ascii_uppercase();
        if command.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("RCPT") && line.contains(refuse) {
            w.write_all(
                format!("550 5.1.1 <{refuse}>: Recipient address rejected: User unknown\r\n")
                    .as_bytes(),
            )?;
        } else if command.starts_with("DATA") {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if reader.read_until(b'\n', &mut l)? == 0 {
                    return Ok(());
                }
                if l == b".\r\n" {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot is doubled on the wire.
                data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
            }
            taken.lock().expect("lock").push(data);
            w.write_all(b"250 2.0.0 queued\r\n")?;
        } else if command.starts_with("QUIT") {
            w.write_all(b"221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 2.0.0 ok\r\n")?;
        }
    }
}

/// The notices coordinators get when something goes wrong — an address the submission
/// server refuses, a bounce, mail forged in a member's name that the member refuses, a
/// message quarantined after failing every try, and the answer to their reply to the
/// digest — and mail to members whose language is set (nynorsk, English).
#[test]
fn notices_and_mail_in_a_members_own_language_match_their_golden_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Submission::start("gunnar@hf.example");
    let config = dir.path().join("referent.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \".\"\n[secretariat]\nname = \"RegUt HSØ\"\naddress = \"referent@regut.example\"\n\
             signature_name = \"Eldbjørg Koordinator\"\nsignature_contact = \"tlf. 23 07 00 00\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ncopy_to_mailbox = false\n",
            server.port
        ),
    )
    .expect("config");
    let run_as = |now: &str, fault: bool| {
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("--config")
            .arg(&config)
            .args(["--now", now, "run", "--once"])
            .env("REFERENT_LOG", "error");
        if fault {
            cmd.env("REFERENT_FAULT_PANIC_ON", "POISON-5b1e");
        }
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let run = |now: &str| run_as(now, false);
    let mut n = 0;
    let mut drop_mail = |raw: &[u8]| {
        n += 1;
        std::fs::write(dir.path().join(format!("inbox/new/{n:03}.mail")), raw).expect("drop");
    };
    let sent = |f: &dyn Fn(&[u8]) -> bool| server.taken().into_iter().find(|m| f(m));
    let to = |m: &[u8], who: &str| header(m, "To").is_some_and(|t| t.contains(who));
    let kind = |m: &[u8], k: &str| header(m, "X-Referent").as_deref() == Some(k);
    let subject = |m: &[u8]| subject_and_text(m).0;

    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", "koord@hf.example", "coordinator"),
            ("Ola Nordmann", "ola@hf.example", "member"),
            ("Bjørn Borte", "borte@hf.example", "member"),
            ("Gunnar Galt", "gunnar@hf.example", "member"),
        ],
    );
    for (name, email, language) in [
        ("Nora Nynorsk", "nora@hf.example", "nn"),
        ("Emma English", "emma@hf.example", "en"),
    ] {
        ok(
            &config,
            &[
                "member",
                "add",
                "--council",
                "ur",
                "--name",
                name,
                "--email",
                email,
                "--language",
                language,
            ],
        );
    }
    ok(
        &config,
        &[
            "--now",
            "2027-02-01T08:00:00Z",
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-03-09T10:00",
            "--ends",
            "2027-03-09T12:00",
            "--place",
            "Ullevål sykehus, bygg 1",
        ],
    );
    // The summons: Gunnar's is refused at submission, and the coordinator is told.
    run("2027-02-23T10:00:00Z");
    let summons_to = |who: &str| sent(&|m| kind(m, "summons") && to(m, who)).expect("summons");
    // Emma answers in English; Bjørn's summons bounces; someone writes in Ola's name.
    let (_, yes) = answer_summons(
        &summons_to("emma@"),
        "Emma English",
        "emma@hf.example",
        "Yes, I will attend.",
    );
    drop_mail(&yes);
    drop_mail(
        b"From: Mail Delivery System <MAILER-DAEMON@mx.hf.example>\r\nTo: referent@regut.example\r\n\
          Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.hf.example>\r\nAuto-Submitted: auto-replied\r\n\
          Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
          --b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
          --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.hf.example\r\n\r\n\
          Final-Recipient: rfc822; borte@hf.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
          Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--b1--\r\n",
    );
    drop_mail(
        b"From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Forfall\r\n\
          Message-ID: <forged@elsewhere.example>\r\n\r\nJeg har forfall.\r\n",
    );
    run("2027-02-23T11:00:00Z");
    // Ola did not write it.
    let ask = sent(&|m| kind(m, "confirm") && to(m, "ola@")).expect("confirm");
    let (_, no) = answer_summons(&ask, "Ola Nordmann", "ola@hf.example", "Avvis");
    drop_mail(&no);
    run("2027-02-23T11:30:00Z");
    // A message that fails every try is quarantined and reaches the coordinator in the
    // next digest; one line sets it aside.
    drop_mail(
        b"From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Vedlegg\r\n\
          Message-ID: <poison@hf.example>\r\n\r\nPOISON-5b1e\r\n",
    );
    for minute in ["00", "05", "10", "15"] {
        run_as(&format!("2027-02-24T09:{minute}:00Z"), true);
    }
    run("2027-02-24T11:00:00Z");
    let digest = sent(&|m| kind(m, "held_digest") && subject_and_text(m).1.contains("tre forsøk"))
        .expect("the digest with the quarantined message");
    let (_, dismiss) = answer_summons(&digest, "Eldbjørg", "koord@hf.example", "1 ignorer");
    drop_mail(&dismiss);
    run("2027-02-24T11:30:00Z");

    let mut failures = Vec::new();
    for (name, found) in [
        (
            "refused",
            sent(&|m| kind(m, "notice") && subject(m).contains("Gunnar Galt")),
        ),
        (
            "bounce",
            sent(&|m| kind(m, "notice") && subject(m).contains("Bjørn Borte")),
        ),
        (
            "forgery",
            sent(&|m| kind(m, "notice") && subject(m).contains("i navnet til")),
        ),
        ("held_digest-quarantined", Some(digest.clone())),
        (
            "held_done",
            sent(&|m| kind(m, "notice") && subject(m).starts_with("Utført")),
        ),
        ("summons-nn", Some(summons_to("nora@"))),
        (
            "receipt-en",
            sent(&|m| kind(m, "receipt") && to(m, "emma@")),
        ),
    ] {
        match found {
            Some(raw) => compare(name, &raw, &mut failures),
            None => failures.push(format!("{name} (not sent)")),
        }
    }
    assert!(
        failures.is_empty(),
        "outgoing mail differs from tests/outgoing (see *.actual.txt): {failures:?}"
    );
}
