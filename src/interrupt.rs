//! Ctrl-C (or SIGTERM) during `dualrun run` or `diff`: what the command
//! started outside its run directory (git worktrees, the process groups of
//! command sides, the diff's spill files) is cleaned up before the process
//! exits with 130, as a shell expects of an interrupted program. Each such
//! thing registers its cleanup while it lives and withdraws it when it ends
//! normally.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

type Cleanup = Box<dyn FnOnce() + Send>;

static PENDING: Mutex<BTreeMap<u64, Cleanup>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// The exit code of a run stopped by a signal (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Takes over Ctrl-C and SIGTERM for the rest of the process.
pub fn install() {
    INSTALL.call_once(|| {
        // Without the handler a signal still ends the run; only the
        // cleanup is lost, so a failure to install is not fatal.
        let _ = ctrlc::set_handler(|| {
            let cleanups = std::mem::take(&mut *pending());
            for cleanup in cleanups.into_values() {
                cleanup();
            }
            eprintln!("dualrun: interrupted; what it had started was cleaned up");
            std::process::exit(EXIT_INTERRUPTED);
        });
    });
}

/// Runs `cleanup` if the process is interrupted while the returned guard
/// lives; dropping the guard withdraws it.
pub fn on_interrupt(cleanup: impl FnOnce() + Send + 'static) -> Registered {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    pending().insert(id, Box::new(cleanup));
    Registered(id)
}

/// A cleanup waiting for an interruption.
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        pending().remove(&self.0);
    }
}

fn pending() -> std::sync::MutexGuard<'static, BTreeMap<u64, Cleanup>> {
    // A panic elsewhere while the map was held leaves it usable.
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Holds the process at `step` when `DUALRUN_PAUSE_AT=STEP` says so, so a
/// test can interrupt it exactly there rather than race it: it says
/// `dualrun: paused at STEP` on stderr, then waits for the signal.
pub fn pause_point(step: &str) {
    if std::env::var("DUALRUN_PAUSE_AT").is_ok_and(|s| s == step) {
        static SAID: Once = Once::new();
        SAID.call_once(|| eprintln!("dualrun: paused at {step}"));
        loop {
            std::thread::park();
        }
    }
}
