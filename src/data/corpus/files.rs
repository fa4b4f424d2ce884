//! Opening corpus files (footers read, text and domain columns located, bad files refused before any
//! work starts) and handing their bytes to parquet, from disk or from an object store.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::datatypes::{DataType, Field, Fields};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::schema::types::SchemaDescriptor;

use crate::core::store::StoreObject;
use crate::core::store::reader::{ObjectReader, ReadAhead, Source};
use crate::data::corpus::config::{CorpusConfig, DomainFrom};

/// One Parquet file of the corpus, with its footer already read and its columns located.
#[derive(Debug)]
pub struct CorpusFile {
    /// The local path, or the object's URL (`s3://bucket/key`).
    pub path: PathBuf,
    /// The object, for a file in an object store.
    pub(super) object: Option<Arc<StoreObject>>,
    /// For an object: the row groups whose read has begun, and the read-aheads not yet taken.
    pub(super) ahead: std::sync::Mutex<ReadAheads>,
    /// The domain when it comes from the folder.
    pub(super) folder_domain: Option<String>,
    pub(super) metadata: ArrowReaderMetadata,
    /// Leaf index of the text column in the Parquet schema.
    pub(super) text_leaf: usize,
    /// Leaf index of the domain column, when the domain comes from a column.
    pub(super) domain_leaf: Option<usize>,
    /// Leaf index of [`CorpusConfig::extra_column`], when a stage reads one.
    pub(super) extra_leaf: Option<usize>,
}

impl CorpusFile {
    pub fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// The file's footer, as parquet's Arrow reader wants it.
    pub fn arrow_metadata(&self) -> &ArrowReaderMetadata {
        &self.metadata
    }

    /// The file's columns with their types, for messages: `text (Utf8), meta.source (Utf8)`.
    pub fn columns_described(&self) -> String {
        column_list(self.metadata.schema().fields())
    }

    /// Uncompressed bytes of the text column (Parquet's own figure: text plus length prefixes).
    pub fn text_bytes(&self) -> u64 {
        self.metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.column(self.text_leaf).uncompressed_size().max(0) as u64)
            .sum()
    }

    /// A reader over the file for parquet's readers. For an object, `ranges` (byte ranges of the
    /// column chunks about to be decoded) are fetched first, in one round of requests, or taken from
    /// the read-ahead [`Self::read_ahead`] started for row group `group`.
    pub(crate) fn source(&self, group: usize, ranges: &[std::ops::Range<u64>]) -> Result<Source> {
        let Some(object) = &self.object else {
            return Ok(Source::Local(
                fs::File::open(&self.path)
                    .with_context(|| format!("cannot open {}", shown(&self.path)))?,
            ));
        };
        let started = match self.ahead.lock() {
            Ok(mut ahead) => {
                ahead.started.insert(group);
                ahead.pending.remove(&group)
            }
            Err(_) => None,
        };
        let reader = ObjectReader::new(object.clone());
        Ok(Source::Object(match started {
            Some(started) if started.ranges() == ranges => reader.take(started)?,
            _ => reader.prefetch(ranges)?,
        }))
    }

    /// The byte ranges [`super::read::read_row_group`] decodes for row group `group`: the text and
    /// domain columns' chunks.
    pub(crate) fn read_ranges(&self, group: usize) -> Vec<std::ops::Range<u64>> {
        self.chunk_ranges(group, self.read_leaves())
    }

    /// The Parquet leaves [`super::read::read_row_group`] decodes: the text column, then the domain
    /// column when the domain comes from one, then the extra column when a stage reads one.
    pub(crate) fn read_leaves(&self) -> Vec<usize> {
        std::iter::once(self.text_leaf)
            .chain(self.domain_leaf)
            .chain(self.extra_leaf)
            .collect()
    }

    /// For an object, starts fetching row group `group`'s [`Self::read_ranges`] in the background, so
    /// they arrive while the row group before it decodes; nothing for a local file, or a row group whose
    /// read has begun. At most one row group ahead per reader, so memory stays bounded.
    pub(crate) fn read_ahead(&self, group: usize) {
        let (Some(object), Ok(mut ahead)) = (&self.object, self.ahead.lock()) else {
            return;
        };
        if ahead.started.contains(&group) || ahead.pending.contains_key(&group) {
            return;
        }
        match ReadAhead::start(object.clone(), &self.read_ranges(group)) {
            Ok(started) => {
                ahead.pending.insert(group, started);
            }
            // Without the read-ahead the row group is fetched when its read begins.
            Err(e) => tracing::debug!("no read-ahead for {}: {e:#}", object.url),
        }
    }

    /// The byte ranges of row group `group`'s column chunks `leaves` (Parquet leaf indices).
    pub(crate) fn chunk_ranges(
        &self,
        group: usize,
        leaves: impl IntoIterator<Item = usize>,
    ) -> Vec<std::ops::Range<u64>> {
        let row_group = self.metadata.metadata().row_group(group);
        leaves
            .into_iter()
            .map(|leaf| {
                let (start, length) = row_group.column(leaf).byte_range();
                start..start + length
            })
            .collect()
    }

    /// Rows in each row group.
    pub fn row_group_rows(&self) -> Vec<u64> {
        self.metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows().max(0) as u64)
            .collect()
    }
}

