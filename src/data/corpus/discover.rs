//! Finding the corpus files a user's paths name: local files, folders and globs, and object store
//! URLs, each with the domain its folder gives.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::files::{Found, shown};
use crate::core::store::{self, StoreObject, StoreUrl};
use crate::data::corpus::config::DomainFrom;

/// Expands the user's paths into Parquet files in a deterministic order, each with its folder domain
/// when the domain comes from folders.
pub(super) fn discover(paths: &[PathBuf], domain_from: &DomainFrom) -> Result<Vec<Found>> {
    if paths.is_empty() {
        bail!("no corpus given: pass --corpus PATH (a Parquet file, a folder of them, or a glob)");
    }
    let mut found: Vec<Found> = Vec::new();
    for path in paths {
        let text = path.to_string_lossy();
        if let Some(url) = StoreUrl::parse(path)? {
            found.extend(discover_objects(&url)?);
        } else if text.contains(['*', '?', '[']) {
            let matches = glob::glob(&text)
                .with_context(|| format!("`{text}` is not a valid glob pattern"))?;
            let mut files: Vec<PathBuf> = matches
                .filter_map(|m| m.ok())
                .filter(|p| p.is_file())
                .collect();
            if files.is_empty() {
                bail!(
                    "the corpus pattern `{text}` matches no files: check the pattern and the current folder"
                );
            }
            files.sort();
            found.extend(files.into_iter().map(|f| {
                let domain = parent_name(&f);
                (f, domain, None)
            }));
        } else if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            if files.is_empty() {
                bail!("the corpus folder {} holds no *.parquet files", shown(path));
            }
            for file in files {
                // The domain is the first folder under the given root: corpus/<domain>/.../x.parquet.
                let domain = file
                    .strip_prefix(path)
                    .ok()
                    .and_then(|rel| {
                        let mut parts = rel.components();
                        let first = parts.next()?;
                        parts
                            .next()
                            .map(|_| first.as_os_str().to_string_lossy().into_owned())
                    })
                    .or_else(|| parent_name(&file));
                found.push((file, domain, None));
            }
        } else if path.exists() {
            let domain = parent_name(path);
            found.push((path.clone(), domain, None));
        } else {
            bail!(
                "the corpus path {} does not exist: check the spelling and the current folder",
                shown(path)
            );
        }
    }
    found.dedup_by(|a, b| a.0 == b.0);
    match domain_from {
        DomainFrom::Folder => hive_note(&found),
        DomainFrom::Column(_) => found.iter_mut().for_each(|entry| entry.1 = None),
        DomainFrom::Hive(_) => found
            .iter_mut()
            .for_each(|entry| entry.1 = domain_from.hive_value(&entry.0)),
    }
    Ok(found)
}

/// The Parquet objects a store URL names, as the local forms do: one object; a glob over keys
/// (`s3://b/web/*.parquet`); or a prefix read as a folder, the domain being the first folder under it.
/// Hidden and `_`-prefixed names (Spark's `_SUCCESS`) and objects not named `*.parquet` are skipped.
fn discover_objects(url: &StoreUrl) -> Result<Vec<Found>> {
    let shown = url.with_key(&url.key);
    let parent = |key: &str| {
        let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder);
        let name = folder.rsplit('/').next().unwrap_or(folder);
        (!name.is_empty())
            .then(|| name.to_string())
            .or_else(|| Some(url.bucket.clone()))
    };
    let entry = |object: StoreObject, domain: Option<String>| -> Found {
        store::remember(&object);
        (PathBuf::from(&object.url), domain, Some(Arc::new(object)))
    };
    let visible = |key: &str, below: &str| {
        let rest = key.strip_prefix(below).unwrap_or(key);
        key.ends_with(".parquet") && !rest.split('/').any(|p| p.starts_with(['.', '_']))
    };
    if let Some(wild) = url.key.find(['*', '?', '[']) {
        let pattern = glob::Pattern::new(&url.key)
            .with_context(|| format!("`{shown}` is not a valid glob pattern"))?;
        let fixed = &url.key[..wild];
        let folder = fixed.rsplit_once('/').map_or("", |(folder, _)| folder);
        let listed = store::list(&StoreUrl {
            key: folder.to_string(),
            ..url.clone()
        })?;
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let matched: Vec<Found> = listed
            .into_iter()
            .filter(|o| pattern.matches_with(&o.key, options))
            .map(|o| {
                let domain = parent(&o.key);
                entry(o, domain)
            })
            .collect();
        if matched.is_empty() {
            bail!(
                "the corpus pattern `{shown}` matches no objects: check the pattern and the bucket"
            );
        }
        return Ok(matched);
    }
    if let Some(object) = store::head(url)? {
        let domain = parent(&object.key);
        return Ok(vec![entry(object, domain)]);
    }
    let below = format!("{}/", url.key.trim_end_matches('/'));
    let below = if below == "/" { String::new() } else { below };
    let objects: Vec<Found> = store::list(url)?
        .into_iter()
        .filter(|o| visible(&o.key, &below))
        .map(|o| {
            let rest = &o.key[below.len().min(o.key.len())..];
            let domain = match rest.split_once('/') {
                Some((first, _)) => Some(first.to_string()),
                None => parent(&o.key),
            };
            entry(o, domain)
        })
        .collect();
    if objects.is_empty() {
        bail!(
            "{shown} holds no *.parquet objects: check the bucket and prefix, and that the credentials in              AWS_* (or GOOGLE_*, AZURE_*) may list it"
        );
    }
    Ok(objects)
}

/// A folder domain named like a Hive partition (`source=web`) was most likely written by Spark, DuckDB
/// or pyarrow with a partition key: says once per key how to name the domains by its values instead.
fn hive_note(found: &[Found]) {
    let mut keys: Vec<(&str, &str)> = found
        .iter()
        .filter_map(|(_, domain, _)| domain.as_deref()?.split_once('='))
        .filter(|(key, value)| !key.is_empty() && !value.is_empty())
        .collect();
    keys.sort();
    keys.dedup_by(|a, b| a.0 == b.0);
    for (key, value) in keys {
        tracing::warn!(
            "the domain folders are named like Hive partitions (`{key}={value}`), so the domain is named \
             `{key}={value}`; to name it `{value}`, pass --domain-from hive:{key} ([corpus] domain_from = \
             \"hive:{key}\" in a pipeline config)"
        );
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir)
        .with_context(|| format!("cannot list the corpus folder {}", shown(dir)))?;
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot list the corpus folder {}", shown(dir)))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(['.', '_']) {
            continue; // hidden files and Spark/Hadoop markers such as _SUCCESS
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

fn parent_name(file: &Path) -> Option<String> {
    let parent = file.parent()?;
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let canonical = parent.canonicalize().ok()?;
    Some(canonical.file_name()?.to_string_lossy().into_owned())
}
