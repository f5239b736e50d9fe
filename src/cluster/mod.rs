//! The processes of an Apache DataFusion Ballista cluster that `dualrun
//! cluster scheduler|executor` starts (cargo feature `cluster`). Both ends
//! of the wire register the functions the SQL diff uses
//! (`backend::sql::register_functions`, Ballista's `spark-compat`); the
//! client side of a cluster is `backend::cluster`.

pub mod serve;