/// The read-ahead state of one object ([`CorpusFile::read_ahead`]).
#[derive(Default)]
pub(crate) struct ReadAheads {
    started: std::collections::HashSet<usize>,
    pending: std::collections::HashMap<usize, ReadAhead>,
}

impl std::fmt::Debug for ReadAheads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} read-aheads pending", self.pending.len())
    }
}

/// A corpus file found: its path or URL, its folder domain, and the object when it is in a store.
pub(super) type Found = (PathBuf, Option<String>, Option<Arc<StoreObject>>);

/// The path as the user wrote it, for messages.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Bytes fetched from an object's end to read its footer in one request.
const FOOTER_READ_AHEAD: u64 = 64 << 10;

/// Reads a file's footer and locates the text and domain columns, or says what is wrong with it.
pub(super) fn open_file(
    (path, folder_domain, object): Found,
    config: &CorpusConfig,
) -> Result<CorpusFile> {
    let source = match &object {
        None => Source::Local(
            fs::File::open(&path)
                .with_context(|| format!("cannot open the corpus file {}", shown(&path)))?,
        ),
        // The footer is at the end: its last 64 KiB in one request hold most footers whole.
        Some(object) => {
            let footer = object.size.saturating_sub(FOOTER_READ_AHEAD)..object.size;
            Source::Object(
                ObjectReader::new(object.clone()).prefetch(std::slice::from_ref(&footer))?,
            )
        }
    };
    let metadata = ArrowReaderMetadata::load(&source, ArrowReaderOptions::new()).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a readable Parquet file ({e}). It may be truncated by an interrupted copy, or not \
             Parquet at all: copy it again, or remove it from the corpus.",
            shown(&path)
        )
    })?;
    let fields = metadata.schema().fields().clone();
    let descr = metadata.metadata().file_metadata().schema_descr_ptr();

    let text_type = field_type(&fields, &config.text_column).ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no text column `{}`. Its columns are: {}. Pass --text-column NAME.",
            shown(&path),
            config.text_column,
            column_list(&fields)
        )
    })?;
    if !is_text_type(&text_type) {
        bail!(
            "the text column `{}` in {} has type {text_type}; remix needs a string column (Utf8, LargeUtf8, \
             Utf8View, binary holding UTF-8, or a dictionary of them). Pass --text-column with the column that holds the documents.",
            config.text_column,
            shown(&path)
        );
    }
    let text_leaf = leaf_index(&descr, &config.text_column).ok_or_else(|| {
        anyhow::anyhow!(
            "the text column `{}` in {} is not a plain column",
            config.text_column,
            shown(&path)
        )
    })?;

    let domain_leaf = match &config.domain_from {
        DomainFrom::Folder => {
            if folder_domain.is_none() {
                bail!(
                    "cannot tell the domain of {} from its folder: put each domain's files in \
                     corpus/<domain>/, or pass --domain-from column:NAME",
                    shown(&path)
                );
            }
            None
        }
        DomainFrom::Hive(key) => {
            if folder_domain.is_none() {
                bail!(
                    "cannot tell the domain of {}: no folder in its path is named `{key}=<domain>`. Put the \
                     file under a `{key}=` partition folder, or choose another --domain-from ([corpus] domain_from in a \
                     pipeline config)",
                    shown(&path)
                );
            }
            None
        }
        DomainFrom::Column(dot_path) => {
            let domain_type = field_type(&fields, dot_path).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no domain column `{dot_path}`. Its columns are: {}. Pass --domain-from \
                     column:DOT.PATH with one of them, or --domain-from folder.",
                    shown(&path),
                    column_list(&fields)
                )
            })?;
            if !is_domain_type(&domain_type) {
                bail!(
                    "the domain column `{dot_path}` in {} has type {domain_type}; remix needs strings \
                     (plain or dictionary-encoded)",
                    shown(&path)
                );
            }
            Some(leaf_index(&descr, dot_path).ok_or_else(|| {
                anyhow::anyhow!(
                    "the domain column `{dot_path}` in {} is not a plain column",
                    shown(&path)
                )
            })?)
        }
    };
    let extra_leaf = match &config.extra_column {
        None => None,
        Some(dot_path) => embedding_leaf(&fields, &descr, dot_path, &path)?,
    };
    Ok(CorpusFile {
        path,
        object,
        ahead: Default::default(),
        folder_domain,
        metadata,
        text_leaf,
        domain_leaf,
        extra_leaf,
    })
}

