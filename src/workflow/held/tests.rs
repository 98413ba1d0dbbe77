use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn reply<'a>(from: &'a str, text: &'a str) -> DigestReply<'a> {
    DigestReply {
        inbound_id: 77,
        from,
        message_id: Some("<r@ous-hf.no>"),
        text,
        key_address: "eldbjorg@ous-hf.no",
        key_expires: Some(now() + chrono::Duration::days(14)),
        reference: "11,12,13",
        authenticated: true,
        trust: "DKIM-authenticated",
        now: now(),
        lang: crate::domain::Language::Nb,
    }
}

fn after(state: &str, outcome: &str) -> After {
    After {
        subject: "Svar".into(),
        state: state.parse().unwrap(),
        outcome: outcome.into(),
    }
}

#[test]
fn a_digest_reply_from_another_address_than_the_keys_is_held() {
    let r = reply("eve@evil.example", "1 ignorer");
    let held = read_digest_reply(&r, &[]).unwrap_err();
    assert_eq!(
        Held::read(&held).0.map(|h| h.reason),
        Some(HeldReason::DigestWrongSender)
    );
    let unauthenticated = DigestReply {
        authenticated: false,
        ..reply("eldbjorg@ous-hf.no", "1 ignorer")
    };
    assert!(read_digest_reply(&unauthenticated, &[]).is_err());
}

#[test]
fn an_expired_digest_or_one_without_lines_does_nothing() {
    let late = DigestReply {
        now: now() + chrono::Duration::days(15),
        ..reply("Eldbjorg@ous-hf.no", "1 ignorer")
    };
    let held = read_digest_reply(&late, &[]).unwrap_err();
    assert_eq!(
        Held::read(&held).0.map(|h| h.reason),
        Some(HeldReason::Expired)
    );
    let chat = reply("eldbjorg@ous-hf.no", "Takk!\nHilsen Eldbjørg");
    let held = read_digest_reply(&chat, &[]).unwrap_err();
    assert_eq!(
        Held::read(&held).0.map(|h| h.reason),
        Some(HeldReason::NoDecision)
    );
}

#[test]
fn a_digest_reply_with_one_line_about_a_message_already_settled() {
    let ms = vec![
        member("Eldbjørg Koordinator", "eldbjorg@ous-hf.no"),
        member("Ola Nordmann", "ola@ous-hf.no"),
    ];
    let r = reply("eldbjorg@ous-hf.no", "1 bekreft\n2 avvis\n3 Ola\n4 ignorer");
    let lines = read_digest_reply(&r, &ms).unwrap();
    assert_eq!(
        lines.iter().map(|l| l.step.clone()).collect::<Vec<_>>(),
        vec![
            Step::UnknownPerson {
                id: 11,
                who: "bekreft".into()
            },
            Step::Dismiss { id: 12 },
            Step::Apply {
                id: 13,
                person: ms[1].clone()
            },
            Step::Missing,
        ]
    );
    // Message 12 was settled before the reply came: its dismissal is refused.
    let outcomes = [
        Some((Ok(()), after("held", "x"))),
        Some((
            Err("message 12 is processed, not held: nothing to dismiss".into()),
            after("processed", "done"),
        )),
        Some((Ok(()), after("processed", "answer recorded"))),
        None,
    ];
    let ran: Vec<Ran> = lines.into_iter().zip(outcomes).collect();
    let p = digest_reply_done(&r, &ms, ran);
    assert!(!p.is_held());
    assert_eq!(
        p.outcome,
        "held-mail digest answered by eldbjorg@ous-hf.no: 1. \"Svar\": cannot tell who \"bekreft\" is; \
         2. \"Svar\": not done: message 12 is processed, not held: nothing to dismiss; \
         3. \"Svar\" as the message from Ola Nordmann: processed; 4: not in the digest"
    );
    let [mail] = p.mails.as_slice() else {
        panic!("one answer: {:?}", p.mails)
    };
    assert_eq!(
        (mail.template, mail.to.email.as_str()),
        ("held_done", "eldbjorg@ous-hf.no")
    );
    assert_eq!(mail.to.name, "Eldbjørg Koordinator");
    assert_eq!(mail.effect_key, "held-done:77");
    assert_eq!(mail.in_reply_to.as_deref(), Some("<r@ous-hf.no>"));
    assert_eq!(mail.data["results"][1]["state"], "failed");
    assert_eq!(mail.data["results"][2]["as_name"], "Ola Nordmann");
    assert_eq!(
        mail.data["outcome"], "partly",
        "the subject says «Delvis utført»"
    );
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].kind, "held_resolved");
}

