//! Exports: a manifest rendered in each trainer's own syntax.
//!
//! Every export is a file beside the manifest (`<name>.<format>.<ext>`) whose first lines say what the
//! weights count. Megatron-LM, GPT-NeoX, nanotron and OLMo-core sample fixed-length token sequences, so
//! they take the manifest's token weights as they are; LitGPT's `CombinedStreamingDataset` over
//! `TokensLoader` blocks also counts tokens, as does MosaicML streaming over the fixed-length token
//! samples remix writes for it ([`super::native::mds`]), and torchtitan, whose sources yield packed
//! sequences. HF `interleave_datasets` draws whole documents, so its weights are converted: a domain's
//! document share is its token weight divided by its mean document length, renormalised to sum to
//! exactly 1.
//! Strings are written as JSON string literals, which are valid in YAML and Python alike.

use super::document::{Manifest, ManifestDomain};
pub use super::format::Format;
use crate::data::tokens::write::TokenDtype;
use crate::regmix::mixture::exact_sum_to_one;

/// One exported file: the suffix after the manifest's name, and its text.
pub struct ExportFile {
    pub suffix: String,
    pub text: String,
}

/// Renders `manifest` for `format`.
pub fn render(manifest: &Manifest, format: Format) -> Vec<ExportFile> {
    let file = |suffix: &str, text: String| ExportFile {
        suffix: suffix.into(),
        text,
    };
    match format {
        Format::Megatron => vec![
            file("megatron.args", megatron_args(manifest)),
            file("megatron.json", megatron_split_json(manifest)),
        ],
        Format::Neox => vec![file("neox.yml", neox(manifest))],
        Format::OlmoCore => vec![file("olmo-core.yaml", olmo_core(manifest))],
        Format::Mosaic => vec![file("mosaic.py", mosaic(manifest))],
        Format::Hf => vec![file("hf.py", hf(manifest))],
        Format::Nanotron => vec![file("nanotron.yaml", nanotron(manifest))],
        Format::Litgpt => vec![file("litgpt.py", litgpt(manifest))],
        Format::Torchtitan => vec![file("torchtitan.py", torchtitan(manifest))],
    }
}

/// The domains with a positive weight: a trainer has no use for a source it never samples.
fn used(manifest: &Manifest) -> Vec<&ManifestDomain> {
    manifest.domains.iter().filter(|d| d.weight > 0.0).collect()
}

/// The token weights of the domains with a positive weight.
fn token_weights(manifest: &Manifest) -> Vec<f64> {
    used(manifest).iter().map(|d| d.weight).collect()
}

