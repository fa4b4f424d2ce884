//! The runs of a mixture-reuse search in the reduced space the fit works in: the free domains and
//! the frozen block ([`Reduction`]), with a loss column for the block.

use std::borrow::Cow;

use anyhow::Result;

use super::run::RunsTable;
use crate::regmix::frozen::{BLOCK_NAME, FrozenBlock, Reduction};

impl RunsTable {
    /// The table as the fit reads it: under mixture reuse, [`Self::reduced`] to the free domains and
    /// the frozen block; otherwise itself. Errors: as [`Self::reduced`].
    pub fn as_fitted(&self) -> Result<Cow<'_, RunsTable>> {
        Ok(match &self.frozen {
            Some(block) => Cow::Owned(self.reduced(block)?),
            None => Cow::Borrowed(self),
        })
    }

    /// The runs of a reuse search in the reduced space ([`Reduction`]): weights reduced, and a loss
    /// column for the block (the ratio-weighted mean of its domains' losses, none where one is missing;
    /// its standard error likewise, an upper bound since the domains' errors need not be independent).
    /// Errors: a block the table's domains lack.
    pub fn reduced(&self, block: &FrozenBlock) -> Result<RunsTable> {
        let table = self;
        let reduction = Reduction::new(&table.domains, block)?;
        let own_loss: Vec<Option<usize>> = table
            .domains
            .iter()
            .map(|d| table.loss_domains.iter().position(|l| l == d))
            .collect();
        let mut loss_domains = table.loss_domains.clone();
        loss_domains.push(BLOCK_NAME.to_string());
        let runs = table
            .runs
            .iter()
            .map(|run| {
                let own = |values: &[Option<f64>]| -> Vec<f64> {
                    own_loss
                        .iter()
                        .map(|c| c.and_then(|c| values[c]).unwrap_or(f64::NAN))
                        .collect()
                };
                let block_value = |values: &[Option<f64>]| {
                    reduction
                        .reduce_losses(&own(values))
                        .last()
                        .copied()
                        .filter(|v| v.is_finite())
                };
                let mut run = run.clone();
                run.weights = reduction.reduce(&run.weights);
                let (loss, error) = (block_value(&run.losses), block_value(&run.loss_errors));
                run.losses.push(loss);
                run.loss_errors.push(error);
                run
            })
            .collect();
        Ok(RunsTable {
            domains: reduction.names(),
            loss_domains,
            runs,
            frozen: None,
        })
    }
}
