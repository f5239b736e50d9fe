//! `s3://` tables (cargo feature `s3`): one object, every data object under
//! a prefix, or the objects a glob matches, read by DataFusion through its
//! object store registry (the `object_store` crate's S3 client), as local
//! files are. Credentials, region and endpoint come from the standard
//! `AWS_*` variables (`AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP` for an
//! S3-compatible server).

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use url::Url;

use super::read::{Opened, read_files};
use super::{FileFormat, TableFormat, TableSource};
use crate::error::{Error, Result};

/// Registers the bucket's store with `ctx` and opens the objects `url`
/// names.
pub async fn open(ctx: &SessionContext, source: &TableSource, url: &Url) -> Result<Opened> {
    let shown = &source.spec;
    let bucket = url.host_str().unwrap_or_default();
    let store = store(url, shown)?;
    let root = Url::parse(&format!("s3://{bucket}")).expect("a bucket URL");
    ctx.register_object_store(&root, Arc::clone(&store));
    let keys: Vec<String> = objects(store.as_ref(), url, shown)
        .await?
        .into_iter()
        .map(|meta| meta.location.to_string())
        .collect();
    let paths: Vec<String> = keys.iter().map(|k| format!("s3://{bucket}/{k}")).collect();
    let files: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let format = match source.format {
        Some(format) => format,
        None => super::locate::single_format(shown, &files)?,
    };
    let frame = read_files(ctx, source, paths, &files, format).await?;
    // Parquet footers give the row count without reading the data; other
    // formats would be read whole for it.
    let known_rows = match format {
        FileFormat::Parquet => Some(super::read::counted(&frame, shown).await?),
        _ => None,
    };
    Ok(Opened {
        frame,
        format: TableFormat::File(format),
        files,
        known_rows,
        scratch: None,
    })
}

/// The bucket's store, configured from the `AWS_*` variables.
pub(super) fn store(url: &Url, shown: &str) -> Result<Arc<dyn ObjectStore>> {
    bucket_store(url, shown, AmazonS3Builder::from_env())
}

/// The bucket's store for writing Delta commits: S3's conditional put
/// (`If-None-Match`), so a commit never replaces another writer's.
#[cfg(feature = "delta")]
pub(super) fn committing_store(url: &Url, shown: &str) -> Result<Arc<dyn ObjectStore>> {
    let builder = AmazonS3Builder::from_env()
        .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
    bucket_store(url, shown, builder)
}

fn bucket_store(url: &Url, shown: &str, builder: AmazonS3Builder) -> Result<Arc<dyn ObjectStore>> {
    let bucket = url.host_str().unwrap_or_default();
    let store = builder.with_bucket_name(bucket).build().map_err(|e| {
        Error::input(shown, format!("cannot reach the bucket `{bucket}` ({e})"))
            .caused_by(e)
            .with_hint("set `AWS_REGION`, and `AWS_ENDPOINT_URL` for an S3-compatible server")
    })?;
    Ok(Arc::new(store))
}

