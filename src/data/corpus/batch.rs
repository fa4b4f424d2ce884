//! A batch of documents as the reader hands it to a stage.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, LargeBinaryArray, LargeStringArray,
    StringArray, StringViewArray,
};
use arrow::datatypes::DataType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Documents skipped per domain, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkipCounts {
    /// Rows whose text is null.
    pub null_text: u64,
    /// Rows whose text is the empty string.
    pub empty_text: u64,
    /// Rows whose text is not valid UTF-8.
    pub invalid_utf8: u64,
}

impl SkipCounts {
    pub fn add(&mut self, other: &SkipCounts) {
        self.null_text += other.null_text;
        self.empty_text += other.empty_text;
        self.invalid_utf8 += other.invalid_utf8;
    }

    pub fn total(&self) -> u64 {
        self.null_text + self.empty_text + self.invalid_utf8
    }
}

/// The text column of a batch, in whichever Arrow layout the file gave.
enum TextArray {
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
}

impl TextArray {
    fn new(array: &ArrayRef) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string::<i64>().clone()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view().clone()),
            DataType::Binary => Self::Binary(array.as_binary::<i32>().clone()),
            DataType::LargeBinary => Self::LargeBinary(array.as_binary::<i64>().clone()),
            DataType::BinaryView => Self::BinaryView(array.as_binary_view().clone()),
            // Dictionary-encoded text (a pandas categorical, pyarrow's `dictionary_encode()`): the
            // values laid out row by row.
            DataType::Dictionary(_, value) => {
                return Self::new(&arrow::compute::cast(array, value).ok()?);
            }
            _ => return None,
        })
    }

    /// Whether Arrow has already checked the values are UTF-8.
    fn is_validated(&self) -> bool {
        matches!(self, Self::Utf8(_) | Self::LargeUtf8(_) | Self::Utf8View(_))
    }

    fn get(&self, row: usize) -> Option<&[u8]> {
        macro_rules! value {
            ($a:expr, $to_bytes:expr) => {
                if $a.is_null(row) {
                    None
                } else {
                    Some($to_bytes($a.value(row)))
                }
            };
        }
        match self {
            Self::Utf8(a) => value!(a, str::as_bytes),
            Self::LargeUtf8(a) => value!(a, str::as_bytes),
            Self::Utf8View(a) => value!(a, str::as_bytes),
            Self::Binary(a) => value!(a, |b| b),
            Self::LargeBinary(a) => value!(a, |b| b),
            Self::BinaryView(a) => value!(a, |b| b),
        }
    }
}

/// Why a row is or is not a usable document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocStatus {
    Usable,
    Skipped,
    NoDomain,
}

/// A batch of consecutive rows from one row group of one corpus file.
pub struct DocBatch {
    /// Index of the file in [`super::Corpus::files`].
    pub file: usize,
    pub row_group: usize,
    /// Row number (within the file) of the batch's first row.
    pub first_row: u64,
    text: TextArray,
    /// Per row, an index into `domain_names`; `None` when all rows share `domain_names[0]`.
    domain_keys: Option<Vec<u32>>,
    domain_names: Vec<String>,
    status: Vec<DocStatus>,
    skips: Vec<SkipCounts>,
    rows_without_domain: u64,
    /// [`super::config::CorpusConfig::extra_column`]'s values, one per row, when a stage reads it.
    extra: Option<ArrayRef>,
}

