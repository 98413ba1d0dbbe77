//! Speed of `inspect`'s core (`understand`) over the fixture set: messages per second on
//! one core, and the slowest single message, pathological inputs included.
//!
//! cargo bench --bench inspect

// A benchmark measures time.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use referent::understand::{understand, Limits};

fn emls(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            emls(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "eml") {
            if let Ok(bytes) = std::fs::read(&p) {
                let name = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                out.push((name, bytes));
            }
        }
    }
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    emls(&root, &root, &mut out);
    out
}

/// Inputs built to hurt: deep quoting, endless attribution-like lines, one huge line,
/// 10,000 nested parts, a From: of colons, a long HTML reply.
fn pathological() -> Vec<(String, Vec<u8>)> {
    let head = "From: a@b.no\r\nTo: referent@c.no\r\nSubject: SV: Innkalling\r\n\r\n";
    let mut v = Vec::new();
    let mut deep = String::from(head);
    deep.push_str("Ja, jeg kommer.\r\n");
    for i in 0..20_000 {
        deep.push_str(&">".repeat(i % 60 + 1));
        deep.push_str(" kan ikke komme\r\n");
    }
    v.push((
        "pathological: 20,000 deeply quoted lines".to_string(),
        deep.into_bytes(),
    ));
    let mut attrib = String::from(head);
    for _ in 0..20_000 {
        attrib.push_str("Den tir. 5. jan. 2027 kl. 10:00 skrev Ola Nordmann <\r\n");
    }
    v.push((
        "pathological: 20,000 half attributions".to_string(),
        attrib.into_bytes(),
    ));
    let mut line = String::from(head);
    line.push_str(&"ja nei kanskje digitalt ".repeat(40_000));
    v.push(("pathological: one 1 MB line".to_string(), line.into_bytes()));
    let mut nested =
        String::from("From: a@b.no\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for i in 0..10_000 {
        nested.push_str(&format!(
            "--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
            i + 1
        ));
    }
    v.push((
        "pathological: 10,000 nested parts".to_string(),
        nested.into_bytes(),
    ));
    let mut colons = String::from("From: ");
    colons.push_str(&":".repeat(99_999));
    colons.push_str("\r\n\r\nJa\r\n");
    v.push((
        "pathological: From of 99,999 colons".to_string(),
        colons.into_bytes(),
    ));
    let mut html = String::from(
        "From: a@b.no\r\nSubject: SV: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>",
    );
    for _ in 0..50_000 {
        html.push_str("<div><span>Kommer</span>&nbsp;&amp;<br></div>");
    }
    v.push(("pathological: 2 MB of HTML".to_string(), html.into_bytes()));
    v
}

fn typical(all: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    all.iter()
        .filter(|(n, _)| n.starts_with("norwegian/rsvp-") || n.contains("standard_replies"))
        .cloned()
        .collect()
}

fn bench(c: &mut Criterion) {
    let all = fixtures();
    let typical = typical(&all);
    let limits = Limits::default();
    let mut g = c.benchmark_group("understand");
    g.throughput(Throughput::Elements(typical.len() as u64));
    g.bench_function(format!("typical replies ({})", typical.len()), |b| {
        b.iter(|| {
            for (_, m) in &typical {
                black_box(understand(black_box(m), limits));
            }
        })
    });
    // The generated matrix's replies: every client's quoting style with a real summons
    // quoted under the answer.
    let matrix: Vec<(String, Vec<u8>)> = all
        .iter()
        .filter(|(n, _)| {
            n.starts_with("matrix/") && n.contains("-accept") || n.contains("-decline")
        })
        .cloned()
        .collect();
    g.throughput(Throughput::Elements(matrix.len() as u64));
    g.bench_function(format!("matrix replies ({})", matrix.len()), |b| {
        b.iter(|| {
            for (_, m) in &matrix {
                black_box(understand(black_box(m), limits));
            }
        })
    });
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function(format!("all fixtures ({})", all.len()), |b| {
        b.iter(|| {
            for (_, m) in &all {
                black_box(understand(black_box(m), limits));
            }
        })
    });
    g.finish();
}

/// The slowest single message: each one timed on its own (best of five runs, so a
/// scheduler hiccup does not count), pathological inputs included.
fn slowest() {
    let mut cases = fixtures();
    cases.extend(pathological());
    let limits = Limits::default();
    let mut times: Vec<(Duration, String, usize)> = cases
        .iter()
        .map(|(name, m)| {
            let best = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    black_box(understand(black_box(m), limits));
                    t.elapsed()
                })
                .min()
                .unwrap_or_default();
            (best, name.clone(), m.len())
        })
        .collect();
    times.sort_by_key(|t| std::cmp::Reverse(t.0));
    println!("\nslowest single messages ({} measured):", times.len());
    for (d, name, size) in times.iter().take(8) {
        println!(
            "  {:>9.3} ms  {:>9} bytes  {name}",
            d.as_secs_f64() * 1000.0,
            size
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    slowest();
}
