//! The agenda side of a council's year, decided without I/O: closing a meeting's
//! agenda, the attendance list, decisions on proposals. The daemon loads what a
//! decision needs, calls a function here with the time, and commits what it returns.

/// The items every agenda has besides the proposals: two opening items and
/// "Eventuelt" last. Stored with their code as the title (kind `fixed`); the words
/// are the templates' (`_agenda_item.hbs`), so each reader gets them in their language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedItem {
    /// Approval of the summons and agenda.
    ApproveSummons,
    /// Approval of the minutes of the last meeting.
    ApproveMinutes,
    /// Any other business ("Eventuelt").
    AnyOtherBusiness,
}

impl FixedItem {
    /// The items before the proposals, in order.
    pub const OPENING: [FixedItem; 2] = [FixedItem::ApproveSummons, FixedItem::ApproveMinutes];
    /// The item after the proposals.
    pub const CLOSING: FixedItem = FixedItem::AnyOtherBusiness;

    /// The stable code the templates know the item by.
    pub fn code(self) -> &'static str {
        match self {
            FixedItem::ApproveSummons => "approve_summons",
            FixedItem::ApproveMinutes => "approve_minutes",
            FixedItem::AnyOtherBusiness => "any_other_business",
        }
    }

    /// The item a stored title names; `None` for an agenda closed before the codes
    /// (its titles are words, shown as they are).
    pub fn parse(code: &str) -> Option<FixedItem> {
        [
            FixedItem::ApproveSummons,
            FixedItem::ApproveMinutes,
            FixedItem::AnyOtherBusiness,
        ]
        .into_iter()
        .find(|f| f.code() == code)
    }
}
