//! Outbound speed: referent's dispatcher sending N queued messages through SMTP, the
//! way the daemon does (SQLite outbox, claims and marks included, each message also to
//! the `+sent` witness), over K connections. Prints one JSON line: messages a second,
//! CPU seconds and peak resident memory of this process while sending.
//!
//! Driven by `bench/outbound`, which starts Postfix's smtp-sink to send to:
//!
//!   cargo bench --bench outbound -- --port 2525 --connections 4 --count 10000

// A benchmark measures time and reads its own /proc entries.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use referent::clock::SystemClock;
use referent::config::{Config, OutboundConfig, SmtpConfig, Tls};
use referent::daemon::{Daemon, Report};
use referent::store::{OutgoingMail, Store};

struct Args {
    host: String,
    port: u16,
    connections: usize,
    count: usize,
    size: usize,
}

fn args() -> Args {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 25,
        connections: 1,
        count: 10_000,
        size: 4_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("a value after the option");
        match k.as_str() {
            "--host" => a.host = v(),
            "--port" => a.port = v().parse().expect("--port"),
            "--connections" => a.connections = v().parse().expect("--connections"),
            "--count" => a.count = v().parse().expect("--count"),
            "--size" => a.size = v().parse().expect("--size"),
            // What cargo bench passes along.
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    a
}

/// A message of about `size` bytes, shaped like a summons: headers, then lines of text.
fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: RegUt HSØ <referent@localhost.localdomain>\r\nTo: Member {i} <member{i}@bench.example>\r\n\
         Subject: Innkalling til møte\r\nMessage-ID: <bench.{i}@localhost.localdomain>\r\n\
         Date: Mon, 1 Mar 2027 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
         Auto-Submitted: auto-generated\r\n\r\n"
    )
    .into_bytes();
    let line = b"Sak 7/27 Orienteringssaker fra utdanningsutvalget. Vi ber om tilbakemelding.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b".starts with a dot\r\n");
    m
}

/// This process's CPU time so far (user + system), from /proc/self/stat.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here; in ticks of
    // 1/100 s on Linux.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let mut cfg = Config::embedded(dir.path());
        cfg.outbound = OutboundConfig::Smtp(SmtpConfig {
            host: a.host.clone(),
            port: a.port,
            tls: Tls::None,
            credentials: None,
            copy_to_mailbox: true,
            max_connections: a.connections,
            max_per_minute: None,
            quota_pause: Duration::from_secs(3600),
        });
        let store = Store::open(&cfg.database_url).await.expect("store");
        let now = referent::clock::Clock::now(&SystemClock);
        for chunk in (0..a.count).collect::<Vec<_>>().chunks(1000) {
            let mails: Vec<OutgoingMail> = chunk
                .iter()
                .map(|i| OutgoingMail {
                    effect_key: format!("bench:{i}"),
                    message_id: format!("bench.{i}@localhost.localdomain"),
                    kind: "summons".into(),
                    recipient: format!("member{i}@bench.example"),
                    envelope_from: cfg.secretariat.address.clone(),
                    raw: message(*i, a.size),
                    meeting_id: None,
                    invitation_id: None,
                    inbound_id: None,
                    grant: None,
                })
                .collect();
            store.commit(&[], &mails, &[], now).await.expect("queue");
        }
        let daemon = Daemon::new(cfg, store, Arc::new(SystemClock))
            .await
            .expect("daemon");
        let (cpu0, t0) = (cpu(), Instant::now());
        let mut report = Report::default();
        while report.sent < a.count {
            let before = report.sent;
            daemon.dispatch(&mut report).await.expect("dispatch");
            if report.sent == before {
                eprintln!("stuck after {} sent: {report:?}", report.sent);
                break;
            }
        }
        let (secs, cpu_s) = (t0.elapsed().as_secs_f64(), (cpu() - cpu0).as_secs_f64());
        daemon.outbox.transport.close().await;
        println!(
            "{{\"sender\":\"referent\",\"connections\":{},\"sent\":{},\"failed\":{},\"seconds\":{:.3},\"msgs_per_sec\":{:.0},\"cpu_seconds\":{:.2},\"peak_rss_kib\":{}}}",
            a.connections,
            report.sent,
            report.failed,
            secs,
            report.sent as f64 / secs,
            cpu_s,
            peak_rss_kib()
        );
    });
}
