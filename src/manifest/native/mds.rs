//! MosaicML streaming's MDS shards, written from a domain's token shard for the `mosaic` export.
//!
//! The layout is mosaicml-streaming 0.13's (`streaming/base/format/mds/`, read there, written here in
//! Rust): a folder of `shard.NNNNN.mds` files and an `index.json`. Each sample is one column, `tokens`,
//! encoded `ndarray:<dtype>` (a 1-D array whose length is in the sample), holding `sample_tokens`
//! consecutive tokens of the domain's concatenated documents, end-of-document tokens included; the
//! tokens left over at the end are dropped. That is how llm-foundry prepares pre-training data
//! (`convert_dataset_hf --concat_tokens`), and its `StreamingTextDataset` reads such samples. Every
//! sample has the same length, so a stream's share of samples is its share of tokens.
//!
//! A shard file: `u32` sample count N, `u32[N + 1]` byte offsets of the samples (the last is the file
//! size), the shard's settings as JSON, then the samples. A sample: `u32` byte length of the column,
//! then the ndarray body: one shape byte `(ndim << 2) | width` (width 0..3 = u8, u16, u32, u64 dims),
//! the length in that width, and the values little-endian. Shards are cut at MDSWriter's default
//! size limit (64 MiB) by its rule, so the files are byte-identical to what `MDSWriter` writes for the
//! same samples (a test holds them to it).

use anyhow::{Result, bail};

use super::folder::FolderWriter;
use crate::data::tokens::read::TokenShard;

/// MDSWriter's default `size_limit`: a shard is cut before it would pass 64 MiB.
const SIZE_LIMIT: u64 = 1 << 26;

/// The shard settings as Python's `json.dumps(..., sort_keys=True)` writes them.
fn settings_json(encoding: &str) -> String {
    format!(
        "{{\"column_encodings\": [\"{encoding}\"], \"column_names\": [\"tokens\"], \"column_sizes\": [null], \
         \"compression\": null, \"format\": \"mds\", \"hashes\": [], \"size_limit\": {SIZE_LIMIT}, \"version\": 2}}"
    )
}

/// One sample: the column's byte length, then the 1-D ndarray body of `len` tokens whose values are
/// `values` (little-endian, as a shard stores them).
fn encode_sample(values: &[u8], len: u64, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(9 + values.len());
    match len {
        0..=255 => body.extend_from_slice(&[0x04, len as u8]),
        256..=65_535 => {
            body.push(0x05);
            body.extend_from_slice(&(len as u16).to_le_bytes());
        }
        65_536..=0xFFFF_FFFF => {
            body.push(0x06);
            body.extend_from_slice(&(len as u32).to_le_bytes());
        }
        _ => {
            body.push(0x07);
            body.extend_from_slice(&len.to_le_bytes());
        }
    }
    body.extend_from_slice(values);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
}