/// Document shares from token weights: weight / mean tokens per document, summing to exactly 1.
pub fn document_weights(manifest: &Manifest) -> Vec<f64> {
    let domains = used(manifest);
    let raw: Vec<f64> = domains
        .iter()
        .map(|d| d.weight * d.documents_available.max(1) as f64 / d.tokens_available.max(1) as f64)
        .collect();
    let sum: f64 = raw.iter().sum();
    let mut shares: Vec<f64> = raw.iter().map(|r| r / sum).collect();
    let caps = vec![1.0; shares.len()];
    exact_sum_to_one(&mut shares, &caps);
    shares
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// The native data folders of `format` ([`super::native::domain_dir`]), one per domain the manifest
/// samples, each a quoted string.
fn data_dirs(manifest: &Manifest, format: Format) -> Vec<String> {
    used(manifest)
        .iter()
        .map(|d| {
            quoted(
                &super::native::domain_dir(manifest, format, &d.domain)
                    .display()
                    .to_string(),
            )
        })
        .collect()
}

fn header(manifest: &Manifest, comment: &str, counts: &str) -> String {
    format!(
        "{comment} remix mixture `{}` ({} training tokens, seed {}), exported by remix {}.\n\
         {comment} Weights count {counts}.\n",
        manifest.name, manifest.train_tokens, manifest.seed, manifest.remix_version
    )
}

const TOKENS: &str = "tokens (the manifest's weights as they are)";
const DOCUMENTS: &str = "documents: each domain's token weight divided by its mean document length \
                         (tokens per document in the shards), renormalised";

/// Every training shard with its weight: the domain's weight split over its shards by their tokens
/// (a Megatron blend samples each dataset by weight and each dataset uniformly by token).
fn weighted_shards(manifest: &Manifest) -> Vec<(f64, &str)> {
    used(manifest)
        .iter()
        .flat_map(|d| {
            d.shard_shares()
                .into_iter()
                .zip(&d.shards)
                .map(|(share, shard)| (d.weight * share, shard.prefix.as_str()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn megatron_args(manifest: &Manifest) -> String {
    let pairs: Vec<String> = weighted_shards(manifest)
        .iter()
        .map(|(weight, prefix)| format!("{weight} {prefix}"))
        .collect();
    format!("--data-path {}\n", pairs.join(" "))
}

fn megatron_split_json(manifest: &Manifest) -> String {
    let train: Vec<String> = weighted_shards(manifest)
        .iter()
        .flat_map(|(weight, prefix)| [weight.to_string(), prefix.to_string()])
        .collect();
    let valid: Vec<String> = used(manifest)
        .iter()
        .flat_map(|d| [d.weight.to_string(), d.val_prefix.clone()])
        .collect();
    let value = serde_json::json!({ "train": train, "valid": valid, "test": valid });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn yaml_list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

fn neox(manifest: &Manifest) -> String {
    let domains = used(manifest);
    let train = weighted_shards(manifest);
    let valid = yaml_list(domains.iter().map(|d| quoted(&d.val_prefix)));
    let weights = yaml_list(domains.iter().map(|d| d.weight.to_string()));
    format!(
        "{}train_data_paths: {}\ntrain_data_weights: {}\nvalid_data_paths: {valid}\nvalid_data_weights: {weights}\n\
         test_data_paths: {valid}\ntest_data_weights: {weights}\n",
        header(manifest, "#", TOKENS),
        yaml_list(train.iter().map(|(_, prefix)| quoted(prefix))),
        yaml_list(train.iter().map(|(weight, _)| weight.to_string())),
    )
}

/// OLMo-core's `NumpyFSLDatasetConfig` (load it with `NumpyFSLDatasetConfig.from_file`): a
/// `SourceMixtureDatasetConfig` over the `.bin` shards, which are raw token arrays as OLMo-core's numpy
/// datasets read them. OLMo-core reads unsigned tokens only, so Megatron's `int32` is read as `uint32`
/// (token ids are non-negative: the bytes are the same).
fn olmo_core(manifest: &Manifest) -> String {
    let dtype = match manifest.tokenizer.dtype {
        TokenDtype::I32 => "uint32",
        TokenDtype::U16 => "uint16",
    };
    let mut text = header(manifest, "#", TOKENS);
    text.push_str(&format!(
        "# NumpyFSLDatasetConfig.from_file(this file).build() gives the mixture in instances of sequence_length\n\
         # tokens. pad_token_id is the EOD id: fixed-length instances are never padded.\n\
         # global_batch_size (tokens) only rounds requested_tokens up to whole batches: set your run's.\n\
         sequence_length: {length}\ndtype: {}\ntokenizer:\n  vocab_size: {}\n  eos_token_id: {eod}\n  \
         pad_token_id: {eod}\nsource_mixture_config:\n  requested_tokens: {}\n  global_batch_size: {length}\n  \
         seed: {}\n  source_list:\n    sources:\n",
        quoted(dtype),
        manifest.tokenizer.vocab_size,
        manifest.train_tokens,
        manifest.seed,
        length = manifest.sequence_length,
        eod = manifest.tokenizer.eod_id,
    ));
    for d in used(manifest) {
        let repetition = (d.epochs * 1e6).ceil() / 1e6;
        text.push_str(&format!(
            "      - source_name: {}\n        target_ratio: {}\n        max_repetition_ratio: {}\n        \
             paths: [{}]\n",
            quoted(&d.domain),
            d.weight,
            repetition.max(1.0),
            d.shards
                .iter()
                .map(|shard| quoted(&format!("{}.bin", shard.prefix)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text
}

/// nanotron's `Nanoset` config over the datatrove files [`super::native::datatrove`] writes: one folder
/// per domain, weighted by token weight (a Nanoset sample is `sequence_length + 1` tokens, so its weights
/// count tokens).
fn nanotron(manifest: &Manifest) -> String {
    let domains = used(manifest);
    format!(
        "{}# Each dataset_folder holds one domain's tokens as datatrove tokenized files (`.ds`), written by remix,\n\
         # which nanotron's Nanoset reads with datatrove's DatatroveFolderDataset.\n\
         data_stages:\n  - name: {}\n    start_training_step: 1\n    data:\n      seed: {}\n      dataset:\n        \
         dataset_folder: {}\n        dataset_weights: {}\n        token_size_in_bytes: {}\n",
        header(manifest, "#", TOKENS),
        quoted(&manifest.name),
        manifest.seed,
        yaml_list(data_dirs(manifest, Format::Nanotron)),
        yaml_list(domains.iter().map(|d| d.weight.to_string())),
        manifest.tokenizer.dtype.bytes(),
    )
}

fn python_list(items: impl IntoIterator<Item = String>) -> String {
    format!(
        "[\n{}]",
        items
            .into_iter()
            .map(|i| format!("    {i},\n"))
            .collect::<String>()
    )
}

fn names_and_weights(manifest: &Manifest, weights: &[f64]) -> String {
    let domains = used(manifest);
    format!(
        "DOMAINS = {}\nWEIGHTS = {}\nSEED = {}\n",
        python_list(domains.iter().map(|d| quoted(&d.domain))),
        python_list(weights.iter().map(f64::to_string)),
        manifest.seed
    )
}

const TEXT_FOLDERS: &str = "# Each data dir holds one domain's training documents as text (Parquet, column `text`), decoded by remix\n\
                            # from the token shards with the tokenizer that wrote them.\n";

/// HF `datasets`: each domain's text loaded with `load_dataset("parquet")` and interleaved with
/// `interleave_datasets`, which draws whole documents, so the probabilities are [`document_weights`].
fn hf(manifest: &Manifest) -> String {
    format!(
        "{}{TEXT_FOLDERS}# interleave_datasets does not renormalise: these probabilities sum to exactly 1.\n\
         import os\n\nfrom datasets import interleave_datasets, load_dataset\n\n{}DATA_DIRS = {}\n\n\n\
         def datasets_by_domain(**kwargs):\n    \
         \"\"\"One `datasets.Dataset` per domain (a dict keyed by domain name); kwargs go to load_dataset.\"\"\"\n    \
         return {{\n        d: load_dataset(\"parquet\", data_files=os.path.join(p, \"*.parquet\"), split=\"train\", **kwargs)\n        \
         for d, p in zip(DOMAINS, DATA_DIRS)\n    }}\n\n\n\
         def mix(datasets=None, stopping_strategy=\"all_exhausted\"):\n    \
         \"\"\"The domains' datasets (default: datasets_by_domain()) interleaved with the mixture's probabilities.\"\"\"\n    \
         datasets = datasets if datasets is not None else datasets_by_domain()\n    \
         return interleave_datasets(\n        [datasets[d] for d in DOMAINS],\n        probabilities=WEIGHTS,\n        \
         seed=SEED,\n        stopping_strategy=stopping_strategy,\n    )\n",
        header(manifest, "#", DOCUMENTS),
        names_and_weights(manifest, &document_weights(manifest)),
        python_list(data_dirs(manifest, Format::Hf)),
    )
}

/// MosaicML streaming over the MDS shards [`super::native::mds`] writes: one `Stream` per domain whose
/// proportion is its token weight (every sample holds `sequence_length` tokens), and `epoch_size` the
/// samples that make the run's token budget (proportions alone do not set how many an epoch draws).
fn mosaic(manifest: &Manifest) -> String {
    let streams: Vec<String> = used(manifest)
        .iter()
        .zip(data_dirs(manifest, Format::Mosaic))
        .map(|(d, dir)| format!("Stream(local={dir}, proportion={})", d.weight))
        .collect();
    format!(
        "{}# Each Stream holds one domain's tokens as MDS samples of SEQUENCE_LENGTH tokens (column `tokens`,\n\
         # as llm-foundry prepares pre-training data; its text dataloader reads them), written by remix.\n\
         from streaming import Stream, StreamingDataset\n\n\
         SEQUENCE_LENGTH = {}\n\
         # Samples per epoch: the run's training tokens in sequences.\n\
         EPOCH_SIZE = {}\n\
         STREAMS = {}\n\n\
         def dataset(batch_size, **kwargs):\n    \
         return StreamingDataset(streams=STREAMS, epoch_size=EPOCH_SIZE, batch_size=batch_size, shuffle=True, \
         shuffle_seed={}, **kwargs)\n",
        header(
            manifest,
            "#",
            "tokens (fixed-length samples, so the manifest's weights as they are)"
        ),
        manifest.sequence_length,
        manifest
            .train_tokens
            .div_ceil(manifest.sequence_length.max(1)),
        python_list(streams),
        manifest.seed
    )
}

/// LitGPT's litdata loader over the optimised chunks [`super::native::litdata`] writes: one
/// `StreamingDataset` per domain cutting blocks of tokens (`TokensLoader`), mixed per block by weight
/// (`CombinedStreamingDataset`), so the weights count tokens.
fn litgpt(manifest: &Manifest) -> String {
    format!(
        "{}# Each input dir holds one domain's documents as litdata chunks (written by remix, as litdata.optimize \
         writes them for TokensLoader).\n\
         from litdata.streaming import CombinedStreamingDataset, StreamingDataset, TokensLoader\n\n{}\
         SEQUENCE_LENGTH = {}\nINPUT_DIRS = {}\n\n\
         def dataset(block_size=SEQUENCE_LENGTH + 1, seed=SEED):\n    \
         datasets = [StreamingDataset(input_dir=d, item_loader=TokensLoader(block_size=block_size), shuffle=True, \
         seed=seed) for d in INPUT_DIRS]\n    \
         return CombinedStreamingDataset(datasets=datasets, weights=tuple(WEIGHTS), seed=seed, iterate_over_all=False)\n",
        header(manifest, "#", TOKENS),
        names_and_weights(manifest, &token_weights(manifest)),
        manifest.sequence_length,
        python_list(data_dirs(manifest, Format::Litgpt)),
    )
}

/// torchtitan 0.3's `InterleavedHuggingFaceTextDataLoader`: one `HFDataSource` per domain over its text
/// (registered in torchtitan's `DATASETS` as `remix:<domain>`), weighted by token weight: each source
/// yields packed sequences of the run's `seq_len`, so its weights count tokens.
fn torchtitan(manifest: &Manifest) -> String {
    format!(
        "{}{TEXT_FOLDERS}# Use dataloader() as the trainer config's `dataloader`; torchtitan tokenizes with the run's tokenizer.\n\
         import os\n\nfrom datasets import load_dataset\nfrom torchtitan.hf_datasets import DatasetConfig\n\
         from torchtitan.hf_datasets.text_datasets import DATASETS, HFDataSource, InterleavedHuggingFaceTextDataLoader\n\n\
         {}DATA_DIRS = {}\n\n\n\
         def _load(path):\n    return load_dataset(\"parquet\", data_files=os.path.join(path, \"*.parquet\"), split=\"train\")\n\n\n\
         def _text(row):\n    return row[\"text\"]\n\n\n\
         NAMES = [f\"remix:{{d}}\".lower() for d in DOMAINS]\n\
         for _name, _path in zip(NAMES, DATA_DIRS):\n    \
         DATASETS[_name] = DatasetConfig(path=_path, loader=_load, sample_processor=_text)\n\n\n\
         def dataloader(**kwargs):\n    \
         \"\"\"The mixture as torchtitan's dataloader config; kwargs go to its Config (num_workers, ...).\"\"\"\n    \
         return InterleavedHuggingFaceTextDataLoader.Config(\n        \
         sources=[HFDataSource(dataset=n, weight=w) for n, w in zip(NAMES, WEIGHTS)],\n        seed=SEED,\n        **kwargs,\n    )\n",
        header(
            manifest,
            "#",
            "tokens (each source yields packed sequences, so the manifest's weights as they are)"
        ),
        names_and_weights(manifest, &token_weights(manifest)),
        python_list(data_dirs(manifest, Format::Torchtitan)),
    )
}
