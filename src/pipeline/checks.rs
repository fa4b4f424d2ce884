//! The checks `remix run` makes once the token index exists and before any proxy trains: every
//! mistake a later stage would refuse after hours of training is refused here, naming the config key
//! to change. Names (`[regmix.fit] target`, `[validate] target`) are checked against the index's
//! domains, with the nearest name; budgets (`[regmix.sample]`, `[regmix.simulate]` and `[manifest]`
//! `train_tokens` against `max_epochs` times the training tokens); and the validation shards the
//! proxies are scored on against the context.

use anyhow::{Result, bail};

use super::context::Context;
use crate::data::tokens::TokensIndex;
use crate::manifest::WeightsFrom;
use crate::proxy::memory::StackMemory;
use crate::proxy::settings::TrainConfig;
use crate::regmix::mixture::epoch_caps;
use crate::regmix::simulate::{Proposer, SimulateConfig, feasible_candidates};

/// Runs every check of this module on the config of `cx` and its token index. Errors: the first
/// mistake found, naming the config key and what to do.
pub fn before_training(cx: &Context) -> Result<()> {
    let index = TokensIndex::read(&cx.tokens_dir())?;
    warmup(cx);
    names(cx, &index)?;
    budgets(cx, &index)?;
    validation_shards(cx, &index)?;
    device_memory(cx)
}

/// Errors: a stack of proxies the device cannot hold (`[proxy] parallel` proxies of the configured
/// shape, estimated by [`StackMemory`]), where the device has a budget (wgpu; not the CPU).
fn device_memory(cx: &Context) -> Result<()> {
    let device = cx.device()?;
    let config = &cx.config.proxy;
    let shape = cx.proxy_config()?.shape;
    let candidates = cx.config.regmix.as_ref().map_or(1, |r| r.largest_round());
    let stack = StackMemory::of(
        &shape,
        &config.train,
        config.parallel,
        device.stack_budget(),
        candidates,
    );
    stack.check(&device.label(), || {
        "lower [proxy] parallel (0 picks as many as fit), or [proxy.train] batch_size, [proxy] context \
         or d_model"
            .into()
    })
}

/// Logs a `[proxy.train] warmup_steps` cut to a tenth of the proxies' run ([`TrainConfig::warmup`]):
/// RegMix's default quietly (info), a value the config chose with a warning.
fn warmup(cx: &Context) {
    let train = &cx.config.proxy.train;
    let steps = train.steps(cx.config.proxy.context);
    let warmup = train.warmup(steps);
    if warmup < train.warmup_steps {
        let message = format!(
            "[proxy.train] warmup_steps = {} is more than a tenth of the proxies' {steps} steps: they \
             warm up over {warmup}",
            train.warmup_steps
        );
        if train.warmup_steps == TrainConfig::default().warmup_steps {
            tracing::info!("{message}");
        } else {
            tracing::warn!("{message}: set warmup_steps = {warmup} or fewer to say so");
        }
    }
}

/// Errors: a `[regmix.fit]` or `[validate]` target that is not a domain of the index, or one without
/// validation tokens (its loss is never measured).
fn names(cx: &Context, index: &TokensIndex) -> Result<()> {
    let domains: Vec<&str> = index.domains.iter().map(|d| d.domain.as_str()).collect();
    let mut targets = Vec::new();
    if let Some(regmix) = &cx.config.regmix {
        targets.push(("[regmix.fit] target", regmix.fit.target.domains()));
    }
    if let Some(validate) = &cx.config.validate {
        targets.push(("[validate] target", validate.target.domains()));
    }
    for (key, target) in targets {
        known_names(key, target, &domains)?;
        if let Some(unscored) = index
            .domains
            .iter()
            .find(|d| d.val_tokens == 0 && target.contains(&d.domain))
        {
            bail!(
                "{key} names `{}`, which has no validation tokens, so no proxy's loss on it is measured: \
                 name a domain with a validation split, or give it one ([tokenize] val_fraction or \
                 val_documents)",
                unscored.domain
            );
        }
    }
    Ok(())
}

