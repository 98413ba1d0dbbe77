//! Fuzzes the whole act path: a message stored and acted on against a small fixed
//! council (trust, threading, keys, workflow, composing the mail it causes, the
//! scheduler after it), with the panic guard off so any panic is a finding.
//!
//! mkdir -p /dev/shm/referent-fuzz && cd fuzz && \
//! RUSTC_BOOTSTRAP=1 cargo fuzz run act corpus/act seeds-act -- -max_total_time=600
//!
//! The state lives under /dev/shm (REFERENT_FUZZ_DIR to change): every input commits.
#![no_main]

use std::panic::{catch_unwind, set_hook, take_hook};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use referent::daemon::fuzzing::ActHarness;

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

fn harness() -> &'static ActHarness {
    static H: OnceLock<ActHarness> = OnceLock::new();
    H.get_or_init(|| {
        let base = std::env::var("REFERENT_FUZZ_DIR").unwrap_or_else(|_| "/dev/shm".into());
        let dir = std::path::Path::new(&base).join(format!("referent-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fuzz state folder");
        ActHarness::new(&dir).expect("the fixed state")
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    // mail-parser's own known panics are contained by the daemon; step over them so
    // the search goes on into referent's code.
    if mail_parser_panics(&h.fill(data)) {
        return;
    }
    h.act(data);
});
