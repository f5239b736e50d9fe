//! Delta Lake tables (cargo feature `delta`): a directory holding
//! `_delta_log/`, local or an `s3://` prefix, read at its latest version,
//! at `?version=N`, or as of `?as_of=TIME`, through the `deltalake` crate's
//! DataFusion provider (which prunes files by the log's statistics and
//! reads only the compared columns). The version read is recorded in the
//! report and in fingerprints.

use chrono::{DateTime, Utc};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake_core::DeltaTableBuilder;
use url::Url;

use super::TableSource;
use super::table_ref::{DeltaAt, DeltaLocation};
use crate::error::{Error, Result, first_line};

/// The table's DataFrame and the version read.
pub struct OpenedDelta {
    pub frame: DataFrame,
    pub version: u64,
}

/// Opens the Delta table at `location`, at `at`, on `ctx`.
pub async fn open(
    ctx: &SessionContext,
    source: &TableSource,
    location: &DeltaLocation,
    at: &DeltaAt,
) -> Result<OpenedDelta> {
    let shown = &source.spec;
    let table = load(source, location, at).await?;
    let version = table.version().unwrap_or(0);
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| unreadable(shown, e))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| unreadable(shown, e))?;
    let frame = ctx
        .read_table(provider)
        .map_err(|e| Error::compute(format!("cannot read `{shown}`"), e))?;
    Ok(OpenedDelta { frame, version })
}

/// The version `at` names of the table at `location`, without reading
/// its data: what a fingerprint records.
pub async fn version(source: &TableSource, location: &DeltaLocation, at: &DeltaAt) -> Result<u64> {
    Ok(load(source, location, at).await?.version().unwrap_or(0))
}

async fn load(
    source: &TableSource,
    location: &DeltaLocation,
    at: &DeltaAt,
) -> Result<deltalake_core::DeltaTable> {
    let shown = &source.spec;
    let url = match location {
        DeltaLocation::Local(path) => {
            let absolute = std::path::absolute(path).map_err(|e| Error::unreadable(shown, e))?;
            if !absolute.join("_delta_log").is_dir() {
                return Err(
                    Error::input(shown, "is not a Delta table (it has no `_delta_log/`)")
                        .with_hint("name the table's directory, the one holding `_delta_log/`"),
                );
            }
            Url::from_directory_path(&absolute)
                .map_err(|()| Error::input(shown, "is not a directory path"))?
        }
        DeltaLocation::Objects(url) => url.clone(),
    };
    let mut builder = DeltaTableBuilder::from_url(url.clone()).map_err(|e| unreadable(shown, e))?;
    if let DeltaLocation::Objects(url) = location {
        builder = with_object_store(builder, source, url)?;
    }
    builder = match at {
        DeltaAt::Latest => builder,
        DeltaAt::Version(version) => builder.with_version(*version),
        DeltaAt::AsOf(time) => {
            let time: DateTime<Utc> = DateTime::parse_from_rfc3339(time)
                .map_err(|e| Error::input(shown, format!("has a bad `as_of` ({e})")))?
                .with_timezone(&Utc);
            builder.with_timestamp(time)
        }
    };
    builder.load().await.map_err(|e| {
        let said = first_line(&e.to_string());
        let error = Error::input(shown, format!("cannot read the Delta table ({said})"));
        match at {
            DeltaAt::Latest => error,
            _ => error.with_hint("the version or time must be one the table's log still holds"),
        }
        .caused_by(e)
    })
}

/// The Delta table at `url` (a local directory's URL, or `s3://` with the
/// `s3` feature), loaded if it exists, to commit to.
pub async fn committable(url: &Url, shown: &str) -> Result<deltalake_core::DeltaTable> {
    let mut builder = DeltaTableBuilder::from_url(url.clone()).map_err(|e| unreadable(shown, e))?;
    if url.scheme() == "s3" {
        builder = committing_backend(builder, url, shown)?;
    }
    let mut table = builder.build().map_err(|e| unreadable(shown, e))?;
    match table.load().await {
        Ok(()) | Err(deltalake_core::DeltaTableError::NotATable(_)) => Ok(table),
        Err(e) => Err(unreadable(shown, e)),
    }
}

#[cfg(feature = "s3")]
fn committing_backend(
    builder: DeltaTableBuilder,
    url: &Url,
    shown: &str,
) -> Result<DeltaTableBuilder> {
    register_s3_log_store();
    let store = super::objects::committing_store(url, shown)?;
    Ok(builder.with_storage_backend(store, url.clone()))
}

#[cfg(not(feature = "s3"))]
fn committing_backend(_: DeltaTableBuilder, url: &Url, shown: &str) -> Result<DeltaTableBuilder> {
    let source = TableSource::parse(url.as_str(), None, Default::default())?;
    let _ = shown;
    Err(super::read::not_built(
        &source,
        &super::TableRef::Objects(url.clone()),
    ))
}

/// The Delta tables right under the prefix `url` names, by folder name.
#[cfg(feature = "s3")]
pub async fn tables_under(url: &Url, shown: &str) -> Result<Vec<String>> {
    super::objects::delta_tables_under(url, shown).await
}

/// Removes a table a failed publish created in a bucket.
#[cfg(feature = "s3")]
pub async fn remove_table(url: &Url, shown: &str) -> Result<()> {
    super::objects::remove_prefix(url, shown).await
}

/// A Delta table in a bucket, on dualrun's own S3 store (the `AWS_*`
/// variables, as for any object).
#[cfg(feature = "s3")]
fn with_object_store(
    builder: DeltaTableBuilder,
    source: &TableSource,
    url: &Url,
) -> Result<DeltaTableBuilder> {
    register_s3_log_store();
    let store = super::objects::store(url, &source.spec)?;
    Ok(builder.with_storage_backend(store, url.clone()))
}

/// deltalake knows how to read a log only for the schemes a log store is
/// registered for; its S3 log store comes with the AWS SDK. The default
/// log store over dualrun's own S3 store reads, and commits with the
/// store's put-if-absent (S3's conditional writes) when publishing.
#[cfg(feature = "s3")]
fn register_s3_log_store() {
    use deltalake_core::logstore::{
        LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
        logstore_factories,
    };

    struct ReadingLogStore;

    impl LogStoreFactory for ReadingLogStore {
        fn with_options(
            &self,
            prefixed_store: ObjectStoreRef,
            root_store: ObjectStoreRef,
            location: &Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<std::sync::Arc<dyn LogStore>> {
            Ok(default_logstore(
                prefixed_store,
                root_store,
                location,
                options,
            ))
        }
    }

    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        let scheme = Url::parse("s3://").expect("a scheme URL");
        logstore_factories().insert(scheme, std::sync::Arc::new(ReadingLogStore));
    });
}

#[cfg(not(feature = "s3"))]
fn with_object_store(
    _builder: DeltaTableBuilder,
    source: &TableSource,
    url: &Url,
) -> Result<DeltaTableBuilder> {
    Err(super::read::not_built(
        source,
        &super::TableRef::Objects(url.clone()),
    ))
}

fn unreadable(shown: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::input(
        shown,
        format!(
            "cannot read the Delta table ({})",
            first_line(&error.to_string())
        ),
    )
    .caused_by(error)
}
