//! Did the proxies learn? Their target losses against an untrained model's `ln V` and against the
//! target's unigram entropy, measured at tokenize ([`ProxyLearning`], which the manifest stage writes
//! into the manifest's evidence and the answer block reads).

use crate::data::tokens::TokensIndex;
use crate::manifest::evidence::ProxyLearning;
use crate::regmix::fit::FitReport;
use crate::regmix::fit::metrics::median;

/// The proxies' learning on the fit's target, from the fit's measured target losses and the token
/// index's unigram entropies and text bytes of the target's domains (weighted as the target weighs
/// them; bits per byte convert each domain's tokens-per-byte with the same weights, which is exact for
/// a one-domain target). `None` when the fit has no runs.
pub fn proxy_learning(fit: &FitReport, index: &TokensIndex) -> Option<ProxyLearning> {
    let losses: Vec<f64> = fit.out_of_fold.iter().map(|o| o.measured).collect();
    let best = losses.iter().copied().reduce(f64::min)?;
    let median = median(&losses);
    let target = &fit.config.target;
    let domains: Option<Vec<_>> = (target.domains().iter())
        .map(|name| index.domains.iter().find(|d| &d.domain == name))
        .collect();
    let weighted = |value: &dyn Fn(&crate::data::tokens::TokenDomain) -> Option<f64>| {
        let domains = domains.as_ref()?;
        (domains.iter().zip(target.weights()))
            .map(|(d, w)| value(d).map(|v| v * w))
            .sum::<Option<f64>>()
    };
    let unigram_entropy = weighted(&|d| d.val_unigram_entropy);
    // Bits per byte of one nat per token.
    let per_nat = weighted(&|d| d.bits_per_byte(1.0));
    Some(ProxyLearning {
        median_target_loss: median,
        best_target_loss: best,
        untrained_loss: (index.vocab_size.max(2) as f64).ln(),
        unigram_entropy,
        median_bits_per_byte: per_nat.map(|f| f * median),
        unigram_bits_per_byte: per_nat.zip(unigram_entropy).map(|(f, h)| f * h),
        learned: unigram_entropy.map(|h| median < h),
    })
}

/// What the answer block adds when the proxies did not learn beyond the target's unigram entropy.
pub const NOT_TO_SHIP: &str = "Not an answer to ship: the proxies did not learn beyond the target's \
     token frequencies (the warning below says what to change).";

impl ProxyLearning {
    /// [`NOT_TO_SHIP`] when the proxies did not learn beyond the target's unigram entropy.
    pub fn refusal(&self) -> Option<&'static str> {
        (self.learned == Some(false)).then_some(NOT_TO_SHIP)
    }

    /// The losses in one line, as the answer block says them.
    pub fn sentence(&self) -> String {
        let bpb = |v: Option<f64>| v.map_or(String::new(), |v| format!(" ({v:.3} bits/byte)"));
        let unigram = self.unigram_entropy.map_or(String::new(), |h| {
            format!(
                ", the target's unigram entropy {h:.3}{}",
                bpb(self.unigram_bits_per_byte)
            )
        });
        format!(
            "Proxies: median target loss {:.3} nats/token{}, best {:.3}; an untrained model {:.3}{unigram}",
            self.median_target_loss,
            bpb(self.median_bits_per_byte),
            self.best_target_loss,
            self.untrained_loss
        )
    }
}
