//! A council's roster sent by mail as a file, compared with the roster as stored: who
//! is added, whose details change (and which), who leaves. Pure: the daemon reads the
//! file with the import's reader, loads the council's members, shows the difference
//! to the coordinator and, on «bekreft», applies it as `member add`, `member update`
//! and `member remove` do.
//!
//! A coordinator is never removed by a file that leaves them out: the spreadsheet a
//! council keeps lists its members, and the secretariat's own people are often not on
//! it. They are listed as kept, so the coordinator sees why.

use serde::Serialize;

use crate::domain::{Language, Role};

/// One person, as stored (`id`) or as the file has them (`id` 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub email: String,
    pub organisation: Option<String>,
    pub role: Role,
    pub doctor: bool,
    pub language: Option<Language>,
    pub vara: Option<String>,
}

/// The optional columns the file has. A column that is not there changes nothing: a
/// file without `language` does not take everyone's language away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Columns {
    pub organisation: bool,
    pub role: bool,
    pub doctor: bool,
    pub language: bool,
    pub vara: bool,
}

impl Columns {
    /// Every column present.
    pub const ALL: Columns = Columns {
        organisation: true,
        role: true,
        doctor: true,
        language: true,
        vara: true,
    };

    /// From the file's header (lowercased names).
    pub fn from_header(names: &[String]) -> Columns {
        let has = |n: &str| names.iter().any(|h| h == n);
        Columns {
            organisation: has("org"),
            role: has("role"),
            doctor: has("doctor"),
            language: has("language"),
            vara: has("vara"),
        }
    }
}

/// One field that changes, with its value before and after (as the template shows
/// them: text, a role's code, a language's code, or true/false for `doctor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// A member whose details change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub before: Person,
    /// The member as they are to be (the stored values for columns the file lacks).
    pub after: Person,
    pub changes: Vec<FieldChange>,
}

/// The difference between the stored roster and the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<Person>,
    pub changed: Vec<Changed>,
    pub leaving: Vec<Person>,
    /// Coordinators the file leaves out, who stay.
    pub kept: Vec<Person>,
}

impl Diff {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.leaving.is_empty()
    }
}

/// Why a file cannot be compared; the `roster` template says each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// No member in the file: taken literally, everyone would leave.
    Empty,
    /// The same address more than once (addresses compared without case).
    Duplicate { email: String },
}

fn key(address: &str) -> String {
    address.trim().to_lowercase()
}

fn text(v: &Option<String>) -> serde_json::Value {
    v.clone().map_or(serde_json::Value::Null, Into::into)
}

fn code<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The stored member as the file wants them, and what changes.
fn compare(before: &Person, file: &Person, cols: Columns) -> Changed {
    let mut after = before.clone();
    let mut changes = Vec::new();
    if file.name != before.name {
        changes.push(FieldChange {
            field: "name",
            from: before.name.clone().into(),
            to: file.name.clone().into(),
        });
        after.name = file.name.clone();
    }
    // The address as written in the file, when it differs only by case.
    if file.email != before.email {
        changes.push(FieldChange {
            field: "email",
            from: before.email.clone().into(),
            to: file.email.clone().into(),
        });
        after.email = file.email.clone();
    }
    if cols.organisation && file.organisation != before.organisation {
        changes.push(FieldChange {
            field: "organisation",
            from: text(&before.organisation),
            to: text(&file.organisation),
        });
        after.organisation = file.organisation.clone();
    }
    if cols.role && file.role != before.role {
        changes.push(FieldChange {
            field: "role",
            from: code(&before.role.as_str()),
            to: code(&file.role.as_str()),
        });
        after.role = file.role;
    }
    if cols.doctor && file.doctor != before.doctor {
        changes.push(FieldChange {
            field: "doctor",
            from: before.doctor.into(),
            to: file.doctor.into(),
        });
        after.doctor = file.doctor;
    }
    if cols.language && file.language != before.language {
        changes.push(FieldChange {
            field: "language",
            from: code(&before.language),
            to: code(&file.language),
        });
        after.language = file.language;
    }
    if cols.vara && file.vara.as_deref().map(key) != before.vara.as_deref().map(key) {
        changes.push(FieldChange {
            field: "vara",
            from: text(&before.vara),
            to: text(&file.vara),
        });
        after.vara = file.vara.clone();
    }
    Changed {
        before: before.clone(),
        after,
        changes,
    }
}

