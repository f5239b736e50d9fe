//! The cluster backend: registers both sides as Parquet listing tables in a
//! context whose plans run on a Ballista scheduler, and runs the SQL diff
//! there. Executors read the files themselves, so every path must mean the
//! same file on the client and on every executor (a shared file system).
//!
//! A failure is explained before it is reported: a cluster that lacks one
//! of the functions the diff needs fails deep in plan decoding, so each is
//! tried alone and the missing one is named.

use std::sync::Arc;

use crate::backend::sql::{CLUSTER_FUNCTIONS, SqlSide, register_functions, sql_diff};
use crate::backend::{Backend, ClusterUrl, Diffed};
use crate::diff::{DiffOptions, TableDiff};
use crate::error::{Error, Result, first_line};
use crate::input::{FileFormat, OpenTable, Table, TableFormat};
use crate::threads::Workers;
use ballista::prelude::SessionContextExt;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::options::ReadOptions;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// A Ballista scheduler; the command's workers compare the rows that come
/// back.
pub struct Remote {
    pub url: ClusterUrl,
}

/// The names the sides are registered under in the cluster's catalog.
const PROD: &str = "dualrun_prod";
const CANDIDATE: &str = "dualrun_candidate";

impl Backend for Remote {
    fn diff(
        &self,
        workers: &Workers,
        prod: OpenTable,
        candidate: OpenTable,
        options: &DiffOptions,
    ) -> Result<Diffed> {
        let (prod, candidate) = (parquet_only(prod)?, parquet_only(candidate)?);
        let diff = workers.install(|| workers.block_on(self.run(&prod, &candidate, options)))?;
        Ok(Diffed {
            prod,
            candidate,
            diff,
        })
    }
}

impl Remote {
    async fn run(
        &self,
        prod: &Table,
        candidate: &Table,
        options: &DiffOptions,
    ) -> Result<TableDiff> {
        let ctx = SessionContext::remote(&self.url.to_string())
            .await
            .map_err(|e| {
                if connection_failed(&e) {
                    cannot_connect(&self.url, &e)
                } else {
                    Error::cluster(self.url.to_string(), first_line(&e.find_root().to_string()))
                }
            })?;
        // The context a remote session returns lacks functions registered
        // on the state it was built from: register them on it.
        register_functions(&ctx);
        let prod_schema = register(&ctx, PROD, prod).await?;
        let candidate_schema = register(&ctx, CANDIDATE, candidate).await?;
        let sides = [
            SqlSide {
                table: PROD,
                source: &prod.source,
                schema: prod_schema,
            },
            SqlSide {
                table: CANDIDATE,
                source: &candidate.source,
                schema: candidate_schema,
            },
        ];
        match sql_diff(&ctx, &sides[0], &sides[1], options).await {
            Ok(diff) => Ok(diff),
            Err(error @ (Error::Usage { .. } | Error::Schema { .. })) => Err(error),
            Err(error) => Err(self.explain(&ctx, &sides[0], error).await),
        }
    }

    /// Turns a failed diff into the reason a user can act on: a function
    /// the cluster lacks, a scheduler that cannot be reached, or the
    /// engine's own message.
    async fn explain(&self, ctx: &SessionContext, side: &SqlSide<'_>, error: Error) -> Error {
        let url = self.url.to_string();
        if connection_failed(&error) {
            return cannot_connect(&self.url, &error);
        }
        if let Some(column) = side.schema.fields().first() {
            for function in CLUSTER_FUNCTIONS {
                let probe = format!(
                    "SELECT {function}({}) FROM {} LIMIT 1",
                    crate::backend::sql::ident(column.name()),
                    side.table
                );
                if let Err(missing) = probe_query(ctx, &probe).await {
                    return Error::cluster(
                        url,
                        format!("cannot run the function `{function}` the diff needs ({missing})"),
                    )
                    .with_hint(
                        "give the scheduler and every executor Ballista's `spark-compat` \
                         functions, or start them with `dualrun cluster scheduler` and \
                         `dualrun cluster executor`",
                    );
                }
            }
        }
        let reason = match &error {
            Error::Compute { source, .. } => first_line(&source.to_string()),
            other => other.to_string(),
        };
        Error::cluster(url, format!("the diff failed ({reason})"))
    }
}

