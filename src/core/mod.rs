//! What every stage shares: the work directory and its completion markers ([`workdir`]), the slice of a
//! split stage's work one task takes ([`tasks`]), domain names and the file names they become
//! ([`domain`]), progress bars ([`progress`]), log output ([`logging`]), panics of libraries turned into
//! errors ([`panic`]), corpus files in object stores ([`store`]) and the allocator setting that keeps a training step's large blocks
//! ([`allocator`]). Nothing here knows a stage.

pub mod allocator;
pub mod domain;
pub mod headless;
pub mod lock;
pub mod logging;
pub mod panic;
pub mod paths;
pub mod progress;
pub mod store;
pub mod tasks;
pub mod text_form;
pub mod workdir;

/// The seed of every stage when none is given: 0, so two runs of the same settings agree (a pipeline
/// config's `seed`, and each subcommand's `--seed`).
pub const DEFAULT_SEED: u64 = 0;
