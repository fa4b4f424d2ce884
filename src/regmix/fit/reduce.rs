//! A fitted model under mixture reuse: it reads the reduced weights (the free domains, then the frozen
//! block's total, [`Reduction`]), so full mixtures are reduced before it predicts.

use anyhow::Result;

use crate::regmix::frozen::Reduction;

use super::FitModel;

impl FitModel {
    /// The reduced space of a reuse fit, `None` otherwise. Errors: a block the domains lack.
    pub fn reduction(&self) -> Result<Option<Reduction>> {
        self.frozen
            .as_ref()
            .map(|b| Reduction::new(&self.domains, b))
            .transpose()
    }

    /// The predicted target loss of each mixture of `rows` (weights in [`Self::domains`] order),
    /// reduced first under reuse. Errors: as [`Self::reduction`].
    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        Ok(match self.reduction()? {
            Some(r) => self
                .model
                .predict(&rows.iter().map(|w| r.reduce(w)).collect::<Vec<_>>()),
            None => self.model.predict(rows),
        })
    }
}