/// Writes `shard`'s tokens as MDS samples of `sample_tokens` tokens into `out`.
///
/// Errors: `sample_tokens` of 0, a domain with fewer tokens than one sample, or an I/O failure.
pub fn write(shard: &TokenShard, sample_tokens: usize, out: &FolderWriter) -> Result<()> {
    if sample_tokens == 0 {
        bail!("the MDS sample length must be positive");
    }
    let samples = shard.tokens() / sample_tokens as u64;
    if samples == 0 {
        bail!(
            "{} holds {} tokens, fewer than one MDS sample of {sample_tokens}: lower --sequence-length \
             ([manifest] sequence_length) or give the domain no weight",
            shard.path().display(),
            shard.tokens()
        );
    }
    // numpy's dtype names are Megatron's here: uint16, int32.
    let encoding = format!("ndarray:{}", shard.dtype().name());
    let settings = settings_json(&encoding);
    let mut entries = Vec::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let mut running = 8 + settings.len() as u64;
    let mut flush = |pending: &mut Vec<Vec<u8>>| -> Result<()> {
        let name = format!("shard.{:05}.mds", entries.len());
        let bytes = shard_bytes(pending, &settings);
        out.write(&name, &bytes)?;
        entries.push(format!(
            "{{\"column_encodings\": [\"{encoding}\"], \"column_names\": [\"tokens\"], \"column_sizes\": [null], \
             \"compression\": null, \"format\": \"mds\", \"hashes\": [], \"raw_data\": {{\"basename\": \"{name}\", \
             \"bytes\": {}, \"hashes\": {{}}}}, \"samples\": {}, \"size_limit\": {SIZE_LIMIT}, \"version\": 2, \
             \"zip_data\": null}}",
            bytes.len(),
            pending.len()
        ));
        pending.clear();
        Ok(())
    };
    for s in 0..samples {
        let values = shard.token_bytes(s * sample_tokens as u64, sample_tokens as u64);
        let mut sample = Vec::new();
        encode_sample(&values, sample_tokens as u64, &mut sample);
        let cost = sample.len() as u64 + 4;
        // MDSWriter's rule: cut before a sample that would take the shard past the limit.
        if !pending.is_empty() && SIZE_LIMIT < running + cost {
            flush(&mut pending)?;
            running = 8 + settings.len() as u64;
        }
        running += cost;
        pending.push(sample);
    }
    if !pending.is_empty() {
        flush(&mut pending)?;
    }
    let index = format!("{{\"shards\": [{}], \"version\": 2}}", entries.join(", "));
    out.write("index.json", index.as_bytes())
}

/// A shard file: count, offsets, settings, samples.
fn shard_bytes(samples: &[Vec<u8>], settings: &str) -> Vec<u8> {
    let n = samples.len();
    let mut offset = (4 + 4 * (n + 1) + settings.len()) as u32;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(n as u32).to_le_bytes());
    bytes.extend_from_slice(&offset.to_le_bytes());
    for sample in samples {
        offset += sample.len() as u32;
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    bytes.extend_from_slice(settings.as_bytes());
    for sample in samples {
        bytes.extend_from_slice(sample);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte layout of mosaicml-streaming's own output for samples [1, 2, 3] and [258, 5] (uint16),
    /// as documented in its `MDSWriter` and checked against a file it wrote.
    fn u16s(tokens: &[u16]) -> Vec<u8> {
        tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
    }

    #[test]
    fn a_shard_is_laid_out_as_mdswriter_lays_it_out() {
        let settings = settings_json("ndarray:uint16");
        assert_eq!(settings.len(), 182);
        let mut a = Vec::new();
        encode_sample(&u16s(&[1, 2, 3]), 3, &mut a);
        assert_eq!(a, [8, 0, 0, 0, 0x04, 3, 1, 0, 2, 0, 3, 0]);
        let mut b = Vec::new();
        encode_sample(&u16s(&[258, 5]), 2, &mut b);
        let bytes = shard_bytes(&[a, b], &settings);
        assert_eq!(bytes.len(), 220);
        assert_eq!(
            &bytes[..16],
            &[2, 0, 0, 0, 198, 0, 0, 0, 210, 0, 0, 0, 220, 0, 0, 0]
        );
        assert_eq!(&bytes[16..198], settings.as_bytes());
        assert_eq!(&bytes[210..], &[6, 0, 0, 0, 0x04, 2, 2, 1, 5, 0]);

        let mut long = Vec::new();
        encode_sample(&u16s(&[7; 300]), 300, &mut long);
        assert_eq!(&long[..7], &[0x5b, 2, 0, 0, 0x05, 0x2c, 0x01]);
        let mut wide = Vec::new();
        encode_sample(&70_000i32.to_le_bytes(), 1, &mut wide);
        assert_eq!(wide, [6, 0, 0, 0, 0x04, 1, 0x70, 0x11, 0x01, 0x00]);
    }
}
