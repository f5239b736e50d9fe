//! The thread pools dualrun works on, each bounded by `--threads`: the tokio
//! runtime and the session DataFusion reads tables and runs SQL models on,
//! the rayon pool of the diff and statistics, and Polars' own pool. A
//! command builds them once, as `Workers`, and passes them by reference.

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};

/// The runtime and the pool of one command, `threads` wide.
pub struct Workers {
    pub threads: usize,
    pub runtime: tokio::runtime::Runtime,
    pool: rayon::ThreadPool,
}

impl Workers {
    /// Built on the main thread, before any other thread of dualrun's.
    pub fn new(threads: usize) -> Result<Self> {
        bound_polars(threads);
        Ok(Workers {
            threads,
            runtime: tokio_runtime(threads)
                .map_err(|e| Error::compute("cannot start the reader runtime", e))?,
            pool: rayon_pool(threads)?,
        })
    }

    /// Runs `work` on the rayon pool (the diff, statistics, profiles).
    pub fn install<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        self.pool.install(work)
    }

    /// Waits for `future` on the runtime (reads, SQL, remote answers).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A session for whole reads and SQL, `threads` partitions wide.
    pub fn session(&self) -> SessionContext {
        session(self.threads)
    }

    /// A session for tables streamed into a diff.
    pub fn streaming_session(&self) -> SessionContext {
        streaming_session(self.threads)
    }
}

/// A runtime for DataFusion: `threads` workers, and a bounded pool of
/// blocking threads (see `blocking_threads`).
fn tokio_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(blocking_threads(threads))
        .enable_all()
        .build()
}

/// A DataFusion session that splits scans and plans into `threads` partitions.
fn session(threads: usize) -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads))
}

/// Scan partitions per thread when a diff streams its tables: partitions are
/// whole row groups, and several per thread let the rayon pool even out
/// sides and files of unequal size. Only `threads` are read at a time, and
/// as many more start ahead when they come over a network
/// (`backend::embedded`).
const STREAMED_PARTITIONS_PER_THREAD: usize = 4;

/// A session for tables streamed into a diff (`backend::embedded`).
fn streaming_session(threads: usize) -> SessionContext {
    session(threads * STREAMED_PARTITIONS_PER_THREAD)
}

/// Blocking threads of the runtime: local file reads run there, and so do
/// library tasks that wait on other blocking tasks (the Delta reader's
/// engine does). With only `threads` of them, two Delta tables read at
/// once can each hold every thread while waiting for one more: a bound
/// well above the CPU threads keeps that from deadlocking, while staying
/// far below tokio's default of 512.
fn blocking_threads(threads: usize) -> usize {
    (threads * 4).max(16)
}

/// The pool the diff, statistics and profiles run on.
fn rayon_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::compute("cannot start the thread pool", e))
}

/// Polars sizes its global pool once, from `POLARS_MAX_THREADS`, when it is
/// first used: set it before any side runs, unless the user already did.
/// A second command in one process (tests) keeps the first bound.
fn bound_polars(threads: usize) {
    if cfg!(feature = "polars") && std::env::var_os("POLARS_MAX_THREADS").is_none() {
        // SAFETY: called on the main thread before any thread of dualrun's
        // that reads the environment (the sides, Polars' pool) has started.
        unsafe { std::env::set_var("POLARS_MAX_THREADS", threads.to_string()) };
    }
}
