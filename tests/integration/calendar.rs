//! The calendar rules end to end on the embedded default: a year's meetings set up the
//! old way follow the rules when referent starts, and a meeting after the summer
//! holiday gets its call and deadline before it, with the deadline written as the end
//! of its day.

use serde_json::Value;

use crate::support::*;

fn due(config: &std::path::Path, now: &str, meeting: i64, kind: &str) -> Option<String> {
    let out = ok(config, &["--now", now, "schedule", "--json"]);
    let v: Value = serde_json::from_str(&out).expect("json");
    v["jobs"].as_array()?.iter().find_map(|j| {
        (j["meeting"].as_i64() == Some(meeting) && j["kind"].as_str() == Some(kind))
            .then(|| j["due_at"].as_str().map(str::to_string))
            .flatten()
    })
}

#[test]
fn stored_jobs_and_new_meetings_follow_the_calendar_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", "koord@hf.example", "coordinator"),
            ("Kari Hansen", "kari@hf.example", "member"),
        ],
    );
    // A meeting on Tuesday 12 January 2027 10:00 whose jobs were stored before the
    // rules: its attendance list two days before, on Sunday 10 January.
    let url = referent::config::sqlite_url(&dir.path().join("referent.db"));
    let rt = runtime();
    rt.block_on(async {
        let store = referent::store::Store::open(&url).await.expect("open");
        let c = store
            .council_by_slug("ur")
            .await
            .expect("council")
            .expect("ur");
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("time");
        use referent::domain::JobKind::*;
        store
            .add_meeting(
                &referent::store::NewMeeting {
                    council_id: c.id,
                    title: String::new(),
                    starts_at: t("2027-01-12T09:00:00Z"),
                    ends_at: t("2027-01-12T11:00:00Z"),
                    time_zone: "Europe/Oslo".into(),
                    place: referent::domain::Place {
                        room: Some("Ullevål".into()),
                        digital_link: None,
                    },
                    uid: "old@regut.example".into(),
                },
                &[
                    (Call, t("2026-12-15T09:00:00Z")),
                    (Summons, t("2026-12-29T09:00:00Z")),
                    (Reminder, t("2027-01-07T09:00:00Z")),
                    (Attendance, t("2027-01-10T09:00:00Z")),
                ],
                t("2026-11-30T08:00:00Z"),
            )
            .await
            .expect("meeting");
        store.close().await;
    });
    let now = "2026-12-01T08:00:00Z";
    assert_eq!(
        due(&config, now, 1, "attendance").as_deref(),
        Some("2027-01-10T09:00:00Z")
    );
    ok(&config, &["--now", now, "run", "--once"]);
    // Friday 8 January instead; the others were right already.
    assert_eq!(
        due(&config, now, 1, "attendance").as_deref(),
        Some("2027-01-08T09:00:00Z")
    );
    assert_eq!(
        due(&config, now, 1, "call").as_deref(),
        Some("2026-12-15T09:00:00Z")
    );
    let log = ok(&config, &["--now", now, "log", "--meeting", "1"]);
    assert!(
        log.contains("attendance moved from 2027-01-10 10:00 to 2027-01-08 10:00"),
        "{log}"
    );

    // Tuesday 17 August 2027 10:00: the call (20 July) and the deadline (27 July) fall
    // in the fellesferie, so both are on Friday 9 July; the summons on 3 August.
    ok(
        &config,
        &[
            "--now",
            now,
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-08-17T10:00",
            "--ends",
            "2027-08-17T12:00",
            "--place",
            "Ullevål sykehus, bygg 1",
        ],
    );
    assert_eq!(
        due(&config, now, 2, "call").as_deref(),
        Some("2027-07-09T08:00:00Z")
    );
    assert_eq!(
        due(&config, now, 2, "summons").as_deref(),
        Some("2027-08-03T08:00:00Z")
    );
    ok(&config, &["--now", "2027-07-09T08:30:00Z", "run", "--once"]);
    let call = embedded_outbox(dir.path())
        .into_iter()
        .find(|m| {
            header(m, "X-Referent").as_deref() == Some("call")
                && header(m, "Subject").is_some_and(|s| s.contains("august"))
        })
        .expect("the call for the August meeting");
    let (subject, text) = subject_and_text(&call);
    assert_eq!(
        subject,
        "Forslag til saker: Utdanningsrådet tirsdag 17. august 2027"
    );
    assert!(
        text.contains("svar på denne e-posten innen utgangen av fredag 9. juli 2027."),
        "{text}"
    );
}
