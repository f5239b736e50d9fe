//! The diff on a Ballista cluster: (a) the in-process standalone cluster
//! (scheduler and executor in this process); (b) a scheduler and two
//! executors as separate processes on free loopback ports, driven through
//! `dualrun diff --cluster` and `dualrun run --cluster`; (c) a cluster
//! whose executor lacks `xxhash64`. The cluster's findings must equal the
//! embedded diff's.

#![cfg(feature = "cluster")]

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ballista::prelude::SessionContextExt;
use datafusion::prelude::SessionContext;
use dualrun::backend::sql::register_functions;
use dualrun::diff::DiffOptions;

#[test]
fn a_standalone_cluster_diffs_like_the_embedded_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    let expected = common::generate_pair(
        &pair,
        &["--rows", "20000", "--nulls", "0.05", "--changed", "0.03"],
    );
    let (prod, candidate) = (pair.join("prod.parquet"), pair.join("candidate.parquet"));
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 20,
        stats: true,
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (remote, embedded) = runtime.block_on(async {
        let cluster = SessionContext::standalone().await.unwrap();
        register_functions(&cluster);
        common::sql_and_embedded(&cluster, &prod, &candidate, &options).await
    });
    // Exactly the rows the generator changed, removed and added.
    let rows = &remote.exact["rows"];
    for class in ["identical", "changed", "removed", "added"] {
        assert_eq!(rows[class], expected[class], "{class}: {rows}");
    }
    assert_eq!(rows["prod"], expected["rows"], "{rows}");
    assert_eq!(remote.exact["rows"]["within_tolerance"], 0);
    assert_eq!(remote.exact, embedded.exact);
    common::assert_stats_agree(&remote.stats, &embedded.stats);
}

/// How long a cluster test may take before it fails rather than hangs.
const DEADLINE: Duration = Duration::from_secs(600);

/// A scheduler and its executors, each a `dualrun cluster` process; they
/// are stopped by process id (SIGTERM, then SIGKILL) when dropped.
struct LocalCluster {
    url: String,
    processes: Vec<Child>,
}

impl LocalCluster {
    /// A scheduler and `executors` executors on free loopback ports, each
    /// executor started with `executor_args`.
    fn start(dir: &Path, executors: usize, executor_args: &[&str]) -> LocalCluster {
        let scheduler_port = free_port();
        let url = format!("df://127.0.0.1:{scheduler_port}");
        let mut cluster = LocalCluster {
            url: url.clone(),
            processes: Vec::new(),
        };
        let port = scheduler_port.to_string();
        cluster.spawn(dir, "scheduler", &["cluster", "scheduler", "--port", &port]);
        wait_for_port(scheduler_port);
        for i in 0..executors {
            let (flight, grpc) = (free_port().to_string(), free_port().to_string());
            let mut args = vec![
                "cluster",
                "executor",
                "--scheduler",
                &url,
                "--port",
                &flight,
                "--grpc-port",
                &grpc,
                "--concurrent-tasks",
                "2",
            ];
            args.extend_from_slice(executor_args);
            cluster.spawn(dir, &format!("executor{i}"), &args);
        }
        cluster
    }