/// No scheduler answers at `url`; `error` holds the transport's failure,
/// named by its kind.
fn cannot_connect(url: &ClusterUrl, error: &(dyn std::error::Error + 'static)) -> Error {
    let text = error.to_string();
    let reason = match io_failure(error) {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        Some(e) => first_line(&e.to_string()),
        None if text.contains("Connection refused") => "connection refused".into(),
        None => first_line(&text),
    };
    Error::cluster(url.to_string(), format!("cannot connect ({reason})"))
        .with_hint("start a scheduler there (`dualrun cluster scheduler`), or check the address")
}

/// The I/O error deepest in `error`'s chain, if any.
fn io_failure<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut found = None;
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            found = Some(io);
        }
        next = e.source();
    }
    found
}

/// Whether `error` is a connection that failed (refused, reset,
/// unreachable): from the transport's own `io::Error` where the chain keeps
/// it; Ballista's client turns the transport error into text
/// (`DataFusionError::Execution("tonic::transport::Error(...)")`) on the way
/// back from a query, so there the text is all that is left to read.
fn connection_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::*;
    if let Some(io) = io_failure(error) {
        return matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | HostUnreachable
                | NetworkUnreachable
                | AddrNotAvailable
                | TimedOut
        );
    }
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if [
            "tonic::transport::Error",
            "Connection refused",
            "error trying to connect",
        ]
        .iter()
        .any(|sign| text.contains(sign))
        {
            return true;
        }
        next = e.source();
    }
    false
}

async fn probe_query(ctx: &SessionContext, sql: &str) -> std::result::Result<(), String> {
    let root = |e: datafusion::error::DataFusionError| first_line(&e.find_root().to_string());
    ctx.sql(sql)
        .await
        .map_err(root)?
        .collect()
        .await
        .map_err(root)?;
    Ok(())
}

/// Executors read a side's files themselves: only Parquet, by absolute path.
fn parquet_only(table: OpenTable) -> Result<Table> {
    let table = table.described();
    let local = table
        .files
        .iter()
        .all(|f| !f.display().to_string().contains("://"));
    if table.format != TableFormat::File(FileFormat::Parquet) || !local {
        return Err(Error::usage(format!(
            "`--cluster` diffs local Parquet tables, and `{}` is {}",
            table.source,
            if local {
                table.format.name()
            } else {
                "in object storage"
            }
        ))
        .with_hint("write the table as local Parquet, or diff it without `--cluster`"));
    }
    Ok(table)
}

/// Registers `table`'s files under `name` as one listing table; returns
/// the schema the cluster sees.
async fn register(ctx: &SessionContext, name: &str, table: &Table) -> Result<SchemaRef> {
    let failed = |e: datafusion::error::DataFusionError| {
        Error::input(
            table.source.clone(),
            format!(
                "cannot register it with the cluster ({})",
                first_line(&e.find_root().to_string())
            ),
        )
    };
    let urls = table
        .files
        .iter()
        .map(|file| {
            let path = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            ListingTableUrl::parse(path.display().to_string())
        })
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(failed)?;
    // The files are already chosen, so no extension filter applies.
    let options = ParquetReadOptions {
        file_extension: "",
        ..Default::default()
    }
    .to_listing_options(&ctx.copied_config(), ctx.copied_table_options());
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await
        .map_err(failed)?;
    let listing = ListingTable::try_new(config).map_err(failed)?;
    let schema = listing.schema();
    ctx.register_table(name, Arc::new(listing))
        .map_err(failed)?;
    Ok(schema)
}
