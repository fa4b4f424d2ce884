//! A document's vector for k-means ([`Vectorizer`]): its projected TF-IDF ([`super::features`]), or the
//! embedding the corpus already holds in a column (`[cluster] features = "column:NAME"`), read row by row
//! from the batch's extra column and L2-normalised, so both are unit vectors and k-means on either is
//! spherical k-means.

use anyhow::{Result, anyhow};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};

use super::features::{Projection, slot_counts};
use crate::data::corpus::{Corpus, DocBatch};

/// A usable document of a batch: its row within the batch and its text.
#[derive(Clone, Copy)]
pub struct Doc<'a> {
    pub batch: &'a DocBatch,
    pub row: usize,
    pub text: &'a str,
}

/// Turns documents into the unit vectors k-means sees.
pub enum Vectorizer<'a> {
    /// Projected TF-IDF with each group's IDF (`SLOTS` values per group).
    Tfidf {
        projection: Projection,
        idf: &'a [Vec<f32>],
    },
    /// The embedding column, `dims` values per row.
    Column { name: String, dims: usize },
}

impl Vectorizer<'_> {
    /// The length of every vector.
    pub fn dims(&self) -> usize {
        match self {
            Vectorizer::Tfidf { projection, .. } => projection.dims(),
            Vectorizer::Column { dims, .. } => *dims,
        }
    }

    /// Writes the unit vector of `doc` (in `group`) into `out` (`dims` values); `scratch` is reused
    /// between calls.
    ///
    /// Errors, naming the file, the row and the column: an embedding that is null, holds a null,
    /// NaN or infinite value, is all zeros, or has another length than `dims`.
    pub fn vector(
        &self,
        corpus: &Corpus,
        doc: Doc,
        group: usize,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        let Doc { batch, row, text } = doc;
        match self {
            Vectorizer::Tfidf { projection, idf } => {
                projection.project(&slot_counts(text), &idf[group], out);
                Ok(())
            }
            Vectorizer::Column { name, dims } => {
                let found = embedding(corpus, batch, row, name, scratch)?;
                if found != *dims {
                    return Err(at(
                        corpus,
                        batch,
                        row,
                        name,
                        &format!(
                            "has {found} values, but the clusters' vectors have {dims} (the embeddings of one \
                             corpus must all have one length; a model from centroids_from must be the same)"
                        ),
                    ));
                }
                // In f64: an f32 sum of squares over- or underflows for values beyond about 1e±19.
                let norm = scratch
                    .iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum::<f64>()
                    .sqrt();
                for (o, &x) in out.iter_mut().zip(scratch.iter()) {
                    *o = (f64::from(x) / norm) as f32;
                }
                Ok(())
            }
        }
    }
}

/// Reads row `row`'s embedding from `batch`'s extra column into `out` as f32 and returns its length.
/// Errors, naming the file, the row and the column: a file without the column, a null embedding, a null,
/// NaN or infinite value in it, all zeros (no direction to cluster by).
pub fn embedding(
    corpus: &Corpus,
    batch: &DocBatch,
    row: usize,
    column: &str,
    out: &mut Vec<f32>,
) -> Result<usize> {
    let Some(array) = batch.extra() else {
        let file = &corpus.files[batch.file];
        return Err(anyhow!(
            "{} has no embedding column `{column}` ([cluster] features = \"column:{column}\"), and its documents \
             are to be clustered. Its columns are: {}. Name the column that holds one embedding per document, or \
             use features = \"tfidf\".",
            file.path.display(),
            file.columns_described()
        ));
    };
    read_row(array, row, out).map_err(|problem| at(corpus, batch, row, column, &problem))?;
    Ok(out.len())
}

