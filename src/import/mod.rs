//! What other systems export, brought into the store: ad costs and Search Console
//! query reports.

pub mod costs;
pub mod search_console;