#[test]
fn a_line_that_leaves_the_message_held_says_why() {
    let r = reply("eldbjorg@ous-hf.no", "1 prøv igjen");
    let lines = read_digest_reply(&r, &[]).unwrap();
    assert_eq!(lines[0].step, Step::Retry { id: 11 });
    let outcome = Held::because(HeldReason::NotMember).outcome("from a stranger");
    let ran = vec![(lines[0].clone(), Some((Ok(()), after("held", &outcome))))];
    let p = digest_reply_done(&r, &[], ran);
    assert_eq!(p.mails[0].to.name, "eldbjorg@ous-hf.no");
    assert_eq!(
        p.mails[0].data["results"][0]["reason"]["reason"],
        "not_member"
    );
    assert_eq!(
        p.mails[0].data["outcome"], "none",
        "«Ikke utført», not «Utført»"
    );
    assert!(
        p.outcome.ends_with("still held (from a stranger)"),
        "{}",
        p.outcome
    );
}

fn member(name: &str, email: &str) -> Person {
    Person {
        id: 1,
        name: name.into(),
        email: email.into(),
        lang: crate::domain::Language::Nb,
    }
}

fn unreported(id: i64, sender: Option<&str>, councils: Vec<i64>, outcome: String) -> Unreported {
    Unreported {
        id,
        sender: sender.map(str::to_string),
        received_at: now() - chrono::Duration::hours(3),
        subject: Some(format!("Melding {id}")),
        kind: Some("unknown".into()),
        outcome: Some(outcome),
        councils,
        understood: None,
    }
}

fn coordinators() -> Vec<Coordinator> {
    vec![
        Coordinator {
            council_id: 1,
            person: member("Eldbjørg Koordinator", "eldbjorg@ous-hf.no"),
        },
        Coordinator {
            council_id: 2,
            person: member("Per Koordinator", "per@ahus.no"),
        },
    ]
}

#[test]
fn a_digest_goes_out_at_most_once_an_hour_and_only_when_something_is_held() {
    let held = [unreported(
        1,
        Some("eve@evil.example"),
        vec![],
        "not understood".into(),
    )];
    let cs = coordinators();
    let d = Digesting {
        now: now(),
        tz: chrono_tz::Europe::Oslo,
        held: &held,
        sent_last_hour: 1,
        coordinators: &cs,
    };
    assert!(held_digest(&d).is_none(), "one went out within the hour");
    assert!(held_digest(&Digesting {
        held: &[],
        sent_last_hour: 0,
        ..d.clone()
    })
    .is_none());
    let p = held_digest(&Digesting {
        sent_last_hour: 0,
        ..d
    })
    .unwrap();
    assert_eq!(p.changes, vec![Change::MarkReported { ids: vec![1] }]);
    // A stranger's message reaches every coordinator.
    let to: Vec<&str> = p.mails.iter().map(|m| m.to.email.as_str()).collect();
    assert_eq!(to, ["eldbjorg@ous-hf.no", "per@ahus.no"]);
    let m = &p.mails[0];
    assert_eq!((m.kind, m.template), ("held_digest", "held_digest"));
    assert_eq!(m.effect_key, "held-digest:1:eldbjorg@ous-hf.no");
    assert_eq!(m.reference.as_deref(), Some("1"));
    assert_eq!(
        m.expires_at,
        Some(now() + chrono::Duration::days(DIGEST_DAYS))
    );
    assert_eq!(m.data["entries"][0]["number"], 1);
    assert_eq!(m.data["entries"][0]["kind"], serde_json::Value::Null);
    assert_eq!(
        m.data["entries"][0]["received"],
        crate::render::local_time(now() - chrono::Duration::hours(3), chrono_tz::Europe::Oslo)
    );
    assert_eq!(p.outcome, "1 held message(s) told to 2 coordinator(s)");
    assert_eq!(p.events[0].kind, "held_digest");
}

#[test]
fn a_members_message_goes_to_their_councils_coordinators_but_not_to_one_just_asked() {
    let asked = Held::asking(HeldReason::Unverified, "per@ahus.no").outcome("a forward, held");
    let held = [
        unreported(
            7,
            Some("kari@ous-hf.no"),
            vec![1],
            "no answer could be read".into(),
        ),
        unreported(8, Some("ola@ahus.no"), vec![2], asked),
        unreported(
            9,
            Some("anna@ahus.no"),
            vec![2],
            Held::because(HeldReason::NotInvitee).outcome("x"),
        ),
    ];
    let cs = coordinators();
    let p = held_digest(&Digesting {
        now: now(),
        tz: chrono_tz::Europe::Oslo,
        held: &held,
        sent_last_hour: 0,
        coordinators: &cs,
    })
    .unwrap();
    let to: Vec<(&str, Option<&str>)> = p
        .mails
        .iter()
        .map(|m| (m.to.email.as_str(), m.reference.as_deref()))
        .collect();
    assert_eq!(
        to,
        [
            ("eldbjorg@ous-hf.no", Some("7")),
            ("per@ahus.no", Some("9"))
        ]
    );
    assert_eq!(
        p.mails[1].data["entries"][0]["number"], 1,
        "numbered per digest"
    );
    assert_eq!(p.changes, vec![Change::MarkReported { ids: vec![7, 8, 9] }]);
}