/// Row `row` of a list-of-floats array into `out`; what is wrong with it otherwise.
fn read_row(array: &ArrayRef, row: usize, out: &mut Vec<f32>) -> Result<(), String> {
    out.clear();
    if array.is_null(row) {
        return Err("is null: every document to cluster needs an embedding".into());
    }
    let values: ArrayRef = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().value(row),
        DataType::LargeList(_) => array.as_list::<i64>().value(row),
        DataType::FixedSizeList(_, _) => array.as_fixed_size_list().value(row),
        other => return Err(format!("has type {other}, not a list of floats")),
    };
    if values.null_count() > 0 {
        return Err("holds a null value".into());
    }
    match values.data_type() {
        DataType::Float32 => out.extend(values.as_primitive::<Float32Type>().values().iter()),
        DataType::Float64 => out.extend(
            values
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|&x| x as f32),
        ),
        DataType::Float16 => out.extend(
            values
                .as_primitive::<Float16Type>()
                .values()
                .iter()
                .map(|x| x.to_f32()),
        ),
        other => return Err(format!("holds {other} values, not floats")),
    }
    if out.len() < 2 {
        return Err(format!(
            "has {} value(s): an embedding has at least 2 (k-means clusters by direction)",
            out.len()
        ));
    }
    if let Some(i) = out.iter().position(|x| !x.is_finite()) {
        return Err(format!("holds {} at position {i}", out[i]));
    }
    if out.iter().all(|&x| x == 0.0) {
        return Err("is all zeros: it has no direction to cluster by".into());
    }
    Ok(())
}

/// Two embeddings of different lengths, each `(values, where)`.
pub(super) fn lengths_differ(
    column: &str,
    one: (usize, &str),
    other: (usize, &str),
) -> anyhow::Error {
    anyhow::anyhow!(
        "the embedding in column `{column}` at {} has {} values, but the one at {} has {}: the embeddings of one \
         corpus must all have one length",
        one.1,
        one.0,
        other.1,
        other.0
    )
}

/// `row R of FILE`, for messages.
pub(super) fn described(corpus: &Corpus, batch: &DocBatch, row: usize) -> String {
    format!(
        "row {} of {}",
        batch.first_row + row as u64,
        corpus.files[batch.file].path.display()
    )
}

/// An error about the embedding at `row` of `batch`, naming the column, the row and the file.
pub(super) fn at(
    corpus: &Corpus,
    batch: &DocBatch,
    row: usize,
    column: &str,
    problem: &str,
) -> anyhow::Error {
    anyhow!(
        "the embedding in column `{column}` at row {} of {} {problem}. Fix the row, drop it from the corpus, \
         or cluster by features = \"tfidf\"",
        batch.first_row + row as u64,
        corpus.files[batch.file].path.display()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{FixedSizeListArray, Float32Array, Float64Array, ListArray};
    use arrow::datatypes::{Field, Float64Type};

    use super::*;

    #[test]
    fn reads_lists_of_floats_and_names_what_is_wrong() {
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>([
            Some(vec![Some(3.0), Some(4.0)]),
            None,
            Some(vec![Some(1.0), None]),
            Some(vec![Some(f64::NAN), Some(1.0)]),
            Some(vec![Some(0.0), Some(0.0)]),
            Some(vec![]),
        ]));
        let mut out = Vec::new();
        read_row(&lists, 0, &mut out).unwrap();
        assert_eq!(out, [3.0, 4.0]);
        let problem = |row| read_row(&lists, row, &mut Vec::new()).unwrap_err();
        assert!(problem(1).contains("is null"));
        assert!(problem(2).contains("null value"));
        assert!(problem(3).contains("NaN at position 0"), "{}", problem(3));
        assert!(problem(4).contains("all zeros"));
        assert!(problem(5).contains("has 0 value(s)"));

        let fixed: ArrayRef = Arc::new(
            FixedSizeListArray::try_new(
                Arc::new(Field::new("item", DataType::Float32, false)),
                2,
                Arc::new(Float32Array::from(vec![1.0, 2.0, 5.0, 6.0])),
                None,
            )
            .unwrap(),
        );
        read_row(&fixed, 1, &mut out).unwrap();
        assert_eq!(out, [5.0, 6.0]);
        let not_a_list: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        assert!(
            read_row(&not_a_list, 0, &mut out)
                .unwrap_err()
                .contains("not a list")
        );
    }
}