    fn spawn(&mut self, dir: &Path, name: &str, args: &[&str]) {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dualrun"))
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.processes.push(child);
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let stopping = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if stopping.elapsed() > Duration::from_secs(10) {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing listens on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `dualrun ARGS`, killed and failed if it outlives the deadline.
fn dualrun_bounded(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(args)
        .current_dir(common::repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    match waited.recv_timeout(DEADLINE.saturating_sub(started.elapsed())) {
        Ok(output) => output,
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("`dualrun {}` ran longer than {DEADLINE:?}", args.join(" "));
        }
    }
}

/// What a `dualrun diff --format json` found, and its verdict.
fn findings(output: &Output) -> (common::Findings, serde_json::Value) {
    let report = common::json_report(output);
    (
        common::findings(&report["tables"][0]),
        report["verdict"].clone(),
    )
}

#[test]
fn processes_on_loopback_diff_a_million_rows_like_the_embedded_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    // One column of each kind the generator has keeps a debug build quick.
    let expected = common::generate_pair(
        &pair,
        &[
            "--rows",
            "1000000",
            "--ints",
            "1",
            "--floats",
            "1",
            "--strings",
            "2",
            "--nulls",
            "0.02",
        ],
    );
    let cluster = LocalCluster::start(dir.path(), 2, &[]);
    let (prod, candidate) = (pair.join("prod.parquet"), pair.join("candidate.parquet"));
    let diff = |extra: &[&str]| {
        let mut args = vec![
            "diff",
            prod.to_str().unwrap(),
            candidate.to_str().unwrap(),
            "--key",
            "id",
            "--format",
            "json",
            "--sample",
            "25",
        ];
        args.extend_from_slice(extra);
        dualrun_bounded(&args)
    };
    let remote = diff(&["--cluster", &cluster.url]);
    assert_eq!(remote.status.code(), Some(1), "{}", common::stderr(&remote));
    let embedded = diff(&[]);
    let ((remote, remote_verdict), (embedded, embedded_verdict)) =
        (findings(&remote), findings(&embedded));
    for count in ["changed", "added", "removed", "identical"] {
        assert_eq!(remote.exact["rows"][count], expected[count], "{count}");
    }
    assert_eq!(remote_verdict, embedded_verdict);
    assert_eq!(remote.exact, embedded.exact);
    assert!(!remote.stats.is_empty());
    common::assert_stats_agree(&remote.stats, &embedded.stats);
    // The diff ran on the cluster: once it is stopped, the same command fails.
    let url = cluster.url.clone();
    drop(cluster);
    let stopped = diff(&["--cluster", &url]);
    assert_eq!(
        stopped.status.code(),
        Some(2),
        "{}",
        common::stderr(&stopped)
    );
}

#[test]
fn an_executor_without_xxhash64_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    common::generate_pair(&pair, &["--rows", "2000"]);
    let cluster = LocalCluster::start(dir.path(), 1, &["--omit-function", "xxhash64"]);
    let output = dualrun_bounded(&[
        "diff",
        pair.join("prod.parquet").to_str().unwrap(),
        pair.join("candidate.parquet").to_str().unwrap(),
        "--key",
        "id",
        "--cluster",
        &cluster.url,
    ]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&cluster.url), "{stderr}");
    assert!(
        stderr.contains("cannot run the function `xxhash64`"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn no_scheduler_at_the_address_and_csv_tables_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    common::generate_pair(&pair, &["--rows", "100", "--csv"]);
    let url = format!("df://127.0.0.1:{}", free_port());
    let diff = |extension: &str| {
        let output = dualrun_bounded(&[
            "diff",
            pair.join(format!("prod.{extension}")).to_str().unwrap(),
            pair.join(format!("candidate.{extension}"))
                .to_str()
                .unwrap(),
            "--key",
            "id",
            "--cluster",
            &url,
        ]);
        assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
        common::stderr(&output)
    };
    let unreachable = diff("parquet");
    assert!(
        unreachable.contains(&format!("cluster `{url}`: cannot connect")),
        "{unreachable}"
    );
    assert!(
        unreachable.contains("hint: start a scheduler"),
        "{unreachable}"
    );
    let csv = diff("csv");
    assert!(csv.contains("prod.csv` is csv"), "{csv}");
    assert!(
        csv.contains("hint: write the table as local Parquet"),
        "{csv}"
    );
}

#[test]
fn a_dual_run_diffs_its_outputs_on_the_cluster_like_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = LocalCluster::start(dir.path(), 1, &[]);
    let run = |name: &str, extra: &[&str]| {
        let run_dir = dir.path().join(name);
        let mut args = vec![
            "run",
            "samples/shop",
            "--run-dir",
            run_dir.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let output = dualrun_bounded(&args);
        assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
        common::json_report(&output)
    };
    let remote = run("remote", &["--cluster", &cluster.url]);
    let embedded = run("embedded", &[]);
    assert_eq!(remote["verdict"], embedded["verdict"]);
    // Rule outcomes agree in all but the last bits of observed sums (the
    // engine's float sum against the embedded exact sum): compare their
    // status and message.
    let outcomes = |report: &serde_json::Value| -> Vec<(String, String)> {
        let outcomes = report["rules"].as_array().unwrap();
        outcomes
            .iter()
            .map(|o| (o["status"].to_string(), o["message"].to_string()))
            .collect()
    };
    assert_eq!(outcomes(&remote), outcomes(&embedded));
    let tables = |report: &serde_json::Value| -> Vec<serde_json::Value> {
        let tables = report["tables"].as_array().unwrap();
        tables.iter().map(|t| common::findings(t).exact).collect()
    };
    assert_eq!(tables(&remote).len(), 3);
    assert_eq!(tables(&remote), tables(&embedded));

    // The same project naming the cluster in `[cluster] url`, no flag.
    let project = dir.path().join("shop");
    let copied = Command::new("cp")
        .args(["-r", "samples/shop"])
        .arg(&project)
        .current_dir(common::repo())
        .status()
        .unwrap();
    assert!(copied.success());
    let toml = project.join("dualrun.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}\n[cluster]\nurl = \"{}\"\n", cluster.url),
    )
    .unwrap();
    let project_run = |name: &str| {
        let run_dir = dir.path().join(name);
        dualrun_bounded(&[
            "run",
            project.to_str().unwrap(),
            "--run-dir",
            run_dir.to_str().unwrap(),
            "--format",
            "json",
        ])
    };
    let configured = project_run("configured");
    assert_eq!(
        configured.status.code(),
        Some(1),
        "{}",
        common::stderr(&configured)
    );
    let configured = common::json_report(&configured);
    assert_eq!(outcomes(&configured), outcomes(&embedded));
    assert_eq!(tables(&configured), tables(&embedded));
    // With the cluster gone, the run fails on it: it did use the url.
    drop(cluster);
    let failed = project_run("cluster-gone");
    assert_eq!(failed.status.code(), Some(2), "{}", common::stderr(&failed));
    assert!(
        common::stderr(&failed).contains("cluster `df://"),
        "{}",
        common::stderr(&failed)
    );
}
