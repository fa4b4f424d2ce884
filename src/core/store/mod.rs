//! Corpus files in an object store: `s3://` (and `s3a://`), `gs://` and `az://` URLs, read through the
//! `object_store` crate, the client DataFusion, delta-rs and Polars use.
//!
//! remix's readers are synchronous (rayon workers decode row groups), so the store is met with a
//! [`ChunkReader`](parquet::file::reader::ChunkReader): parquet's own sync readers, the Arrow reader and the untyped column reader that
//! reads invalid UTF-8 raw, run unchanged on an [`ObjectReader`](reader::ObjectReader), which fetches byte ranges with a
//! blocking call into one small tokio runtime owned by this module. Before a row group is decoded, the
//! column chunks it needs are fetched at once ([`ObjectReader::prefetch`](reader::ObjectReader::prefetch): object_store coalesces and
//! issues the ranges concurrently), so a row group costs one round of requests and memory holds only the
//! row groups being decoded, never the object. Concurrency across row groups is the rayon workers'.
//! This keeps one reader for local and remote files; an async reader would have meant a second
//! implementation of every read path.
//!
//! Credentials and endpoints come from the environment as the AWS, Google and Azure tools set them
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP` for a
//! local server; `GOOGLE_SERVICE_ACCOUNT`; `AZURE_STORAGE_ACCOUNT_NAME`, ...): object_store's
//! `from_env` builders, which read no `~/.aws` profiles. Transient failures (a dropped connection, a 5xx,
//! a timeout) are retried with exponential backoff within [`StoreConfig`]'s limits; what still fails is
//! an error naming the object and the byte range.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod reader;

/// Limits on talking to an object store: `[corpus.store]` in a pipeline config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Retries of a request that failed transiently, with exponential backoff from 100 ms. Default 10,
    /// object_store's own: rides out a store restart of a few seconds.
    pub retries: usize,
    /// Seconds from a request's first try after which no retry starts. Default 180 (object_store's),
    /// under the 5 minutes a signed request stays valid.
    pub retry_timeout_s: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retries: 10,
            retry_timeout_s: 180,
        }
    }
}

/// The URL schemes remix reads, as `scheme://bucket/key`.
const SCHEMES: [&str; 5] = ["s3", "s3a", "gs", "az", "azure"];

/// A corpus path that names an object store location: `scheme://bucket/key`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreUrl {
    pub scheme: String,
    pub bucket: String,
    /// The key or key prefix, without a leading `/`; may be empty (the whole bucket).
    pub key: String,
}

impl StoreUrl {
    /// `None` for a local path. Errors: a URL of a scheme remix does not read, or without a bucket.
    pub fn parse(path: &Path) -> Result<Option<Self>> {
        let text = path.to_string_lossy();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(None);
        };
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        if !SCHEMES.contains(&scheme) {
            bail!(
                "the corpus path `{text}` is a `{scheme}://` URL; remix reads local paths and s3://, gs:// \
                 and az:// object stores: download the corpus, or give its object store URL"
            );
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("the corpus URL `{text}` names no bucket: write it as {scheme}://BUCKET/PREFIX");
        }
        Ok(Some(Self {
            scheme: scheme.to_string(),
            bucket: bucket.to_string(),
            key: key.trim_start_matches('/').to_string(),
        }))
    }

    /// Whether `path` is an object store URL (of any scheme), so not a local path.
    pub fn is_url(path: &Path) -> bool {
        !matches!(Self::parse(path), Ok(None))
    }

    /// The URL of `key` in the same bucket.
    pub fn with_key(&self, key: &str) -> String {
        format!("{}://{}/{key}", self.scheme, self.bucket)
    }
}

/// One object: where it is, its size and ETag, and the client that reads it.
pub struct StoreObject {
    /// `scheme://bucket/key`, as messages and markers show it.
    pub url: String,
    pub key: String,
    /// Bytes.
    pub size: u64,
    pub e_tag: Option<String>,
    store: Arc<dyn ObjectStore>,
    location: ObjectPath,
}

impl std::fmt::Debug for StoreObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreObject")
            .field("url", &self.url)
            .field("size", &self.size)
            .field("e_tag", &self.e_tag)
            .finish()
    }
}

static CONFIG: Mutex<Option<StoreConfig>> = Mutex::new(None);
static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// Sets the limits for the stores this process opens from now on (a pipeline's `[corpus.store]`);
/// without a call, [`StoreConfig::default`].
pub fn configure(config: &StoreConfig) {
    if let Ok(mut held) = CONFIG.lock() {
        *held = Some(config.clone());
    }
}

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("remix-store")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime),
        Err(e) => bail!("cannot start the object store client's runtime: {e}"),
    }
}

fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

