//! Where a visit came from, as every table row names it, and the pseudo-names rows
//! use for what is unknown.

/// The keyword of a conversion no touch in the window can take credit for.
pub const UNATTRIBUTED: &str = "(unattributed)";
/// Source and medium of a conversion credited by a search-preference cookie or a
/// purchase record's keyword column: the term is known, the visit is not.
pub const SEARCH_PREFERENCE_SOURCE: &str = "(search preference)";
pub const SEARCH_PREFERENCE_MEDIUM: &str = "cookie";

/// The keyword of a search visit whose engine sent no term.
pub const NOT_PROVIDED: &str = "(not provided)";
pub const DIRECT: &str = "(direct)";
pub const NONE: &str = "(none)";
pub const NOT_SET: &str = "(not set)";

/// Where a visit came from: source, medium, keyword and campaign of a `keyword_daily` row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Channel {
    pub source: String,
    pub medium: String,
    pub keyword: Option<String>,
    pub campaign: Option<String>,
}

impl Channel {
    pub fn direct() -> Self {
        Channel {
            source: DIRECT.into(),
            medium: NONE.into(),
            keyword: None,
            campaign: None,
        }
    }

    pub fn is_direct(&self) -> bool {
        self.source == DIRECT && self.medium == NONE
    }

    pub fn is_organic_search(&self) -> bool {
        self.medium == "organic"
    }
}