impl DocBatch {
    /// Classifies every row of the batch. `domain_keys[i] == None` means the row's domain is null.
    pub(super) fn new(
        file: usize,
        row_group: usize,
        first_row: u64,
        text: &ArrayRef,
        domain_names: Vec<String>,
        domain_keys: Option<Vec<Option<u32>>>,
    ) -> Option<Self> {
        let text = TextArray::new(text)?;
        let rows = text_len(&text);
        let mut skips = vec![SkipCounts::default(); domain_names.len()];
        let mut status = Vec::with_capacity(rows);
        let mut rows_without_domain = 0;
        let validated = text.is_validated();
        let mut keys = Vec::with_capacity(if domain_keys.is_some() { rows } else { 0 });
        for row in 0..rows {
            let key = match &domain_keys {
                None => Some(0),
                Some(k) => k[row],
            };
            let Some(key) = key else {
                rows_without_domain += 1;
                status.push(DocStatus::NoDomain);
                keys.push(u32::MAX);
                continue;
            };
            keys.push(key);
            let counts = &mut skips[key as usize];
            status.push(match text.get(row) {
                None => {
                    counts.null_text += 1;
                    DocStatus::Skipped
                }
                Some([]) => {
                    counts.empty_text += 1;
                    DocStatus::Skipped
                }
                Some(bytes) if !validated && std::str::from_utf8(bytes).is_err() => {
                    counts.invalid_utf8 += 1;
                    DocStatus::Skipped
                }
                Some(_) => DocStatus::Usable,
            });
        }
        Some(Self {
            file,
            row_group,
            first_row,
            text,
            domain_keys: domain_keys.map(|_| keys),
            domain_names,
            status,
            skips,
            rows_without_domain,
            extra: None,
        })
    }

    /// The batch with `extra` (one value per row) as its extra column.
    pub(super) fn with_extra(mut self, extra: Option<ArrayRef>) -> Self {
        self.extra = extra;
        self
    }

    /// The extra column ([`super::config::CorpusConfig::extra_column`]), one value per row of the
    /// batch; `None` when no stage asked for one.
    pub fn extra(&self) -> Option<&ArrayRef> {
        self.extra.as_ref()
    }

    /// Rows in the batch, usable or not.
    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    /// The domain names this batch's keys refer to.
    pub fn domains(&self) -> &[String] {
        &self.domain_names
    }

    /// Rows whose domain value was null: skipped, and counted here.
    pub fn rows_without_domain(&self) -> u64 {
        self.rows_without_domain
    }

    /// Skipped rows per domain key.
    pub fn skips(&self) -> &[SkipCounts] {
        &self.skips
    }

    /// The usable documents: (row within the batch, domain key, text).
    pub fn docs(&self) -> impl Iterator<Item = (usize, u32, &str)> + '_ {
        self.status
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == DocStatus::Usable)
            .map(|(row, _)| {
                let key = self.domain_keys.as_ref().map_or(0, |k| k[row]);
                let bytes = self.text.get(row).unwrap_or_default();
                // SAFETY: `new` marked the row usable only after Arrow or `from_utf8` validated it.
                let text = unsafe { std::str::from_utf8_unchecked(bytes) };
                (row, key, text)
            })
    }
}

fn text_len(text: &TextArray) -> usize {
    match text {
        TextArray::Utf8(a) => a.len(),
        TextArray::LargeUtf8(a) => a.len(),
        TextArray::Utf8View(a) => a.len(),
        TextArray::Binary(a) => a.len(),
        TextArray::LargeBinary(a) => a.len(),
        TextArray::BinaryView(a) => a.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn classifies_null_empty_invalid_and_missing_domain() {
        let text: ArrayRef = Arc::new(BinaryArray::from(vec![
            Some(b"hello".as_slice()),
            None,
            Some(b"".as_slice()),
            Some(b"\xff\xfe".as_slice()),
            Some(b"world".as_slice()),
            Some(b"orphan".as_slice()),
        ]));
        let keys = vec![Some(0), Some(1), Some(1), Some(0), Some(1), None];
        let batch =
            DocBatch::new(0, 0, 0, &text, vec!["a".into(), "b".into()], Some(keys)).unwrap();
        let docs: Vec<_> = batch.docs().map(|(_, k, t)| (k, t.to_string())).collect();
        assert_eq!(docs, vec![(0, "hello".into()), (1, "world".into())]);
        assert_eq!(
            batch.skips()[0],
            SkipCounts {
                null_text: 0,
                empty_text: 0,
                invalid_utf8: 1
            }
        );
        assert_eq!(
            batch.skips()[1],
            SkipCounts {
                null_text: 1,
                empty_text: 1,
                invalid_utf8: 0
            }
        );
        assert_eq!(batch.rows_without_domain(), 1);
        assert_eq!(batch.len(), 6);
    }
}
