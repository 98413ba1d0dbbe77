//! A council's composition rules: at most one leader and one deputy, at most N
//! representatives per organisation, a doctor among each organisation's
//! representatives. Broken rules are warnings: the coordinator decides.

use std::collections::BTreeMap;

use super::Role;
use crate::config::RosterRules;

/// What the rules need to know about one member.
#[derive(Debug, Clone, Copy)]
pub struct Seat<'a> {
    pub name: &'a str,
    pub organisation: Option<&'a str>,
    pub role: Role,
    pub doctor: bool,
}

/// Representatives are those who hold a seat: members, the leader and the deputy.
fn represents(role: Role) -> bool {
    matches!(role, Role::Member | Role::Leader | Role::Deputy)
}

/// Every broken rule, in a sentence each.
pub fn warnings(seats: &[Seat<'_>], rules: RosterRules) -> Vec<String> {
    let mut out = Vec::new();
    for (role, word) in [(Role::Leader, "leaders"), (Role::Deputy, "deputies")] {
        let names: Vec<&str> = seats
            .iter()
            .filter(|s| s.role == role)
            .map(|s| s.name)
            .collect();
        if names.len() > 1 {
            out.push(format!(
                "{} {word} ({}); a council has at most one",
                names.len(),
                names.join(", ")
            ));
        }
    }
    let mut by_org: BTreeMap<&str, Vec<&Seat<'_>>> = BTreeMap::new();
    for s in seats.iter().filter(|s| represents(s.role)) {
        if let Some(o) = s.organisation.filter(|o| !o.trim().is_empty()) {
            by_org.entry(o).or_default().push(s);
        }
    }
    for (org, reps) in &by_org {
        if let Some(max) = rules.max_per_organisation {
            if reps.len() > max as usize {
                out.push(format!(
                    "{org} has {} representatives ({}); the rule is at most {max}",
                    reps.len(),
                    reps.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if rules.doctor_per_organisation && !reps.iter().any(|s| s.doctor) {
            out.push(format!(
                "{org} has no doctor among its representatives ({})",
                reps.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat<'a>(name: &'a str, org: &'a str, role: Role, doctor: bool) -> Seat<'a> {
        Seat {
            name,
            organisation: Some(org),
            role,
            doctor,
        }
    }

    #[test]
    fn rules() {
        let rules = RosterRules {
            max_per_organisation: Some(2),
            doctor_per_organisation: true,
        };
        let ok = [
            seat("Kari", "OUS", Role::Leader, true),
            seat("Ola", "OUS", Role::Member, false),
            seat("Per", "Ahus", Role::Deputy, true),
            seat("Hdir", "Helsedirektoratet", Role::Observer, false),
        ];
        assert!(warnings(&ok, rules).is_empty());
        let bad = [
            seat("Kari", "OUS", Role::Leader, false),
            seat("Ola", "OUS", Role::Member, false),
            seat("Eva", "OUS", Role::Leader, false),
        ];
        let w = warnings(&bad, rules);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("2 leaders"));
        assert!(w[1].contains("at most 2"));
        assert!(w[2].contains("no doctor"));
        assert!(warnings(&bad, RosterRules::default()).len() == 1);
    }
}
