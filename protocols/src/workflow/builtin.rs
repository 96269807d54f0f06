//! The workflows faultline ships, each a file under `protocols/workflows/`
//! read like a team's own: the shop is one workflow among them.

use super::{file, Workflow};
use std::sync::{Arc, OnceLock};

/// The name of the workflow a scenario runs on unless it names another.
pub const DEFAULT: &str = "shop";

/// Each built-in workflow's file name and text.
const FILES: [(&str, &str); 4] = [
    ("shop.toml", include_str!("../../workflows/shop.toml")),
    ("payment-first.toml", include_str!("../../workflows/payment-first.toml")),
    ("marketplace.toml", include_str!("../../workflows/marketplace.toml")),
    ("cached-flash-sale.toml", include_str!("../../workflows/cached-flash-sale.toml")),
];

/// Every built-in workflow, parsed once.
pub fn all() -> &'static [Arc<Workflow>] {
    static ALL: OnceLock<Vec<Arc<Workflow>>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, text)| match file::parse(&format!("protocols/workflows/{name}"), text) {
                Ok(w) => Arc::new(w),
                // The files are part of the build and tested: a broken one is ours.
                Err(e) => panic!("built-in workflow: {e}"),
            })
            .collect()
    })
}

/// The built-in workflow named `name`.
pub fn named(name: &str) -> Option<Arc<Workflow>> {
    all().iter().find(|w| w.name == name).cloned()
}

/// The shop, faultline's own workflow.
pub fn shop() -> Arc<Workflow> {
    named(DEFAULT).expect("the shop is built in")
}
