//! When each model of a SQL side was built and how long it took, for the
//! manifest, mirrored on the side's progress line as it happens. Models of
//! one level build at once, so the record is shared between them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::clock::now_utc;
use crate::progress::Line;
use crate::report::ModelRun;

/// The models of one side: their reads, start times and durations.
pub struct Timeline {
    runs: Mutex<BTreeMap<String, ModelRun>>,
    line: Line,
}

/// A model being built, from `Timeline::start`.
pub struct Building {
    name: String,
    started_at: String,
    clock: Instant,
}

impl Timeline {
    pub fn new(line: Line, models: usize) -> Self {
        line.set_total(models as u64);
        Timeline {
            runs: Mutex::new(BTreeMap::new()),
            line,
        }
    }

    pub fn start(&self, name: &str) -> Building {
        self.line.working_on(name);
        crate::interrupt::pause_point("building-model");
        Building {
            name: name.to_string(),
            started_at: now_utc(),
            clock: Instant::now(),
        }
    }

    pub fn done(&self, building: Building, reads: impl IntoIterator<Item = String>) {
        let run = ModelRun {
            reads: reads.into_iter().collect(),
            started_at: building.started_at,
            seconds: seconds(building.clock),
        };
        self.line.step();
        self.runs
            .lock()
            .expect("no panic while holding the timeline")
            .insert(building.name, run);
    }

    pub fn into_runs(self) -> BTreeMap<String, ModelRun> {
        self.runs
            .into_inner()
            .expect("no panic while holding the timeline")
    }
}

/// Seconds since `clock`, to the millisecond.
pub fn seconds(clock: Instant) -> f64 {
    (clock.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}
