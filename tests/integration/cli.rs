//! The command line on the embedded default (SQLite + Maildir).

use std::process::Command;

use crate::support::*;

#[test]
fn csv_import_is_all_or_nothing_with_line_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    council_with(&config, "ur", "Utdanningsrådet", &[]);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "name,email,org,role,doctor\nOla,ola@ous.example,OUS,leader,ja\nKari,kari-at-ahus,Ahus,member,nei\nPer,per@x.example,,sjef,\n").expect("write");
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    assert!(err.contains("nothing imported"), "{err}");
    let list = ok(&config, &["member", "list", "--council", "ur", "--json"]);
    assert_eq!(list.trim(), "[]", "nothing imported");

    let good = dir.path().join("good.csv");
    std::fs::write(&good, "name,email,org,role,doctor\nOla,Ola@OUS.example,OUS,leder,ja\n\"Berg, Ingrid\",ingrid@si.example,SI,nestleder,nei\n").expect("write");
    ok(
        &config,
        &[
            "member",
            "import",
            "--council",
            "ur",
            good.to_str().expect("path"),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(
        &config,
        &["member", "list", "--council", "ur", "--json"],
    ))
    .expect("json");
    let emails: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["ingrid@si.example", "ola@ous.example"]);
}

#[test]
fn bad_configuration_and_input_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[secretariat]\nname = \"x\"\naddress = \"referent@x.example\"\nlangauge = \"nb\"\n",
    )
    .expect("write");
    let out = referent(&path, &["council", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("langauge"));

    let config = embedded_config(dir.path());
    ok(&config, &["council", "add", "--slug", "ur", "--name", "U"]);
    let out = referent(
        &config,
        &[
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-03-28T02:30",
            "--place",
            "Ullevål",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("daylight saving"));
    let out = referent(
        &config,
        &[
            "meeting",
            "add",
            "--council",
            "nope",
            "--starts",
            "2027-03-02T10:00",
            "--place",
            "x",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no council"));
}

#[test]
fn inspect_prints_json_without_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let eml = dir.path().join("m.eml");
    std::fs::write(
        &eml,
        "From: Ingrid <ingrid@si.example>\r\nTo: referent@regut.example\r\nSubject: SV: Innkalling: Utdanningsrådet\r\n\r\nEg kan diverre ikkje kome.\r\n\r\nDen 4. jan. 2027 kl. 09:00 skrev RegUt <referent@regut.example>:\r\n> Ja, jeg kommer\r\n",
    )
    .expect("write");
    let out = Command::new(bin())
        .args(["inspect", "--json"])
        .arg(&eml)
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["kind"], "rsvp");
    assert_eq!(v["language"], "nn");
    assert_eq!(v["rsvp"]["response"], "declined");
    assert_eq!(v["reply_text"], "Eg kan diverre ikkje kome.");
    assert!(
        !dir.path().join("referent-data").exists(),
        "inspect touches no database"
    );
}

#[test]
fn demo_runs_the_real_loop_on_the_embedded_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(bin())
        .args(["demo", "--dir", "demo"])
        .current_dir(dir.path())
        .env("REFERENT_LOG", "warn")
        .output()
        .expect("run demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("7 summons written"), "{text}");
    assert!(text.contains("4 answers recorded"), "{text}");
    assert!(
        text.contains("eve@unknown.example"),
        "the stranger is held: {text}"
    );
    let sent = std::fs::read_dir(dir.path().join("demo/outbox/new"))
        .expect("outbox")
        .count();
    assert_eq!(
        sent, 14,
        "7 summons, 4 receipts, the summons to the substitute a member sent, and to the \
         coordinator the substitute's notice and the digest with the stranger's mail"
    );
    // The demo refuses to overwrite.
    let again = Command::new(bin())
        .args(["demo", "--dir", "demo"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(!again.status.success());
}