/// The difference between `current` (the council's members as stored) and `file`
/// (the rows of the roster sent, with the optional columns it has). Addresses are
/// compared without case. In the order of the file for the added and changed, of the
/// roster for the leaving and kept.
pub fn diff(current: &[Person], file: &[Person], cols: Columns) -> Result<Diff, Problem> {
    if file.is_empty() {
        return Err(Problem::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    for p in file {
        if !seen.insert(key(&p.email)) {
            return Err(Problem::Duplicate {
                email: p.email.clone(),
            });
        }
    }
    let mut d = Diff::default();
    for p in file {
        match current.iter().find(|c| key(&c.email) == key(&p.email)) {
            None => d.added.push(p.clone()),
            Some(c) => {
                let ch = compare(c, p, cols);
                if !ch.changes.is_empty() {
                    d.changed.push(ch);
                }
            }
        }
    }
    for c in current {
        if seen.contains(&key(&c.email)) {
            continue;
        }
        if c.role == Role::Coordinator {
            d.kept.push(c.clone());
        } else {
            d.leaving.push(c.clone());
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: i64, name: &str, email: &str, role: Role) -> Person {
        Person {
            id,
            name: name.into(),
            email: email.into(),
            organisation: Some("OUS HF".into()),
            role,
            doctor: false,
            language: None,
            vara: None,
        }
    }

    fn stored() -> Vec<Person> {
        vec![
            p(
                1,
                "Eldbjørg Koordinator",
                "koord@hf.example",
                Role::Coordinator,
            ),
            p(2, "Ola Nordmann", "ola@hf.example", Role::Member),
            p(3, "Kari Hansen", "kari@hf.example", Role::Member),
            p(4, "Lene Leder", "lene@hf.example", Role::Leader),
        ]
    }

    #[test]
    fn added_changed_and_leaving() {
        let mut kari = p(0, "Kari Hansen", "kari@hf.example", Role::Deputy);
        kari.doctor = true;
        kari.organisation = Some("Ahus".into());
        let file = vec![
            p(0, "Ola Nordmann", "ola@hf.example", Role::Member),
            kari,
            p(0, "Per Ny", "per@hf.example", Role::Member),
            p(
                0,
                "Eldbjørg Koordinator",
                "koord@hf.example",
                Role::Coordinator,
            ),
        ];
        let d = diff(&stored(), &file, Columns::ALL).unwrap();
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].email, "per@hf.example");
        assert_eq!(d.changed.len(), 1);
        let c = &d.changed[0];
        assert_eq!(c.before.id, 3);
        let fields: Vec<&str> = c.changes.iter().map(|f| f.field).collect();
        assert_eq!(fields, vec!["organisation", "role", "doctor"]);
        assert_eq!(c.after.role, Role::Deputy);
        assert_eq!(c.after.name, "Kari Hansen");
        assert_eq!(d.leaving.len(), 1);
        assert_eq!(d.leaving[0].id, 4);
        assert!(d.kept.is_empty());
        assert!(!d.is_empty());
    }

    #[test]
    fn addresses_are_compared_without_case() {
        let file = vec![
            p(0, "Ola Nordmann", "OLA@HF.example", Role::Member),
            p(0, "Kari Hansen", "kari@hf.example", Role::Member),
            p(0, "Lene Leder", "Lene@hf.example", Role::Leader),
        ];
        let d = diff(&stored(), &file, Columns::ALL).unwrap();
        assert!(d.added.is_empty());
        assert!(d.leaving.is_empty());
        // The case as written is taken, and shown as a change of address.
        assert_eq!(d.changed.len(), 2);
        assert!(d
            .changed
            .iter()
            .all(|c| c.changes.len() == 1 && c.changes.first().map(|f| f.field) == Some("email")));
    }

    #[test]
    fn a_coordinator_left_out_is_kept() {
        let file = vec![
            p(0, "Ola Nordmann", "ola@hf.example", Role::Member),
            p(0, "Kari Hansen", "kari@hf.example", Role::Member),
            p(0, "Lene Leder", "lene@hf.example", Role::Leader),
        ];
        let d = diff(&stored(), &file, Columns::ALL).unwrap();
        assert!(d.leaving.is_empty());
        assert_eq!(d.kept.len(), 1);
        assert_eq!(d.kept[0].role, Role::Coordinator);
        assert!(d.is_empty());
    }

    #[test]
    fn the_same_address_twice_is_refused() {
        let file = vec![
            p(0, "Ola Nordmann", "ola@hf.example", Role::Member),
            p(0, "Ola N.", "Ola@hf.example", Role::Member),
        ];
        assert_eq!(
            diff(&stored(), &file, Columns::ALL),
            Err(Problem::Duplicate {
                email: "Ola@hf.example".into()
            })
        );
    }

    #[test]
    fn an_empty_file_removes_no_one() {
        assert_eq!(diff(&stored(), &[], Columns::ALL), Err(Problem::Empty));
    }

    #[test]
    fn a_missing_column_changes_nothing() {
        // Only name and email: roles, organisations and languages stay as they are.
        let mut file: Vec<Person> = stored()
            .into_iter()
            .map(|mut s| {
                s.id = 0;
                s.role = Role::Member;
                s.organisation = None;
                s
            })
            .collect();
        file.retain(|s| s.email != "koord@hf.example");
        let cols = Columns::from_header(&["name".into(), "email".into()]);
        let d = diff(&stored(), &file, cols).unwrap();
        assert!(d.is_empty(), "{d:?}");
        let d = diff(&stored(), &file, Columns::ALL).unwrap();
        assert_eq!(d.changed.len(), 3);
    }
}