/// The client for `url`'s bucket, built once per process from the environment.
fn store(url: &StoreUrl) -> Result<Arc<dyn ObjectStore>> {
    let root = format!("{}://{}", url.scheme, url.bucket);
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores
        .lock()
        .map_err(|_| anyhow!("the object store registry is poisoned"))?;
    if let Some(store) = stores.get(&root) {
        return Ok(store.clone());
    }
    let config = CONFIG
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .unwrap_or_default();
    let retry = RetryConfig {
        max_retries: config.retries,
        retry_timeout: Duration::from_secs(config.retry_timeout_s),
        ..Default::default()
    };
    let built: Arc<dyn ObjectStore> = match url.scheme.as_str() {
        "s3" | "s3a" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(&root)
                .with_retry(retry)
                .build()
                .with_context(|| {
                    format!(
                        "cannot open {root}: set AWS_REGION, and AWS_ENDPOINT_URL for a store other than AWS \
                         (AWS_ALLOW_HTTP=true for one without TLS)"
                    )
                })?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(&root)
                .with_retry(retry)
                .build()
                .with_context(|| {
                    format!("cannot open {root}: set GOOGLE_SERVICE_ACCOUNT to a service account key file")
                })?,
        ),
        _ => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(&root)
                .with_retry(retry)
                .build()
                .with_context(|| {
                    format!(
                        "cannot open {root}: set AZURE_STORAGE_ACCOUNT_NAME and a key or token \
                         (AZURE_STORAGE_ACCOUNT_KEY)"
                    )
                })?,
        ),
    };
    stores.insert(root, built.clone());
    Ok(built)
}

fn object(
    url: &StoreUrl,
    store: &Arc<dyn ObjectStore>,
    meta: object_store::ObjectMeta,
) -> StoreObject {
    let key = meta.location.as_ref().to_string();
    StoreObject {
        url: url.with_key(&key),
        key,
        size: meta.size,
        e_tag: meta.e_tag,
        store: store.clone(),
        location: meta.location,
    }
}

/// The object `url` names, when it is one object. Errors: the store refused the request.
pub fn head(url: &StoreUrl) -> Result<Option<StoreObject>> {
    if url.key.is_empty() || url.key.ends_with('/') {
        return Ok(None);
    }
    let store = store(url)?;
    let location = ObjectPath::from(url.key.as_str());
    match block_on(store.head(&location))? {
        Ok(meta) => Ok(Some(object(url, &store, meta))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot look up {}", url.with_key(&url.key))),
    }
}

/// Every object under `url`'s key taken as a folder (`prefix/...`, recursively), sorted by key.
pub fn list(url: &StoreUrl) -> Result<Vec<StoreObject>> {
    let store = store(url)?;
    let prefix = url.key.trim_end_matches('/');
    let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let metas: Vec<object_store::ObjectMeta> = block_on(store.list(prefix.as_ref()).try_collect())?
        .with_context(|| format!("cannot list {}", url.with_key(&url.key)))?;
    let mut objects: Vec<StoreObject> = metas.into_iter().map(|m| object(url, &store, m)).collect();
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

impl StoreObject {
    /// Fetches `range` of the object. Errors name the object and the byte range.
    fn fetch(&self, range: Range<u64>) -> Result<Bytes> {
        block_on(self.store.get_range(&self.location, range.clone()))?.with_context(|| {
            format!(
                "cannot read bytes {}..{} of {} (after the retries [corpus.store] allows)",
                range.start, range.end, self.url
            )
        })
    }

    /// The object's identity for a stage's input digest: its URL, size and ETag (a new upload of the
    /// same key changes the ETag).
    pub fn identity(&self) -> String {
        format!(
            "{} {} {}",
            self.url,
            self.size,
            self.e_tag.as_deref().unwrap_or("")
        )
    }
}

static SEEN: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// Remembers an object's [`StoreObject::identity`] for [`identity`], so that markers need no second
/// request for an object the corpus reader already listed.
pub fn remember(object: &StoreObject) {
    if let Ok(mut seen) = SEEN.lock() {
        seen.get_or_insert_with(HashMap::new)
            .insert(object.url.clone(), object.identity());
    }
}

/// The identity of the object at `url` (URL, size, ETag) for a stage's input digest: remembered from
/// the listing, or looked up. Errors: the object does not exist or the store refused.
pub fn identity(url: &StoreUrl) -> Result<String> {
    let shown = url.with_key(&url.key);
    if let Some(known) = SEEN
        .lock()
        .ok()
        .and_then(|seen| seen.as_ref()?.get(&shown).cloned())
    {
        return Ok(known);
    }
    let object = head(url)?.ok_or_else(|| anyhow!("{shown} does not exist"))?;
    remember(&object);
    Ok(object.identity())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_local_paths_do_not() {
        let url = StoreUrl::parse(Path::new("s3://corpus/web/2026/"))
            .unwrap()
            .unwrap();
        assert_eq!(
            url,
            StoreUrl {
                scheme: "s3".into(),
                bucket: "corpus".into(),
                key: "web/2026/".into()
            }
        );
        assert_eq!(url.with_key("a/b.parquet"), "s3://corpus/a/b.parquet");
        assert_eq!(
            StoreUrl::parse(Path::new("gs://b")).unwrap().unwrap().key,
            ""
        );
        assert!(StoreUrl::parse(Path::new("corpus/web")).unwrap().is_none());
        assert!(
            StoreUrl::parse(Path::new("/data/a:b//c"))
                .unwrap()
                .is_none()
        );
        let http = StoreUrl::parse(Path::new("hf://datasets/x")).unwrap_err();
        assert!(
            http.to_string().contains("s3://, gs:// and az://"),
            "{http}"
        );
        assert!(StoreUrl::parse(Path::new("s3:///key")).is_err());
        assert!(StoreUrl::is_url(Path::new("hf://x/y")));
        assert!(!StoreUrl::is_url(Path::new("x/y")));
    }
}
