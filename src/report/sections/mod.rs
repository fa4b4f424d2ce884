//! One function per report section; each returns `None` when its stage has not run.

mod answer;
mod choice;
mod clusters;
mod corpus;
mod inputs;
mod laws;
mod reuse;
mod search;

pub use answer::answer;
pub use choice::{doremi, manifests, validate};
pub use clusters::clusters;
pub use corpus::{dedup, stats, tokens};
pub use reuse::reuse;
pub use search::{candidates, fit, optimum, rounds, runs};
