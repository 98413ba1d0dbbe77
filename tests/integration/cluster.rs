//! Several daemons, one PostgreSQL, one mailbox: one reads the mailbox at a time, the
//! others stand by and take over when it dies; the summons is sent once, every answer
//! is recorded once and gets one receipt.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

async fn fresh_database(pg_url: &str) -> String {
    let name = format!("referent_{:x}", rand::random::<u64>());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(pg_url)
        .await
        .expect("connect");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create db");
    match pg_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad url {pg_url}"),
    }
}

async fn lease_holder(url: &str) -> Option<String> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .ok()?;
    let row: Option<(String,)> =
        sqlx::query_as("SELECT holder FROM leases WHERE name LIKE 'mailbox:%'")
            .fetch_optional(&mut conn)
            .await
            .ok()?;
    row.map(|r| r.0)
}

fn count_kind(msgs: &[Vec<u8>], kind: &str) -> usize {
    msgs.iter()
        .filter(|m| header(m, "X-Referent").as_deref() == Some(kind))
        .count()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn three_daemons_share_a_mailbox_and_the_holder_dies_mid_batch() {
    let Some(s) = servers() else { return };
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let secretariat = format!("referent@{d}");
    let url = rt.block_on(fresh_database(&s.pg_url));
    let config = write_config(
        dir.path(),
        &s,
        &secretariat,
        &format!("\n[database]\nurl = \"{url}\"\n"),
    );
    let members: Vec<(String, String)> = (1..=12)
        .map(|i| (format!("Medlem Nummer{i}"), format!("m{i}@{d}")))
        .collect();
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
    for (name, email) in &members {
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
            ],
        );
    }
    let day =
        referent::clock::Clock::now(&referent::clock::SystemClock) + chrono::Duration::days(10);
    let starts = day
        .with_timezone(&chrono_tz::Europe::Oslo)
        .format("%Y-%m-%dT10:00")
        .to_string();
    ok(
        &config,
        &[
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            &starts,
            "--place",
            "Ullevål",
        ],
    );

    let mut daemons: Vec<DaemonProcess> = (0..3)
        .map(|i| DaemonProcess::start(&config, &dir.path().join(format!("daemon{i}.log"))))
        .collect();
    rt.block_on(wait_for(
        "every summons",
        Duration::from_secs(90),
        || async {
            for (_, m) in &members {
                if inbox(s.imap_port, m).await.is_empty() {
                    return false;
                }
            }
            true
        },
    ));

    let summons_of = |m: &str| {
        rt.block_on(inbox(s.imap_port, m))
            .into_iter()
            .find(|x| header(x, "X-Referent").as_deref() == Some("summons"))
            .expect("summons")
    };
    // Half the answers, then the rest with the mailbox's holder killed among them.
    for (name, member) in &members[..6] {
        let (to, raw) = answer_summons(&summons_of(member), name, member, "Ja, jeg kommer.");
        rt.block_on(send(s.smtp_port, member, &to, &raw));
    }
    let holder = rt
        .block_on(lease_holder(&url))
        .expect("one daemon holds the mailbox");
    for (name, member) in &members[6..] {
        let (to, raw) = answer_summons(&summons_of(member), name, member, "Jeg kommer");
        rt.block_on(send(s.smtp_port, member, &to, &raw));
    }
    let victim = daemons
        .iter()
        .position(|d| holder.contains(&format!(":{}:", d.child.id())))
        .unwrap_or_else(|| panic!("the holder {holder} is one of ours"));
    daemons[victim].kill();

    rt.block_on(wait_for(
        "every answer recorded",
        Duration::from_secs(120),
        || async {
            let out = referent(&config, &["meeting", "show", "1", "--json"]);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            v["invitations"]
                .as_array()
                .is_some_and(|a| a.len() == 12 && a.iter().all(|i| i["response"] == "accepted"))
        },
    ));
    rt.block_on(wait_for(
        "every receipt",
        Duration::from_secs(60),
        || async {
            for (_, m) in &members {
                if count_kind(&inbox(s.imap_port, m).await, "receipt") == 0 {
                    return false;
                }
            }
            true
        },
    ));
    // Let anything doubled arrive before counting.
    std::thread::sleep(Duration::from_secs(3));
    let new_holder = rt.block_on(lease_holder(&url)).expect("someone took over");
    assert_ne!(
        new_holder, holder,
        "a standing-by daemon took the mailbox over"
    );
    for (_, m) in &members {
        let msgs = rt.block_on(inbox(s.imap_port, m));
        assert_eq!(count_kind(&msgs, "summons"), 1, "{m}: one summons");
        assert_eq!(count_kind(&msgs, "receipt"), 1, "{m}: one receipt");
    }
    let v: Value = serde_json::from_str(&ok(&config, &["meeting", "show", "1", "--json"]))
        .expect("meeting show --json");
    for inv in v["invitations"].as_array().expect("invitations") {
        assert_eq!(
            inv["history"].as_array().map(Vec::len),
            Some(1),
            "each answer recorded once: {inv:#}"
        );
    }
    for (i, d) in daemons.iter_mut().enumerate() {
        if i != victim {
            assert!(
                d.terminate(Duration::from_secs(20)),
                "daemon {i} stops cleanly:\n{}",
                d.log_text()
            );
        }
    }
}
