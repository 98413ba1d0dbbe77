//! People who come and go, on the embedded default (SQLite + Maildir) with `--now`:
//! `member update/remove/replace`, `council update`, `meeting update`, and a member's
//! personal substitute (vara) invited when they decline.

use crate::support::*;

const T0: &str = "2027-03-01T09:00:00Z";

fn drop_in(dir: &std::path::Path, name: &str, raw: &[u8]) {
    std::fs::write(dir.join("inbox/new").join(name), raw).expect("drop");
}

fn to_of(m: &[u8]) -> String {
    address_in(&header(m, "To").expect("To"))
}

fn text_of(m: &[u8]) -> String {
    let (subject, text) = subject_and_text(m);
    format!("{subject}\n{text}")
}

/// The calendar part of a mail, unfolded.
fn ics_of(m: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(m)
        .expect("parse");
    msg.parts
        .iter()
        .filter_map(|p| p.text_contents())
        .find(|t| t.contains("BEGIN:VCALENDAR"))
        .expect("a calendar part")
        .replace("\r\n ", "")
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    ok(&config, &["--now", T0, "init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", "koord@hf.example", "coordinator"),
            ("Ola Hansen", "ola@hf.example", "member"),
            ("Kari Nordmann", "kari@hf.example", "leader"),
            ("Siri Lie", "siri@hf.example", "member"),
        ],
    );
    (dir, config)
}

