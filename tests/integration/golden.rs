//! Golden files: every `.eml` under `tests/fixtures/` has the JSON that `referent
//! inspect --json` prints for it saved beside it. A mismatch writes `*.actual.json`
//! next to the file and fails; `REFERENT_BLESS=1` writes the expected files instead (read
//! the diff before committing). The Norwegian cases are also checked against
//! `norwegian/intent.tsv`, what each mail means, so no expectation is merely what the
//! code happened to say.

use std::path::{Path, PathBuf};

use referent::understand::{understand, Inspection, Limits};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn emls(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            emls(&p, out);
        } else if p.extension().is_some_and(|e| e == "eml") {
            out.push(p);
        }
    }
}

pub fn inspect(path: &Path) -> Value {
    let raw = std::fs::read(path).expect("read fixture");
    serde_json::to_value(Inspection::from(&understand(&raw, Limits::default()))).expect("json")
}

#[test]
fn every_fixture_matches_its_golden_file() {
    let mut files = Vec::new();
    emls(&fixtures(), &mut files);
    assert!(
        files.len() >= 150,
        "at least 150 cases, found {}",
        files.len()
    );
    let bless = std::env::var("REFERENT_BLESS").is_ok();
    let mut failures = Vec::new();
    for f in &files {
        let actual = inspect(f);
        let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
        let expected_path = f.with_extension("json");
        let actual_path = f.with_extension("actual.json");
        if bless {
            std::fs::write(&expected_path, &text).expect("write golden");
            let _ = std::fs::remove_file(&actual_path);
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected)
                if serde_json::from_str::<Value>(&expected).ok() == Some(actual.clone()) =>
            {
                let _ = std::fs::remove_file(&actual_path);
            }
            _ => {
                std::fs::write(&actual_path, &text).expect("write actual");
                failures.push(
                    f.strip_prefix(fixtures())
                        .unwrap_or(f)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ from their golden file (see *.actual.json):\n  {}",
        failures.len(),
        files.len(),
        failures.join("\n  ")
    );
}

#[test]
fn norwegian_cases_mean_what_they_say() {
    let dir = fixtures().join("norwegian");
    let tsv = std::fs::read_to_string(dir.join("intent.tsv")).expect("intent.tsv");
    let mut lines = tsv.lines();
    let cols: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let mut wrong = Vec::new();
    let mut n = 0;
    for line in lines {
        n += 1;
        let cells: Vec<&str> = line.split('\t').collect();
        let file = cells[0];
        let v = inspect(&dir.join(file));
        let kind = v["kind"].as_str().unwrap_or("");
        let get = |col: &str| {
            cols.iter()
                .position(|c| *c == col)
                .and_then(|i| cells.get(i))
                .copied()
                .unwrap_or("")
        };
        let mut check = |what: &str, expected: &str, actual: String| {
            if expected != actual {
                wrong.push(format!(
                    "{file}: {what} expected {expected:?}, got {actual:?}"
                ));
            }
        };
        let s = |x: &Value| x.as_str().unwrap_or("").to_string();
        check("kind", get("kind"), kind.to_string());
        if !get("language").is_empty() {
            check("language", get("language"), s(&v["language"]));
        }
        if get("kind") == "rsvp" {
            check("response", get("response"), s(&v["rsvp"]["response"]));
            check("attendance", get("attendance"), s(&v["rsvp"]["attendance"]));
            check(
                "substitute",
                get("substitute"),
                s(&v["rsvp"]["substitute"]["name"]),
            );
        }
        check("on_behalf_of", get("on_behalf_of"), s(&v["on_behalf_of"]));
        check("decision", get("decision"), s(&v["decision"]));
        check(
            "agenda_title",
            get("agenda_title"),
            s(&v["agenda_item"]["title"]),
        );
        if !get("corrections").is_empty() {
            let count = v["corrections"].as_array().map(Vec::len).unwrap_or(0);
            check("corrections", get("corrections"), count.to_string());
        }
        if get("kind") == "auto_reply" {
            check("until", get("until"), s(&v["auto_reply"]["until"]));
        }
        if get("kind") == "bounce" {
            check(
                "bounce recipient",
                get("bounce_recipient"),
                s(&v["bounce"]["recipient"]),
            );
            check(
                "bounce permanent",
                get("bounce_permanent"),
                v["bounce"]["permanent"].to_string(),
            );
        }
        let text = s(&v["reply_text"]);
        for leak in ["skrev", "Fra:", "Sendt fra min", "Med vennlig hilsen"] {
            if text.contains(leak) {
                wrong.push(format!("{file}: reply_text keeps {leak:?}: {text:?}"));
            }
        }
        if text.lines().any(|l| l.trim_start().starts_with('>')) {
            wrong.push(format!("{file}: reply_text keeps quoted lines: {text:?}"));
        }
    }
    assert!(n >= 60, "at least 60 Norwegian cases, found {n}");
    assert!(
        wrong.is_empty(),
        "{} problem(s) in {n} Norwegian cases:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

#[test]
fn sisimai_bounces_and_autoreplies_are_told_apart() {
    // The file names of the sisimai set say what each message is.
    let dir = fixtures().join("sisimai-set-of-emails");
    let mut files = Vec::new();
    emls(&dir, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let kind = inspect(f)["kind"].as_str().unwrap_or("").to_string();
        let expected = if name.starts_with("bsd__lhost-")
            || name.starts_with("bsd__rhost-")
            || name.starts_with("bsd__rfc3464")
        {
            Some("bounce")
        } else if name.starts_with("bsd__rfc3834") {
            Some("auto_reply")
        } else {
            None
        };
        match expected {
            Some(e) if e != kind => wrong.push(format!("{name}: expected {e}, got {kind}")),
            None if name.starts_with("not__") && kind == "bounce" => {
                wrong.push(format!("{name}: not a bounce"))
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} misread:\n  {}",
        wrong.len(),
        files.len(),
        wrong.join("\n  ")
    );
}

/// The generated matrix (`matrix/generate.py`): every quoting style real clients produce
/// x what people mean x nb/nn/en, each case checked against `matrix/intent.tsv`. Cases
/// marked `known` (a fault outside `understand`'s reading, named in the cell) are listed,
/// not failed; an unexpected mismatch fails.
#[test]
fn matrix_cases_mean_what_they_say() {
    let dir = fixtures().join("matrix");
    let tsv = std::fs::read_to_string(dir.join("intent.tsv")).expect("matrix/intent.tsv");
    let mut lines = tsv.lines();
    let cols: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let mut wrong = Vec::new();
    let mut known = Vec::new();
    let mut wrong_and_sure = 0;
    let mut n = 0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        n += 1;
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |col: &str| {
            cols.iter()
                .position(|c| *c == col)
                .and_then(|i| cells.get(i))
                .copied()
                .unwrap_or("")
        };
        let file = get("file");
        let v = inspect(&dir.join(file));
        let s = |x: &Value| x.as_str().unwrap_or("").to_string();
        let mut problems = Vec::new();
        let mut check = |what: &str, expected: &str, actual: String| {
            if expected != actual {
                problems.push(format!("{what} expected {expected:?}, got {actual:?}"));
            }
        };
        check("kind", get("kind"), s(&v["kind"]));
        if get("kind") == "rsvp" {
            check("response", get("response"), s(&v["rsvp"]["response"]));
            check("attendance", get("attendance"), s(&v["rsvp"]["attendance"]));
            check(
                "substitute",
                get("substitute"),
                s(&v["rsvp"]["substitute"]["name"]),
            );
            check(
                "substitute email",
                get("substitute_email"),
                s(&v["rsvp"]["substitute"]["email"]),
            );
            check(
                "extra attendee",
                get("extra"),
                s(&v["extra_attendee"]["name"]),
            );
            check("confidence", get("confidence"), s(&v["confidence"]));
            let readings: Vec<String> = v["readings"]
                .as_array()
                .map(|a| a.iter().map(s).collect())
                .unwrap_or_default();
            check("readings", get("readings"), readings.join(","));
        }
        check("on_behalf_of", get("on_behalf_of"), s(&v["on_behalf_of"]));
        check("decision", get("decision"), s(&v["decision"]));
        check(
            "agenda_title",
            get("agenda_title"),
            s(&v["agenda_item"]["title"]),
        );
        if !get("corrections").is_empty() {
            let count = v["corrections"].as_array().map(Vec::len).unwrap_or(0);
            check("corrections", get("corrections"), count.to_string());
        }
        // The quoted summons (its instruction text and example answer) is never read.
        let text = s(&v["reply_text"]);
        for leak in [
            "Kari Nordmann",
            "kari@ous-hf.no",
            "«kommer»",
            "\"attending\"",
            "skrev",
            "skreiv",
            "wrote:",
            "Opprinnelig melding",
            "Original Message",
            "Fra:",
            "Sendt fra min",
            "Sent from my",
            "Med vennlig hilsen",
        ] {
            if text.contains(leak) {
                problems.push(format!("reply_text keeps {leak:?}: {text:?}"));
            }
        }
        if text.lines().any(|l| l.trim_start().starts_with('>')) {
            problems.push(format!("reply_text keeps quoted lines: {text:?}"));
        }
        if problems.is_empty() {
            continue;
        }
        let answered = s(&v["rsvp"]["response"]);
        if get("kind") == "rsvp"
            && !answered.is_empty()
            && answered != get("response")
            && s(&v["confidence"]) == "sure"
        {
            wrong_and_sure += 1;
        }
        let report = format!("{file}: {}", problems.join("; "));
        if get("known").is_empty() {
            wrong.push(report);
        } else {
            known.push(format!("{report} [known: {}]", get("known")));
        }
    }
    let passed = n - wrong.len() - known.len();
    eprintln!(
        "matrix: {passed} of {n} cases read as intended ({:.1}%); {} known outside understand; {wrong_and_sure} answers wrong and sure",
        100.0 * passed as f64 / n.max(1) as f64,
        known.len()
    );
    for k in &known {
        eprintln!("  known: {k}");
    }
    assert!(
        wrong.is_empty(),
        "{} of {n} matrix cases misread:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
    assert!(n >= 600, "at least 600 matrix cases, found {n}");
}