/// Errors: a training budget the domains cannot supply at its epoch cap (the manifest's, the
/// candidates', the simulation's), or simulation caps looser than the manifest's (its optimum would be
/// refused by the manifest stage).
fn budgets(cx: &Context, index: &TokensIndex) -> Result<()> {
    let config = cx.config;
    let tokens: Vec<u64> = index.training_domains().map(|d| d.tokens).collect();
    let total: u64 = tokens.iter().sum();
    let manifest = &config.manifest;
    if !manifest.allow_repeat {
        budget(
            total,
            manifest.train_tokens,
            "[manifest] train_tokens",
            manifest.max_epochs,
            "[manifest] max_epochs",
        )
        .map_err(|e| anyhow::anyhow!("{e}, or set [manifest] allow_repeat = true"))?;
    }
    let Some(regmix) = &config.regmix else {
        return Ok(());
    };
    let sample = cx.sample_config();
    let key = match regmix.sample.train_tokens {
        Some(_) => "[regmix.sample] train_tokens",
        None => "[proxy.train] train_tokens",
    };
    if let Some(tokens) = sample.train_tokens {
        budget(
            total,
            tokens,
            key,
            sample.max_epochs,
            "[regmix.sample] max_epochs",
        )?;
    }
    let simulate = cx.simulate_config();
    let key = match regmix.simulate.train_tokens {
        Some(_) => "[regmix.simulate] train_tokens",
        None => "[manifest] train_tokens",
    };
    let simulated_tokens = simulate.train_tokens.unwrap_or(manifest.train_tokens);
    budget(
        total,
        simulated_tokens,
        key,
        simulate.max_epochs,
        "[regmix.simulate] max_epochs",
    )?;
    let drawn = SimulateConfig {
        train_tokens: Some(simulated_tokens),
        ..simulate.clone()
    };
    // The exact proposer needs no drawn candidate: it runs where asked, and under `auto` when every
    // regressor the fit may choose is a mixing law.
    let exact = match simulate.proposer {
        Proposer::Exact => true,
        Proposer::Sample => false,
        Proposer::Auto => regmix.fit.regressors.iter().all(|r| r.is_law()),
    };
    if !exact && feasible_candidates(&tokens, &drawn) == 0 {
        bail!(
            "none of the [regmix.simulate] candidates = {} mixtures the simulation draws obeys its epoch caps \
             ({} epochs of a {simulated_tokens}-token run, [regmix.simulate] max_epochs and {key}): raise \
             max_epochs, lower the budget, raise candidates, or set [regmix.simulate] proposer = \"exact\" \
             (with regressors convex in the weights: ols, ridge, log_linear, mixing_law, power_law)",
            simulate.candidates,
            simulate.max_epochs
        );
    }
    if config.weights_from()? == WeightsFrom::Regmix && !manifest.allow_repeat {
        // The optimum obeys the simulation's caps (a domain's weight at most max_epochs x its tokens /
        // train_tokens, and at most 1); the manifest refuses one beyond its own, so no domain's may be
        // looser.
        let simulated = epoch_caps(&tokens, simulated_tokens, simulate.max_epochs);
        let written = epoch_caps(&tokens, manifest.train_tokens, manifest.max_epochs);
        if simulated
            .iter()
            .zip(&written)
            .any(|(s, w)| *s > w * (1.0 + 1e-9))
        {
            bail!(
                "[regmix.simulate] allows more repetition ({} epochs of a {simulated_tokens}-token run) than \
                 [manifest] ({} epochs of {}), which would refuse the optimum after training: set \
                 [regmix.simulate] max_epochs and train_tokens to the manifest's (or leave them unset)",
                simulate.max_epochs,
                manifest.max_epochs,
                manifest.train_tokens
            );
        }
    }
    Ok(())
}

/// Errors: a domain whose validation shard holds less than one sequence of `[proxy] context` + 1
/// tokens (every proxy is scored on every domain's).
fn validation_shards(cx: &Context, index: &TokensIndex) -> Result<()> {
    let context = cx.config.proxy.context as u64;
    let section = if cx.config.import().is_some() {
        "[tokens.import]"
    } else {
        "[tokenize]"
    };
    let short: Vec<String> = index
        .domains
        .iter()
        .filter(|d| d.val_tokens < context + 1)
        .map(|d| format!("`{}` ({} tokens)", d.domain, d.val_tokens))
        .collect();
    if !short.is_empty() {
        bail!(
            "the proxies are scored on validation sequences of [proxy] context + 1 = {} tokens, and the \
             validation shards of {} hold less: raise {section} val_fraction or val_documents, or lower \
             [proxy] context",
            context + 1,
            short.join(", ")
        );
    }
    Ok(())
}

/// Errors: a name of `names` (the values of config key `key`) that is not one of `domains`, with the
/// nearest domain when one is close.
fn known_names(key: &str, names: &[String], domains: &[&str]) -> Result<()> {
    for name in names {
        if domains.contains(&name.as_str()) {
            continue;
        }
        let nearest = domains
            .iter()
            .map(|d| (strsim::damerau_levenshtein(name, d), *d))
            .min()
            .filter(|(distance, _)| *distance <= name.len().max(3) / 2 + 1)
            .map(|(_, d)| format!(" (did you mean `{d}`?)"))
            .unwrap_or_default();
        bail!(
            "{key} names `{name}`, which is not a domain of the token index{nearest}; its domains: {}",
            domains.join(", ")
        );
    }
    Ok(())
}

/// Errors: `train_tokens` (config key `key`) more than the `total` training tokens can supply repeated
/// at most `max_epochs` times (config key `epochs_key`).
fn budget(
    total: u64,
    train_tokens: u64,
    key: &str,
    max_epochs: f64,
    epochs_key: &str,
) -> Result<()> {
    let supply = total as f64 * max_epochs;
    if train_tokens as f64 > supply {
        bail!(
            "{key} = {train_tokens}, but the {total} training tokens repeated at most {epochs_key} = \
             {max_epochs} times supply {supply:.0}: lower {key} or raise {epochs_key}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_name_gets_the_nearest_domain() {
        let domains = ["email_ham", "code", "novel"];
        let error = known_names("[regmix.fit] target", &["email-ham".into()], &domains)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[regmix.fit] target names `email-ham`")
                && error.contains("did you mean `email_ham`?"),
            "{error}"
        );
        let far = known_names("[validate] target", &["wikipedia".into()], &domains)
            .unwrap_err()
            .to_string();
        assert!(!far.contains("did you mean"), "{far}");
        known_names("[validate] target", &["code".into()], &domains).unwrap();
    }

    #[test]
    fn a_budget_beyond_the_epoch_cap_names_both_keys() {
        budget(
            1000,
            4000,
            "[manifest] train_tokens",
            4.0,
            "[manifest] max_epochs",
        )
        .unwrap();
        let error = budget(
            1000,
            4001,
            "[manifest] train_tokens",
            4.0,
            "[manifest] max_epochs",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("[manifest] train_tokens = 4001")
                && error.contains("[manifest] max_epochs = 4"),
            "{error}"
        );
    }
}