#[test]
fn numbered_decisions() {
    assert_eq!(
        read_decisions(
            "1 godkjent\n2: avvist – passer ikke\n3. utsatt\nHilsen Eldbjørg\n> 4 godkjent"
        ),
        vec![
            (1, Decision::Approve),
            (2, Decision::Reject),
            (3, Decision::Defer)
        ]
    );
    assert_eq!(
        read_decisions("1 approved\n2 rejected"),
        vec![(1, Decision::Approve), (2, Decision::Reject)]
    );
    // A rejection's reason goes with it; other lines have none.
    assert_eq!(
        read_decisions_with_reasons("1 godkjent, bra\n2: avvist – passer ikke i rådet\n3 avvist"),
        vec![
            (1, Decision::Approve, None),
            (2, Decision::Reject, Some("passer ikke i rådet".into())),
            (3, Decision::Reject, None)
        ]
    );
}

#[test]
fn an_approval_digest_reply_decides_only_what_is_still_proposed() {
    let r = ApprovalDigestReply {
        from: "eldbjorg@ous-hf.no",
        text: "1 godkjent\n2 avvist\n5 utsatt",
        key_address: "Eldbjorg@ous-hf.no",
        reference: "21,22",
        authenticated: true,
        trust: "DKIM-authenticated",
    };
    let wanted = read_approval_digest_reply(&r).unwrap();
    assert_eq!(
        wanted.iter().map(|d| d.id).collect::<Vec<_>>(),
        [Some(21), Some(22), None]
    );
    let proposal = |state: &str| Proposal {
        title: "Ny veileder".into(),
        state: state.parse().unwrap(),
    };
    let lines: Vec<(Decided, Option<Proposal>)> = wanted
        .into_iter()
        .zip([Some(proposal("proposed")), Some(proposal("approved")), None])
        .collect();
    let (deciding, said) = sort_approval_lines(&lines);
    assert_eq!(deciding, [0]);
    assert_eq!(
        approval_digest_outcome(r.from, said, [(1, "approved".to_string())]),
        "approval digest answered by eldbjorg@ous-hf.no: 2: \"Ny veileder\" was approved already; 5: not in the digest; 1: approved"
    );
    let stranger = ApprovalDigestReply {
        from: "eve@evil.example",
        ..r.clone()
    };
    let (reason, sentence) = read_approval_digest_reply(&stranger).unwrap_err();
    assert_eq!(reason, crate::domain::HeldReason::DigestWrongSender);
    assert!(sentence.contains("nothing decided"));
    let chat = ApprovalDigestReply { text: "Takk!", ..r };
    assert_eq!(
        read_approval_digest_reply(&chat).unwrap_err().0,
        crate::domain::HeldReason::NoDecision
    );
}

#[test]
fn only_a_held_message_is_dismissed_or_applied_and_only_as_a_members() {
    assert_eq!(
        dismissal(
            4,
            InboundState::Held,
            "from a stranger",
            "eldbjorg@ous-hf.no"
        ),
        Ok("dismissed by eldbjorg@ous-hf.no (was: from a stranger)".into())
    );
    assert!(dismissal(4, InboundState::New, "", "x").is_ok());
    assert_eq!(
        dismissal(4, InboundState::Processed, "", "x"),
        Err("message 4 is processed, not held: nothing to dismiss".into())
    );
    assert!(may_apply(4, InboundState::Held, "kari@ous-hf.no", true).is_ok());
    assert!(may_apply(4, InboundState::New, "kari@ous-hf.no", true).is_err());
    assert_eq!(
        may_apply(4, InboundState::Held, "eve@evil.example", false),
        Err("eve@evil.example is not a member of any council: a message is applied only as a member's own".into())
    );
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
fn reasons_come_from_the_code_and_else_from_the_sentence() {
    let tagged = Held::because(HeldReason::NotMember).outcome("anything at all");
    let r = Reason::of(&tagged);
    assert_eq!(r.reason, Some("not_member"));
    assert_eq!(r.logged, "anything at all");
    let old = Reason::of("an agenda proposal from x@y.no, who is in several councils; kept for a coordinator to place");
    assert_eq!(old.reason, Some("several_councils"));
    let unknown = Reason::of("something new");
    assert_eq!(
        (unknown.reason, unknown.logged.as_str()),
        (None, "something new")
    );
    // Every code the digest can be given has words in every language.
    let r = crate::render::Renderer::new().unwrap();
    for code in HeldReason::ALL {
        for lang in crate::render::LANGUAGES {
            let data = json!({"reason": {"reason": code.as_str(), "logged": "LOGGED"}});
            let words = r
                .render_snippet(lang, "{{> held_reason reason}}", &data)
                .unwrap();
            assert!(!words.is_empty() && words != "LOGGED", "{lang:?} {code:?}");
        }
    }
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
