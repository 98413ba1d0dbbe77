//! The sender-authentication verdicts the test mail server writes, checked through the
//! real servers: Postfix with rspamd as its milter, DNS from dnsmasq, delivery to
//! Dovecot. The daemon will trust a sender only on `dmarc=pass` (or an aligned
//! `dkim=pass`) in an `Authentication-Results` from its configured authserv-id, so these
//! tests pin down that the stack gives real verdicts and that a forged one does not
//! survive. Run with `--nocapture` to see the headers.

use std::time::Duration;

use crate::auth_support::*;
use crate::support::{domain, runtime, send};

const WAIT: Duration = Duration::from_secs(30);

/// A message as a mail client writes it, with any extra header lines first.
fn message(from: &str, to: &str, subject: &str, extra: &str) -> Vec<u8> {
    let id = rand::random::<u64>();
    format!(
        "{extra}From: Kari <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{id:016x}@{}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Møtet er flyttet.\r\n",
        from.split_once('@').map(|(_, d)| d).unwrap_or("x.test")
    )
    .into_bytes()
}

/// Sends `raw` to `port`, waits for it in Dovecot, prints its headers and returns the
/// delivered bytes.
fn deliver(stack: &AuthStack, port: u16, from: &str, to: &str, raw: &[u8], what: &str) -> Vec<u8> {
    runtime().block_on(send(port, from, to, raw));
    let got = wait_for_delivered(&stack.mail_root, to, 1, WAIT)
        .pop()
        .expect("one message");
    println!(
        "---- {what}: headers as delivered ----\n{}\n",
        header_block(&got)
    );
    got
}

/// Ours: the Authentication-Results values with the stack's authserv-id, top first.
fn ours(stack: &AuthStack, raw: &[u8]) -> Vec<String> {
    authentication_results(raw)
        .into_iter()
        .filter(|v| authserv_id(v).eq_ignore_ascii_case(&stack.authserv_id))
        .collect()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn mail_signed_for_signed_test_arrives_with_dkim_and_dmarc_pass() {
    let Some(stack) = auth_stack() else { return };
    let to = format!("sekretariat@{}", domain());
    let from = format!("kari@{SIGNED_DOMAIN}");
    let raw = message(&from, &to, "Signert", "");
    let got = deliver(
        &stack,
        stack.signing_port,
        &from,
        &to,
        &raw,
        "signed, From signed.test",
    );

    assert!(
        headers(&got)
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("DKIM-Signature") && v.contains("d=signed.test")),
        "the signing listener signs for signed.test"
    );
    let ar = ours(&stack, &got);
    assert_eq!(
        ar.len(),
        1,
        "one verdict of ours, from the main listener only: {ar:?}"
    );
    assert_eq!(verdict(&ar[0], "dkim"), Some("pass"), "{}", ar[0]);
    assert!(ar[0].contains("header.d=signed.test"), "{}", ar[0]);
    assert_eq!(verdict(&ar[0], "dmarc"), Some("pass"), "{}", ar[0]);
    assert!(ar[0].contains("header.from=signed.test"), "{}", ar[0]);
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn unsigned_mail_claiming_signed_test_fails_dmarc() {
    let Some(stack) = auth_stack() else { return };
    let to = format!("sekretariat@{}", domain());
    let from = format!("kari@{SIGNED_DOMAIN}");
    let raw = message(&from, &to, "Forfalsket", "");
    let got = deliver(
        &stack,
        stack.smtp_port,
        &from,
        &to,
        &raw,
        "unsigned, From signed.test",
    );

    let ar = ours(&stack, &got);
    assert_eq!(ar.len(), 1, "{ar:?}");
    assert_eq!(verdict(&ar[0], "dmarc"), Some("fail"), "{}", ar[0]);
    assert_ne!(verdict(&ar[0], "dkim"), Some("pass"), "{}", ar[0]);
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn mail_from_a_domain_without_dmarc_gets_no_pass() {
    let Some(stack) = auth_stack() else { return };
    let from = format!("ola@{NODMARC_DOMAIN}");
    // Through both listeners: the signer has no key for nodmarc.test either.
    for (port, what) in [
        (stack.smtp_port, "From nodmarc.test, main listener"),
        (stack.signing_port, "From nodmarc.test, signing listener"),
    ] {
        let to = format!("sekretariat@{}", domain());
        let raw = message(&from, &to, "Uten DMARC", "");
        let got = deliver(&stack, port, &from, &to, &raw, what);
        let ar = ours(&stack, &got);
        assert_eq!(ar.len(), 1, "{what}: {ar:?}");
        assert_ne!(verdict(&ar[0], "dmarc"), Some("pass"), "{what}: {}", ar[0]);
        assert_ne!(verdict(&ar[0], "dkim"), Some("pass"), "{what}: {}", ar[0]);
        assert_eq!(verdict(&ar[0], "dmarc"), Some("none"), "{what}: {}", ar[0]);
    }
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn a_forged_authentication_results_with_our_authserv_id_does_not_survive() {
    let Some(stack) = auth_stack() else { return };
    let to = format!("sekretariat@{}", domain());
    let from = format!("kari@{SIGNED_DOMAIN}");
    let id = &stack.authserv_id;
    // Two forgeries in our name (one folded so that the id is on its own line, one in
    // other letter case), and one from another server, which is not ours to judge.
    let forged = format!(
        "Authentication-Results: {id}; dkim=pass header.d=signed.test; dmarc=pass header.from=signed.test\r\n\
         Authentication-Results:\r\n  {}; dmarc=pass header.from=signed.test\r\n\
         Authentication-Results: mx.elsewhere.example; dmarc=pass header.from=signed.test\r\n",
        id.to_ascii_uppercase()
    );
    let raw = message(&from, &to, "Forfalsket resultat", &forged);
    let got = deliver(
        &stack,
        stack.smtp_port,
        &from,
        &to,
        &raw,
        "forged Authentication-Results",
    );

    let all = authentication_results(&got);
    let ar = ours(&stack, &got);
    assert_eq!(
        ar.len(),
        1,
        "the forgeries in our name are removed: {all:?}"
    );
    assert_eq!(
        authserv_id(&all[0]),
        id,
        "the real verdict is topmost: {all:?}"
    );
    assert_eq!(verdict(&all[0], "dmarc"), Some("fail"), "{}", all[0]);
    assert!(
        all.iter().any(|v| authserv_id(v) == "mx.elsewhere.example"),
        "another server's verdict is kept (below ours): {all:?}"
    );
}
