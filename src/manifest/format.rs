//! The trainers remix exports to ([`Format`]): a closed set that the CLI (`--format`), the config
//! (`[manifest] formats`) and the schemas share.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The trainers remix exports to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Megatron,
    Neox,
    OlmoCore,
    Mosaic,
    Hf,
    Nanotron,
    Litgpt,
    Torchtitan,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Megatron,
        Format::Neox,
        Format::OlmoCore,
        Format::Mosaic,
        Format::Hf,
        Format::Nanotron,
        Format::Litgpt,
        Format::Torchtitan,
    ];
}