/// The Parquet leaf of an embedding column: a list (plain, large or fixed-size) of f16, f32 or f64 per
/// row, as teams store embeddings beside the text; `None` when the file has no such column (a domain
/// kept as it is needs none: the stage refuses a document that needs one). Errors: a column of another
/// type.
fn embedding_leaf(
    fields: &Fields,
    descr: &SchemaDescriptor,
    dot_path: &str,
    path: &Path,
) -> Result<Option<usize>> {
    let Some(found) = field_type(fields, dot_path) else {
        return Ok(None);
    };
    if !is_embedding_type(&found) {
        bail!(
            "the embedding column `{dot_path}` in {} has type {found}; [cluster] features = \"column:{dot_path}\" \
             needs a list of float32 or float64 per row (List, LargeList or FixedSizeList), one embedding per document",
            shown(path)
        );
    }
    // A list's single leaf is `<column>.list.element` (or `.item`, `.array` by older writers), or the
    // column itself for a legacy `repeated double` field.
    let parts: Vec<&str> = dot_path.split('.').collect();
    let leaf = descr.columns().iter().position(|c| {
        let leaf = c.path().parts();
        let under = |prefix: &[&str]| {
            leaf.len() >= prefix.len() && leaf.iter().zip(prefix).all(|(a, b)| a == b)
        };
        under(&[dot_path]) || under(&parts)
    });
    match leaf {
        Some(leaf) => Ok(Some(leaf)),
        None => bail!(
            "the embedding column `{dot_path}` in {} is not stored as a Parquet list",
            shown(path)
        ),
    }
}

/// Whether a column of this type holds one embedding per row: a list of floats.
pub(crate) fn is_embedding_type(t: &DataType) -> bool {
    match t {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            matches!(
                item.data_type(),
                DataType::Float16 | DataType::Float32 | DataType::Float64
            )
        }
        _ => false,
    }
}

/// The type of the field at a dot path, looking through structs. An exact top-level name wins, so a
/// column literally named `meta.domain` is found too.
pub(super) fn field_type(fields: &Fields, dot_path: &str) -> Option<DataType> {
    if let Some((_, field)) = fields.find(dot_path) {
        return Some(field.data_type().clone());
    }
    let (head, rest) = dot_path.split_once('.')?;
    match fields.find(head)?.1.data_type() {
        DataType::Struct(children) => field_type(children, rest),
        _ => None,
    }
}

fn leaf_index(descr: &SchemaDescriptor, dot_path: &str) -> Option<usize> {
    let whole = [dot_path];
    let parts: Vec<&str> = dot_path.split('.').collect();
    descr.columns().iter().position(|c| {
        let leaf = c.path().parts();
        leaf == whole.as_slice() || leaf == parts.as_slice()
    })
}

fn column_list(fields: &Fields) -> String {
    fn push(prefix: &str, field: &Field, out: &mut Vec<String>) {
        let name = format!("{prefix}{}", field.name());
        match field.data_type() {
            DataType::Struct(children) => {
                for child in children {
                    push(&format!("{name}."), child, out);
                }
            }
            other => out.push(format!("{name} ({other})")),
        }
    }
    let mut out = Vec::new();
    for field in fields {
        push("", field, &mut out);
    }
    out.join(", ")
}

fn is_text_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    ) || matches!(t, DataType::Dictionary(_, value) if is_text_type(value))
}

fn is_domain_type(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_domain_type(value),
        _ => false,
    }
}
