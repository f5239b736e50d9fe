//! Wall-clock time as every record of dualrun writes it: runs, sides,
//! models, publishes and rollbacks.

/// The time now, UTC, to the millisecond: `2026-11-22T05:40:01.123Z`.
pub fn now_utc() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