/// The folders right under the prefix `url` names that hold a Delta log.
#[cfg(feature = "delta")]
pub async fn delta_tables_under(url: &Url, shown: &str) -> Result<Vec<String>> {
    let store = store(url, shown)?;
    let key = url.path().trim_matches('/');
    let prefix = (!key.is_empty()).then(|| ObjectPath::from(key));
    let listing = store
        .list_with_delimiter(prefix.as_ref())
        .await
        .map_err(|e| Error::input(shown, format!("cannot list it ({e})")).caused_by(e))?;
    let mut names = Vec::new();
    for folder in listing.common_prefixes {
        let Some(name) = folder.filename().map(str::to_string) else {
            continue;
        };
        let log = folder.clone().join("_delta_log");
        if matches!(store.list(Some(&log)).try_next().await, Ok(Some(_))) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Removes every object under the prefix `url` names.
#[cfg(feature = "delta")]
pub async fn remove_prefix(url: &Url, shown: &str) -> Result<()> {
    let store = store(url, shown)?;
    let prefix = ObjectPath::from(url.path().trim_matches('/'));
    let objects: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::input(shown, format!("cannot list it ({e})")).caused_by(e))?;
    for meta in objects {
        store
            .delete(&meta.location)
            .await
            .map_err(|e| Error::input(shown, format!("cannot remove `{}` ({e})", meta.location)))?;
    }
    Ok(())
}

/// Whether the prefix `url` names is a Delta table's directory: it holds
/// `_delta_log/`.
#[cfg(feature = "delta")]
pub async fn holds_delta_log(url: &Url, shown: &str) -> Result<bool> {
    let key = url.path().trim_matches('/');
    if !url.path().ends_with('/') || key.contains(['*', '?', '[']) {
        return Ok(false);
    }
    let store = store(url, shown)?;
    let log = ObjectPath::from(format!("{key}/_delta_log"));
    let mut listing = store.list(Some(&log));
    Ok(matches!(listing.try_next().await, Ok(Some(_))))
}

/// The fingerprint of the objects `url` names: how many, their bytes, and
/// an xxh3 over each key, size and ETag (S3's content tag), without
/// reading them.
pub async fn fingerprint(source: &TableSource, url: &Url) -> Result<(u64, u64, u64)> {
    let store = store(url, &source.spec)?;
    let objects = objects(store.as_ref(), url, &source.spec).await?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut bytes = 0;
    for meta in &objects {
        hasher.update(meta.location.as_ref().as_bytes());
        hasher.update(&meta.size.to_le_bytes());
        hasher.update(meta.e_tag.as_deref().unwrap_or("").as_bytes());
        bytes += meta.size;
    }
    Ok((objects.len() as u64, bytes, hasher.digest()))
}

/// The objects `url` names: itself, or the data objects under its prefix
/// (hidden `.x` and `_x` markers left out), or those its glob matches;
/// sorted by key.
async fn objects(store: &dyn ObjectStore, url: &Url, shown: &str) -> Result<Vec<ObjectMeta>> {
    let key = url.path().trim_start_matches('/');
    let bucket = url.host_str().unwrap_or_default();
    let listing_error = |e: object_store::Error| {
        let said = e.to_string();
        // S3 answers a listing of a missing bucket with 404 (NoSuchBucket),
        // which object_store passes on as a generic error.
        let reason = if matches!(e, object_store::Error::NotFound { .. })
            || said.contains("404 Not Found")
            || said.contains("NoSuchBucket")
        {
            format!("the bucket `{bucket}` does not exist")
        } else {
            format!("cannot list it ({})", crate::error::first_line(&said))
        };
        Error::input(shown, reason)
            .caused_by(e)
            .with_hint("check the bucket and key, and the `AWS_*` credentials")
    };
    let glob = key.contains(['*', '?', '[']);
    if !glob && !key.is_empty() && !key.ends_with('/') {
        return match store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(vec![meta]),
            Err(object_store::Error::NotFound { .. }) => Err(Error::input(shown, "no such object")
                .with_hint("name a prefix with a trailing `/` to read every object under it")),
            Err(e) => Err(listing_error(e)),
        };
    }
    let literal = if glob {
        key[..key.find(['*', '?', '[']).unwrap_or(key.len())]
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir)
    } else {
        key.trim_end_matches('/')
    };
    let pattern = if glob {
        Some(
            glob::Pattern::new(key)
                .map_err(|e| Error::input(shown, format!("invalid glob pattern ({})", e.msg)))?,
        )
    } else {
        None
    };
    let prefix = (!literal.is_empty()).then(|| ObjectPath::from(literal));
    let mut keys: Vec<ObjectMeta> = store
        .list(prefix.as_ref())
        .try_collect::<Vec<_>>()
        .await
        .map_err(listing_error)?
        .into_iter()
        .filter(|meta| !is_marker(meta.location.as_ref()))
        .filter(|meta| {
            pattern
                .as_ref()
                .is_none_or(|p| p.matches(meta.location.as_ref()))
        })
        .collect();
    keys.sort_by(|a, b| a.location.cmp(&b.location));
    if keys.is_empty() {
        return Err(Error::input(
            shown,
            if glob {
                "no objects match this glob"
            } else {
                "no data objects under this prefix"
            },
        )
        .with_hint(
            "check the bucket and prefix; objects named `_x` or `.x` are markers, not data",
        ));
    }
    Ok(keys)
}

/// A key whose name (or a folder on its way) starts with `.` or `_`: a
/// marker (`_SUCCESS`, `_delta_log/`), not data.
fn is_marker(key: &str) -> bool {
    key.split('/').any(|part| part.starts_with(['.', '_']))
}
