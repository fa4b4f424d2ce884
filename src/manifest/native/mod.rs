//! Trainers' native data formats, written from remix's token shards where a trainer cannot read Megatron
//! shards: MosaicML streaming's MDS ([`mds`], for the `mosaic` export), litdata's optimised chunks
//! ([`litdata`], for the `litgpt` export), datatrove's tokenized files ([`datatrove`], for nanotron's
//! `Nanoset`), and the documents as text ([`text`], for HF `datasets` and torchtitan, which tokenize for
//! themselves).
//!
//! Each domain's folder sits beside the token shards it is made from, `<tokens>/../exports/<format>/
//! <domain>/`, so every manifest over the same shards shares it. It holds a `.remix-source.json` naming
//! the shard (its index's SHA-256 and its size) and the settings: a folder whose source matches is not
//! written again, so re-running `remix manifest` or `remix run` skips it. A new folder is written beside
//! the old one and renamed into place when complete: a crash never leaves a half-written folder.

pub mod datatrove;
mod folder;
pub mod litdata;
pub mod mds;
pub mod text;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::document::{Manifest, ManifestShard};
use super::format::Format;
use crate::core::domain::file_stem;
use crate::data::tokens::ShardPart;
use crate::data::tokens::read::TokenShard;
use crate::data::tokens::write::shard_path;
pub use folder::FolderWriter;

/// The folder of `domain` in `format` for `manifest`: `<tokens>/../exports/<kind>/<domain stem>` (the
/// domain's [`file_stem`]: a topic domain `web/c03-code` is one folder, `web%2Fc03-code`), where kind
/// is `mds-<sequence length>` (samples of that many tokens), `litdata` or `datatrove` (samples are cut
/// when read), or `text` (shared by `hf` and `torchtitan`).
pub fn domain_dir(manifest: &Manifest, format: Format, domain: &str) -> PathBuf {
    Path::new(&manifest.tokens_dir)
        .parent()
        .unwrap_or(Path::new("."))
        .join("exports")
        .join(folder_kind(manifest, format))
        .join(file_stem(domain))
}

fn folder_kind(manifest: &Manifest, format: Format) -> String {
    match format {
        Format::Mosaic => format!("mds-{}", manifest.sequence_length),
        Format::Nanotron => "datatrove".into(),
        Format::Hf | Format::Torchtitan => "text".into(),
        _ => "litdata".into(),
    }
}

/// What a folder was made from, kept in it as `.remix-source.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Source {
    /// The folder's kind ([`domain_dir`]).
    kind: String,
    shards: Vec<ShardSource>,
    /// MDS: tokens per sample.
    sample_tokens: Option<u64>,
}

/// One shard a folder was made from: its prefix, the documents read, its index's SHA-256 and its
/// size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ShardSource {
    prefix: String,
    documents: u64,
    idx_sha256: String,
    bin_bytes: u64,
}

impl ShardSource {
    fn identify(shard: &ManifestShard) -> Result<Self> {
        let prefix = Path::new(&shard.prefix);
        let idx = shard_path(prefix, "idx");
        let idx_bytes = fs::read(&idx).with_context(|| format!("cannot read {}", idx.display()))?;
        let bin = shard_path(prefix, "bin");
        let bin_bytes = fs::metadata(&bin)
            .with_context(|| format!("cannot read {}", bin.display()))?
            .len();
        Ok(Self {
            prefix: shard.prefix.clone(),
            documents: shard.documents,
            idx_sha256: format!("{:x}", Sha256::digest(&idx_bytes)),
            bin_bytes,
        })
    }
}

const SOURCE_FILE: &str = ".remix-source.json";

/// Writes the native data of `formats` (all but megatron, neox and olmo-core, which read the shards) for
/// every domain the manifest samples ([`domain_dir`]), skipping folders already written from the same
/// shard and settings. Each domain's shard is identified (its index hashed) and opened once, whatever
/// the formats, and hf and torchtitan share one text folder.
pub fn export(manifest: &Manifest, formats: &[Format]) -> Result<()> {
    let mut native: Vec<Format> = Vec::new();
    for &format in formats {
        let kind = folder_kind(manifest, format);
        if !matches!(format, Format::Megatron | Format::Neox | Format::OlmoCore)
            && !native.iter().any(|&f| folder_kind(manifest, f) == kind)
        {
            native.push(format);
        }
    }
    if native.is_empty() {
        return Ok(());
    }
    let tokenizer = if native
        .iter()
        .any(|f| matches!(f, Format::Hf | Format::Torchtitan))
    {
        Some(text::shards_tokenizer(manifest)?)
    } else {
        None
    };
    for domain in manifest.domains.iter().filter(|d| d.weight > 0.0) {
        let shards = domain
            .shards
            .iter()
            .map(ShardSource::identify)
            .collect::<Result<Vec<_>>>()?;
        let mut shard: Option<TokenShard> = None;
        for &format in &native {
            let source = Source {
                kind: folder_kind(manifest, format),
                shards: shards.clone(),
                sample_tokens: (format == Format::Mosaic).then_some(manifest.sequence_length),
            };
            let dir = domain_dir(manifest, format, &domain.domain);
            let written = fs::read(dir.join(SOURCE_FILE))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Source>(&bytes).ok());
            if written.as_ref() == Some(&source) {
                tracing::info!(domain = %domain.domain, dir = %dir.display(), "already written");
                continue;
            }
            let shard = match &mut shard {
                Some(shard) => shard,
                empty => empty.insert(TokenShard::open_parts(
                    &domain
                        .shards
                        .iter()
                        .map(|s| ShardPart {
                            prefix: s.prefix.clone().into(),
                            documents: Some(s.documents),
                        })
                        .collect::<Vec<_>>(),
                )?),
            };
            let out = FolderWriter::start(&dir)?;
            match format {
                Format::Mosaic => mds::write(shard, manifest.sequence_length as usize, &out)?,
                Format::Nanotron => datatrove::write(shard, &tokenizer_name(manifest), &out)?,
                Format::Litgpt => litdata::write(shard, &out)?,
                _ => text::write(
                    shard,
                    tokenizer
                        .as_ref()
                        .context("the text formats decode with the shards' tokenizer")?,
                    manifest.tokenizer.eod_id as u32,
                    &out,
                )?,
            }
            out.write(SOURCE_FILE, &serde_json::to_vec_pretty(&source)?)?;
            out.finish()?;
            tracing::info!(domain = %domain.domain, dir = %dir.display(), "written");
        }
    }
    Ok(())
}

/// The tokenizer's name in datatrove's metadata: remix knows it by its SHA-256.
fn tokenizer_name(manifest: &Manifest) -> String {
    format!("remix-tokenizer-sha256-{}", manifest.tokenizer.sha256)
}
