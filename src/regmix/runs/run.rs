//! One proxy run ([`Run`]) and a whole runs table ([`RunsTable`]), as [`super::table`] reads and writes
//! them and the fit reads them.

/// Weights must sum to 1 within this tolerance; RegMix's published weights are rounded to 3 decimals.
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-3;

/// The `status` of a run whose losses are final; the fit uses only these.
pub const FINISHED: &str = "finished";

/// One proxy run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub run_id: String,
    pub seed: Option<u64>,
    /// The search round that proposed its mixture (1 = the sampled candidates; later rounds centre on
    /// the optimum so far, [`crate::regmix::rounds`]); `None` without rounds.
    pub round: Option<u32>,
    pub proxy_config_hash: Option<String>,
    /// One weight per [`RunsTable::domains`] entry.
    pub weights: Vec<f64>,
    pub tokens_trained: Option<u64>,
    pub wall_time_s: Option<f64>,
    pub device: Option<String>,
    /// One loss per [`RunsTable::loss_domains`] entry; `None` where the run has no loss for it.
    pub losses: Vec<Option<f64>>,
    /// The sampling error of each loss (its standard error over the validation sequences, nats), in
    /// the same order; `None` where unknown (runs imported from RegMix's published losses).
    pub loss_errors: Vec<Option<f64>>,
    pub status: String,
}

/// A whole runs table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsTable {
    /// Training domains, in weight-column order.
    pub domains: Vec<String>,
    /// Evaluated domains, in loss-column order.
    pub loss_domains: Vec<String>,
    pub runs: Vec<Run>,
    /// Under mixture reuse, the domains every run kept in fixed proportions
    /// ([`crate::regmix::frozen`]): the fit works in the reduced space. Stored in the Parquet
    /// metadata.
    pub frozen: Option<crate::regmix::frozen::FrozenBlock>,
}

impl RunsTable {
    /// The index of an evaluated domain, or an error listing the ones there are.
    pub fn loss_index(&self, domain: &str) -> anyhow::Result<usize> {
        self.loss_domains.iter().position(|d| d == domain).ok_or_else(|| {
            anyhow::anyhow!(
                "`{domain}` is not an evaluated domain of this runs table; it has losses for: {}",
                self.loss_domains.join(", ")
            )
        })
    }
}