fn add_meeting(config: &std::path::Path) {
    ok(
        config,
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
}

#[test]
fn member_commands_refuse_what_cannot_be_done_clearly() {
    let (_dir, config) = setup();
    let fails = |args: &[&str], says: &str| {
        let out = referent(&config, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    fails(
        &[
            "member",
            "update",
            "nobody@hf.example",
            "--council",
            "ur",
            "--name",
            "X",
        ],
        "nobody@hf.example is not a member of ur",
    );
    fails(
        &["member", "remove", "ola@hf.example", "--council", "nope"],
        "no council \"nope\"",
    );
    fails(
        &[
            "member",
            "update",
            "ola@hf.example",
            "--council",
            "ur",
            "--email",
            "kari@hf.example",
        ],
        "kari@hf.example is (or was) a member of ur already",
    );
    fails(
        &[
            "member",
            "replace",
            "ola@hf.example",
            "--by",
            "siri@hf.example",
            "--name",
            "S",
            "--council",
            "ur",
        ],
        "siri@hf.example is (or was) a member of ur already",
    );
    fails(
        &[
            "member",
            "replace",
            "ola@hf.example",
            "--by",
            "ny@hf.example",
            "--council",
            "ur",
        ],
        "--name",
    );
    fails(
        &[
            "member",
            "update",
            "ola@hf.example",
            "--council",
            "ur",
            "--vara",
            "ola@hf.example",
        ],
        "cannot be their own vara",
    );
    fails(
        &[
            "member",
            "update",
            "ola@hf.example",
            "--council",
            "ur",
            "--email",
            "not-an-address",
        ],
        "not-an-address",
    );
    fails(&["meeting", "update", "99", "--room", "X"], "99");

    // Corrected details; the log says what changed.
    ok(
        &config,
        &[
            "member",
            "update",
            "OLA@hf.example",
            "--council",
            "ur",
            "--email",
            "ola.hansen@hf.example",
            "--organisation",
            "Ahus",
            "--doctor",
            "ja",
            "--language",
            "nn",
            "--vara",
            "siri@hf.example",
        ],
    );
    let list: serde_json::Value = serde_json::from_str(&ok(
        &config,
        &["member", "list", "--council", "ur", "--json"],
    ))
    .expect("json");
    let ola = list
        .as_array()
        .expect("array")
        .iter()
        .find(|m| m["name"] == "Ola Hansen")
        .expect("Ola");
    assert_eq!(ola["email"], "ola.hansen@hf.example");
    assert_eq!(ola["organisation"], "Ahus");
    assert_eq!(ola["doctor"], true);
    assert_eq!(ola["language"], "nn");
    assert_eq!(ola["vara"], "siri@hf.example");
    let log = ok(&config, &["log"]);
    assert!(
        log.contains("address ola@hf.example -> ola.hansen@hf.example"),
        "{log}"
    );

    ok(
        &config,
        &[
            "council",
            "update",
            "ur",
            "--name",
            "Utdanningsrådet HSØ",
            "--auto-vara",
            "off",
        ],
    );
    assert!(ok(&config, &["council", "list"]).contains("Utdanningsrådet HSØ"));
}

#[test]
fn a_declining_member_s_vara_is_summoned_and_the_coordinators_told() {
    let (dir, config) = setup();
    ok(
        &config,
        &[
            "member",
            "update",
            "ola@hf.example",
            "--council",
            "ur",
            "--vara",
            "per.vara@ahus.example",
        ],
    );
    add_meeting(&config);
    ok(&config, &["--now", T0, "run", "--once"]);
    let summons = embedded_sent(dir.path(), "summons");
    let ola = summons
        .iter()
        .find(|m| to_of(m) == "ola@hf.example")
        .expect("Ola's summons");
    let (_, raw) = answer_summons(
        ola,
        "Ola Hansen",
        "ola@hf.example",
        "Jeg må dessverre melde forfall.",
    );
    drop_in(dir.path(), "1.answer", &raw);
    ok(&config, &["--now", "2027-03-01T10:00:00Z", "run", "--once"]);

    let vara: Vec<_> = embedded_sent(dir.path(), "summons")
        .into_iter()
        .filter(|m| to_of(m) == "per.vara@ahus.example")
        .collect();
    assert_eq!(vara.len(), 1, "the vara gets one summons");
    let text = text_of(&vara[0]);
    assert!(text.contains("Ola Hansen"), "says for whom: {text}");
    let notice = embedded_sent(dir.path(), "notice")
        .into_iter()
        .find(|m| to_of(m) == "koord@hf.example")
        .expect("the coordinator's notice");
    let text = text_of(&notice);
    assert!(text.contains("personlig vara for Ola Hansen"), "{text}");
    let mut failures = Vec::new();
    crate::outgoing::compare("notice-vara-designated", &notice, &mut failures);
    crate::outgoing::compare("substitute_summons-vara", &vara[0], &mut failures);
    assert!(
        failures.is_empty(),
        "differ from tests/outgoing/: {failures:?}"
    );
    let show: serde_json::Value =
        serde_json::from_str(&ok(&config, &["meeting", "show", "1", "--json"])).expect("json");
    assert!(show.to_string().contains("per.vara@ahus.example"), "{show}");

    // With automatic vara off, Kari's decline invites nobody.
    ok(
        &config,
        &[
            "--now",
            "2027-03-01T10:00:00Z",
            "member",
            "update",
            "kari@hf.example",
            "--council",
            "ur",
            "--vara",
            "vara2@ahus.example",
        ],
    );
    ok(
        &config,
        &[
            "--now",
            "2027-03-01T10:00:00Z",
            "council",
            "update",
            "ur",
            "--auto-vara",
            "off",
        ],
    );
    let kari = embedded_sent(dir.path(), "summons")
        .into_iter()
        .find(|m| to_of(m) == "kari@hf.example")
        .expect("Kari's summons");
    let (_, raw) = answer_summons(
        &kari,
        "Kari Nordmann",
        "kari@hf.example",
        "Jeg må dessverre melde forfall.",
    );
    drop_in(dir.path(), "2.answer", &raw);
    ok(&config, &["--now", "2027-03-01T11:00:00Z", "run", "--once"]);
    assert!(
        !embedded_outbox(dir.path())
            .iter()
            .any(|m| to_of(m) == "vara2@ahus.example"),
        "no vara when the council has it off"
    );
}

#[test]
fn remove_replace_and_meeting_update_send_what_they_must() {
    let (dir, config) = setup();
    add_meeting(&config);
    ok(&config, &["--now", T0, "run", "--once"]);
    let summons = embedded_sent(dir.path(), "summons");
    let uid_of = |to: &str| event_uid(summons.iter().find(|m| to_of(m) == to).expect("a summons"));
    let (ola_uid, siri_uid) = (uid_of("ola@hf.example"), uid_of("siri@hf.example"));

    // Ola leaves: his summons is withdrawn with a CANCEL of his own entry.
    let said = ok(
        &config,
        &[
            "--now",
            "2027-03-01T10:00:00Z",
            "member",
            "remove",
            "ola@hf.example",
            "--council",
            "ur",
        ],
    );
    assert!(said.contains("1 invitation(s)"), "{said}");
    ok(&config, &["--now", "2027-03-01T10:00:00Z", "run", "--once"]);
    let gone = embedded_sent(dir.path(), "withdrawn");
    assert_eq!(gone.len(), 1);
    assert_eq!(to_of(&gone[0]), "ola@hf.example");
    let text = text_of(&gone[0]);
    assert!(text.contains("trukket tilbake"), "{text}");
    let mut failures = Vec::new();
    crate::outgoing::compare("withdrawn", &gone[0], &mut failures);
    let ics = ics_of(&gone[0]);
    assert!(ics.contains("METHOD:CANCEL"), "{ics}");
    assert!(
        ics.contains(&format!("UID:{ola_uid}")),
        "his own UID: {ics}"
    );
    assert!(ics.contains("SEQUENCE:1"), "{ics}");
    let list = ok(&config, &["member", "list", "--council", "ur"]);
    assert!(!list.contains("ola@hf.example"), "{list}");
    let show = ok(&config, &["meeting", "show", "1", "--json"]);
    assert!(
        !show.contains("ola@hf.example"),
        "no longer invited: {show}"
    );
    assert!(ok(&config, &["log"]).contains("left ur"));

    // Nina takes Siri's seat: Siri's entry is cancelled, Nina gets the summons.
    let said = ok(
        &config,
        &[
            "--now",
            "2027-03-01T11:00:00Z",
            "member",
            "replace",
            "siri@hf.example",
            "--by",
            "nina@hf.example",
            "--name",
            "Nina Ny",
            "--council",
            "ur",
        ],
    );
    assert!(
        said.contains("Nina Ny <nina@hf.example> replaces Siri Lie"),
        "{said}"
    );
    ok(&config, &["--now", "2027-03-01T11:00:00Z", "run", "--once"]);
    let siri = embedded_sent(dir.path(), "withdrawn")
        .into_iter()
        .find(|m| to_of(m) == "siri@hf.example")
        .expect("Siri's withdrawal");
    assert!(text_of(&siri).contains("Nina Ny har tatt over plassen din"));
    assert!(ics_of(&siri).contains(&format!("UID:{siri_uid}")));
    let nina = embedded_sent(dir.path(), "summons")
        .into_iter()
        .filter(|m| to_of(m) == "nina@hf.example")
        .count();
    assert_eq!(nina, 1, "the new member is summoned");
    let list: serde_json::Value = serde_json::from_str(&ok(
        &config,
        &["member", "list", "--council", "ur", "--json"],
    ))
    .expect("json");
    let nina = list
        .as_array()
        .expect("array")
        .iter()
        .find(|m| m["email"] == "nina@hf.example")
        .expect("Nina");
    assert_eq!(nina["role"], "member", "the seat's role");

    // A new room: everyone invited gets an updated entry with a higher SEQUENCE.
    let said = ok(
        &config,
        &[
            "--now",
            "2027-03-01T12:00:00Z",
            "meeting",
            "update",
            "1",
            "--room",
            "Ullevål, bygg 25",
            "--link",
            "https://meet.example/ur",
        ],
    );
    assert!(said.contains("update(s) queued"), "{said}");
    ok(&config, &["--now", "2027-03-01T12:00:00Z", "run", "--once"]);
    let updates = embedded_sent(dir.path(), "update");
    if let Some(u) = updates.iter().find(|m| to_of(m) == "kari@hf.example") {
        crate::outgoing::compare("update-details", u, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "differ from tests/outgoing/: {failures:?}"
    );
    let mut to: Vec<String> = updates.iter().map(|m| to_of(m)).collect();
    to.sort();
    assert_eq!(
        to,
        vec!["kari@hf.example", "koord@hf.example", "nina@hf.example"]
    );
    for u in &updates {
        let ics = ics_of(u);
        assert!(
            ics.contains("METHOD:REQUEST") && ics.contains("SEQUENCE:1"),
            "{ics}"
        );
        assert!(ics.contains("Ullevål\\, bygg 25"), "{ics}");
        let text = text_of(u);
        assert!(
            text.contains("Ullevål, bygg 25") && text.contains("https://meet.example/ur"),
            "{text}"
        );
    }
}
