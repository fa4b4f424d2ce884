//! A domain's content digest: what tells a domain that did not change from one that did, whatever its
//! name, its document order or the number of tasks that tokenized it.
//!
//! Each document is hashed as the token bytes its shard stores (XXH3-128 of the little-endian ids,
//! end-of-document token included), and a domain's digest is the sum of its documents' hashes modulo
//! 2^128: a multiset hash (Clarke et al. 2003, "Incremental Multiset Hash Functions"), so the order of
//! the documents does not matter, two tasks' digests add up to the digest of both, and the digest of a
//! domain split into topics is the sum of the topics' digests. Training and validation documents are
//! summed together, so where the split falls does not change it. It is a fingerprint of tokens: the same
//! text under another tokenizer has another digest (which reuse refuses separately, by the tokenizer's
//! identity).

use std::ops::{Add, AddAssign};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::xxh3_128;

/// The digest of a multiset of documents; written as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentDigest(pub u128);

impl ContentDigest {
    /// The digest of one document: `bytes` is its token ids as the shard stores them.
    pub fn of_document(bytes: &[u8]) -> Self {
        Self(xxh3_128(bytes))
    }

    /// Adds one document's bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        *self += Self::of_document(bytes);
    }
}

impl Add for ContentDigest {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0.wrapping_add(other.0))
    }
}

impl AddAssign for ContentDigest {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl std::iter::Sum for ContentDigest {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), Add::add)
    }
}

impl std::fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for ContentDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ContentDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 32 {
            return Err(serde::de::Error::custom(format!(
                "a content digest is 32 hex digits, not `{text}`"
            )));
        }
        u128::from_str_radix(&text, 16).map(Self).map_err(|_| {
            serde::de::Error::custom(format!("a content digest is 32 hex digits, not `{text}`"))
        })
    }
}

impl JsonSchema for ContentDigest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ContentDigest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The sum modulo 2^128 of the XXH3-128 hashes of a domain's documents (their token bytes), as 32 hex digits.",
            "type": "string",
            "pattern": "^[0-9a-f]{32}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_free_additive_and_round_trips() {
        let docs: [&[u8]; 3] = [b"\x01\x00\x02\x00", b"\x03\x00", b"\x01\x00\x02\x00"];
        let forward: ContentDigest = docs.iter().map(|d| ContentDigest::of_document(d)).sum();
        let mut backward = ContentDigest::default();
        for d in docs.iter().rev() {
            backward.push(d);
        }
        assert_eq!(forward, backward);
        // A duplicate counts: the multiset, not the set.
        let once: ContentDigest = docs[..2]
            .iter()
            .map(|d| ContentDigest::of_document(d))
            .sum();
        assert_ne!(forward, once);
        // Two halves add up to the whole (two tasks, or a domain split in two).
        let half = ContentDigest::of_document(docs[0]) + ContentDigest::of_document(docs[1]);
        assert_eq!(half + ContentDigest::of_document(docs[2]), forward);
        let json = serde_json::to_string(&forward).unwrap();
        assert_eq!(json.len(), 34);
        assert_eq!(
            serde_json::from_str::<ContentDigest>(&json).unwrap(),
            forward
        );
        assert!(serde_json::from_str::<ContentDigest>("\"abc\"").is_err());
    }
}
