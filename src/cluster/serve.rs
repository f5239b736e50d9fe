//! `dualrun cluster scheduler|executor`: a Ballista scheduler or executor in
//! this process, with Ballista's defaults (in-memory cluster state, pull
//! scheduling) and the functions of its `spark-compat` feature, which
//! include the `xxhash64` the diff hashes rows with. Each runs until it is
//! stopped (SIGTERM or Ctrl-C).

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

use crate::backend::ClusterUrl;
use crate::cli::{ExecutorArgs, SchedulerArgs};
use crate::error::{Error, Result};

/// Serves a scheduler on `--bind`:`--port` until stopped.
pub fn scheduler(args: &SchedulerArgs) -> Result<u8> {
    let address: std::net::SocketAddr =
        format!("{}:{}", args.bind, args.port)
            .parse()
            .map_err(|_| {
                Error::usage(format!("`--bind {}` is not an IP address", args.bind))
                    .with_hint("give an address such as `0.0.0.0` or `10.0.0.5`")
            })?;
    let config = SchedulerConfig {
        bind_host: args.bind.clone(),
        bind_port: args.port,
        external_host: args
            .external_host
            .clone()
            .unwrap_or_else(|| args.bind.clone()),
        ..Default::default()
    };
    let url = format!("df://{}:{}", config.external_host, args.port);
    serve("scheduler", &url.clone(), async move {
        let cluster = BallistaCluster::new_from_config(&config).await?;
        eprintln!("dualrun cluster scheduler: serving {url}");
        start_server(cluster, address, Arc::new(config)).await
    })
}

/// Serves an executor that registers with `--scheduler` until stopped.
pub fn executor(args: &ExecutorArgs) -> Result<u8> {
    let scheduler = ClusterUrl::parse(&args.scheduler, "`--scheduler`")?;
    // Shuffle files go to a directory of this process's own unless one is
    // given; it is removed when the executor stops.
    let (work_dir, own_work_dir) = match &args.work_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("dualrun-executor-")
                .tempdir()
                .map_err(|e| {
                    Error::usage(format!("cannot create a work directory under TMPDIR ({e})"))
                        .with_hint("set TMPDIR to a writable directory, or give `--work-dir`")
                })?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let mut config = ExecutorProcessConfig {
        bind_host: args.bind.clone(),
        external_host: args.external_host.clone(),
        port: args.port,
        grpc_port: args.grpc_port,
        scheduler_host: scheduler.host.clone(),
        scheduler_port: scheduler.port,
        // Executors may start before their scheduler.
        scheduler_connect_timeout_seconds: 60,
        work_dir: Some(work_dir.display().to_string()),
        override_function_registry: omitting(&args.omit_function),
        ..Default::default()
    };
    if let Some(tasks) = args.concurrent_tasks {
        if tasks == 0 {
            return Err(Error::usage("`--concurrent-tasks` must be at least 1")
                .with_hint("leave it out to run one task per core"));
        }
        config.vcores = tasks;
    }
    let name = format!("executor of {scheduler}");
    let served = serve(&name, &scheduler.to_string(), async move {
        eprintln!(
            "dualrun cluster executor: serving {}:{} for {scheduler}",
            config.bind_host, config.port
        );
        start_executor_process(Arc::new(config)).await
    });
    drop(own_work_dir);
    served
}

/// The default registry without `omit`, or `None` (the default) when
/// nothing is left out.
fn omitting(omit: &[String]) -> Option<Arc<BallistaFunctionRegistry>> {
    if omit.is_empty() {
        return None;
    }
    let mut registry = BallistaFunctionRegistry::default();
    for name in omit {
        registry.scalar_functions.remove(name);
        registry.aggregate_functions.remove(name);
    }
    Some(Arc::new(registry))
}

/// Runs `service` on a runtime of its own; its end is exit 0, its failure
/// an error naming `what` and `url`.
fn serve(
    what: &str,
    url: &str,
    service: impl Future<Output = ballista_core::error::Result<()>>,
) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::compute(format!("cannot start the {what}'s runtime"), e))?;
    runtime
        .block_on(service)
        .map_err(|e| Error::cluster(url, format!("the {what} stopped ({e})")))?;
    Ok(0)
}
