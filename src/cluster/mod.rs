//! Running on an Apache DataFusion Ballista cluster (cargo feature
//! `cluster`): the backend that sends a diff to a scheduler (`remote`), and
//! the scheduler and executor processes `dualrun cluster` starts (`serve`).
//! Both sides of the wire register the functions the SQL diff uses
//! (`sql_diff::register_functions`, Ballista's `spark-compat`).

pub mod remote;
pub mod serve;
