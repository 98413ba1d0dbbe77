//! Embeds every template under `templates/` (one folder per language, and the example
//! data in `templates/examples/`) into the binary, so a new template is picked up by
//! adding its file: no list to keep in step by hand.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=templates");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut out = String::from("/// (folder, file stem, text) of every embedded template and example.\npub const EMBEDDED: &[(&str, &str, &str)] = &[\n");
    let mut entries = Vec::new();
    for folder in ["nb", "nn", "en", "examples"] {
        let dir = root.join(folder);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str());
            if !matches!(ext, Some("hbs") | Some("json")) {
                continue;
            }
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            entries.push((
                folder.to_string(),
                stem.to_string(),
                path.display().to_string(),
            ));
        }
    }
    entries.sort();
    for (folder, stem, path) in entries {
        let _ = writeln!(out, "    ({folder:?}, {stem:?}, include_str!({path:?})),");
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("templates.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
        std::process::exit(1);
    }
}
