//! A spreadsheet attachment (`.xlsx`, `.ods`) read as the CSV text a roster is: the
//! first sheet, one line a row, cells quoted where they need it. The file comes from
//! outside and is a zip archive, so its size once unpacked is checked from the
//! archive's own directory before anything is unpacked: a small file that would unpack
//! to gigabytes is refused, not read.

use std::io::Cursor;

use calamine::{Data, Reader};

/// Most bytes the archive may hold unpacked.
const MAX_UNPACKED: u64 = 32 * 1024 * 1024;
/// Most files in the archive (a spreadsheet has a few dozen).
const MAX_ENTRIES: usize = 2_000;
/// Most rows and columns read: a roster, not a data set.
const MAX_ROWS: usize = 5_000;
const MAX_COLUMNS: usize = 50;

/// Whether a file name is a spreadsheet this module reads.
pub fn is_readable_sheet(name: &str) -> bool {
    let n = name.to_lowercase();
    n.ends_with(".xlsx") || n.ends_with(".ods")
}

/// The first sheet of a spreadsheet as CSV text, or why it cannot be read.
pub fn first_sheet_as_csv(bytes: &[u8]) -> Result<String, String> {
    check_archive(bytes)?;
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("not a spreadsheet that can be read: {e}"))?;
    let first = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| "the spreadsheet has no sheet".to_string())?;
    let range = book
        .worksheet_range(&first)
        .map_err(|e| format!("the sheet {first:?} cannot be read: {e}"))?;
    let mut out = String::new();
    for row in range.rows().take(MAX_ROWS) {
        let cells: Vec<String> = row.iter().take(MAX_COLUMNS).map(cell).collect();
        // Rows left empty in the sheet are not roster lines.
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}

/// The archive's directory: how much it unpacks to, before anything is unpacked.
fn check_archive(bytes: &[u8]) -> Result<(), String> {
    let archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a spreadsheet that can be read: {e}"))?;
    if archive.len() > MAX_ENTRIES {
        return Err(format!(
            "the spreadsheet holds {} files; at most {MAX_ENTRIES} are read",
            archive.len()
        ));
    }
    let unpacked = archive.decompressed_size().unwrap_or(u128::MAX);
    if unpacked > u128::from(MAX_UNPACKED) {
        return Err(format!(
            "the spreadsheet unpacks to more than {} MB; send it as CSV",
            MAX_UNPACKED / (1024 * 1024)
        ));
    }
    Ok(())
}

/// One cell as CSV: text as written, numbers without a needless ".0", quoted when it
/// holds a comma, a quote or a line break.
fn cell(c: &Data) -> String {
    let text = match c {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    };
    let text = text.trim().to_string();
    if text.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROSTER: &[u8] = include_bytes!("../../tests/fixtures/roster/medlemmer.xlsx");

    #[test]
    fn reads_the_first_sheet_as_csv() {
        let csv = first_sheet_as_csv(ROSTER).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "name,email,org,role,doctor");
        assert_eq!(lines[1], "Ola Nordmann,ola@hf.example,,member,no");
        assert_eq!(
            lines[4],
            "\"Åse Ødegård, dr.\",ase@hf.example,OUS,member,ja"
        );
        assert_eq!(lines.len(), 5);
        let members = crate::council::parse_members_csv(&csv).unwrap();
        assert_eq!(members.len(), 4);
        assert_eq!(members[3].name, "Åse Ødegård, dr.");
    }

    #[test]
    fn refuses_what_is_not_a_spreadsheet_or_unpacks_too_far() {
        assert!(first_sheet_as_csv(b"name,email\n").is_err());
        assert!(first_sheet_as_csv(&ROSTER[..ROSTER.len() / 2]).is_err());
        // A zip whose one file unpacks to 40 MB of zeros: refused from the directory.
        let mut bomb = Vec::new();
        {
            use std::io::Write;
            let mut w = zip::ZipWriter::new(Cursor::new(&mut bomb));
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
            let zeros = vec![0u8; 1024 * 1024];
            for _ in 0..40 {
                w.write_all(&zeros).unwrap();
            }
            w.finish().unwrap();
        }
        assert!(bomb.len() < 1024 * 1024, "small packed: {}", bomb.len());
        let e = first_sheet_as_csv(&bomb).unwrap_err();
        assert!(e.contains("unpacks to more than"), "{e}");
        assert!(is_readable_sheet("Medlemmer.XLSX") && is_readable_sheet("a.ods"));
        assert!(!is_readable_sheet("a.xls") && !is_readable_sheet("a.csv"));
    }
}
