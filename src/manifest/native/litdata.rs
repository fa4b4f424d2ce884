//! litdata's optimised chunks, written from a domain's token shard for the `litgpt` export.
//!
//! The layout is litdata 0.2's (`litdata/streaming/writer.py` and `item_loader.py`, read there, written
//! here in Rust), as `litdata.optimize(..., item_loader=TokensLoader())` writes a tokenized corpus for
//! LitGPT: `chunk-0-K.bin` files and an `index.json`. An item is one document's tokens (end-of-document
//! token included), stored raw (`no_header_numpy:<dtype>`); a chunk file is `u32` item count N,
//! `u32[N + 1]` byte offsets of the items, then the items, so past its header a chunk is one stream of
//! tokens. `TokensLoader(block_size)` cuts each chunk into blocks of `block_size` tokens when it reads
//! (the last `dim % block_size` tokens of a chunk are never read), so one folder serves every block size.
//! Chunks close at 64 MiB of tokens, as litdata's `chunk_bytes` does (the item that crosses the limit
//! starts the next chunk).

use anyhow::Result;

use super::folder::FolderWriter;
use crate::data::tokens::read::TokenShard;
use crate::data::tokens::write::TokenDtype;

/// Bytes of items per chunk.
const CHUNK_BYTES: usize = 1 << 26;

/// litdata's `no_header_numpy` dtype index (its `_NUMPY_DTYPES_MAPPING`): 2 int32, 5 uint16.
fn data_format(dtype: TokenDtype) -> &'static str {
    match dtype {
        TokenDtype::U16 => "no_header_numpy:5",
        TokenDtype::I32 => "no_header_numpy:2",
    }
}

/// One chunk file: count, offsets, items.
fn chunk_bytes(items: &[&[u8]]) -> Vec<u8> {
    let n = items.len();
    let mut offset = (4 + 4 * (n + 1)) as u32;
    let mut bytes =
        Vec::with_capacity(offset as usize + items.iter().map(|i| i.len()).sum::<usize>());
    bytes.extend_from_slice(&(n as u32).to_le_bytes());
    bytes.extend_from_slice(&offset.to_le_bytes());
    for item in items {
        offset += item.len() as u32;
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    for item in items {
        bytes.extend_from_slice(item);
    }
    bytes
}

/// Writes `shard`'s documents as litdata items into `out`.
pub fn write(shard: &TokenShard, out: &FolderWriter) -> Result<()> {
    let dtype = shard.dtype();
    let mut chunks = Vec::new();
    // Each item is a document's bytes as the shard stores them (the same little-endian dtype).
    let mut items: Vec<&[u8]> = Vec::new();
    let mut held = 0usize;
    let mut flush = |items: &mut Vec<&[u8]>| -> Result<()> {
        let name = format!("chunk-0-{}.bin", chunks.len());
        let bytes = chunk_bytes(items);
        out.write(&name, &bytes)?;
        let tokens: usize = items.iter().map(|i| i.len() / dtype.bytes()).sum();
        chunks.push(format!(
            "{{\"chunk_bytes\": {}, \"chunk_size\": {}, \"dim\": {tokens}, \"filename\": \"{name}\"}}",
            bytes.len(),
            items.len()
        ));
        items.clear();
        Ok(())
    };
    for d in 0..shard.documents() {
        let item = shard.document_bytes(d);
        if !items.is_empty() && held + item.len() > CHUNK_BYTES {
            flush(&mut items)?;
            held = 0;
        }
        held += item.len();
        items.push(item);
    }
    if !items.is_empty() {
        flush(&mut items)?;
    }
    let index = format!(
        "{{\"chunks\": [{}], \"config\": {{\"chunk_bytes\": {CHUNK_BYTES}, \"chunk_size\": null, \
         \"compression\": null, \"data_format\": [\"{}\"], \"data_spec\": \
         \"[1, {{\\\"type\\\": null, \\\"context\\\": null, \\\"children_spec\\\": []}}]\", \
         \"encryption\": null, \"item_loader\": \"TokensLoader\"}}}}",
        chunks.join(", "),
        data_format(dtype)
    );
    out.write("index.json", index.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// litdata's own output for three uint16 items [10..17), [20..27), [30..37): a 20-byte header, then
    /// the tokens.
    #[test]
    fn a_chunk_is_laid_out_as_litdata_lays_it_out() {
        let items: Vec<Vec<u8>> = [10u16, 20, 30]
            .iter()
            .map(|&start| (start..start + 7).flat_map(|t| t.to_le_bytes()).collect())
            .collect();
        let items: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let bytes = chunk_bytes(&items);
        assert_eq!(bytes.len(), 62);
        assert_eq!(
            &bytes[..20],
            &[
                3, 0, 0, 0, 0x14, 0, 0, 0, 0x22, 0, 0, 0, 0x30, 0, 0, 0, 0x3e, 0, 0, 0
            ]
        );
        assert_eq!(&bytes[20..24], &[0x0a, 0, 0x0b, 0]);
        assert_eq!(&bytes[60..], &[0x24, 0]);
    }
}
