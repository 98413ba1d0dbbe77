//! Fuzzes the understanding entry point (what `referent inspect` and the daemon run on
//! every message) without its panic guard, and the text functions on raw input.
//!
//! RUSTC_BOOTSTRAP=1 cargo fuzz run understand fuzz/corpus/understand fuzz/seeds -- -max_total_time=600
//!
//! mail-parser itself has known panics (its issues #21, #145; one found here is kept in
//! tests/fixtures/malformed/). The daemon contains them with catch_unwind; this target
//! steps over them so the search goes on into referent's own code, where any panic is
//! a finding.
#![no_main]

use std::panic::{catch_unwind, set_hook, take_hook};

use libfuzzer_sys::fuzz_target;
use referent::understand::{self, text, Limits};

fn mail_parser_panics(data: &[u8]) -> bool {
    let hook = take_hook();
    set_hook(Box::new(|_| {}));
    let panicked = catch_unwind(|| {
        let _ = mail_parser::MessageParser::default().parse(data);
    })
    .is_err();
    set_hook(hook);
    panicked
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_text: 64 * 1024,
    };
    if !mail_parser_panics(data) {
        let u = understand::understand_unguarded(data, limits);
        let _ = understand::Inspection::from(&u);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = text::reply_text(s);
        let _ = text::html_to_text(s);
        let _ = understand::rsvp::read_answer(s);
        let _ = understand::forward::find(s, true);
        let _ = understand::itip::read(s);
        let _ = understand::secretariat::read_corrections(s);
    }
});
