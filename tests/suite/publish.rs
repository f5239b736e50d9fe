//! `dualrun publish`, `rollback` and `versions` on real run directories and
//! targets in temp dirs: publish/rollback cycles, concurrent publishes,
//! crashes at every step (the process really aborts), `--only`, `--keep`,
//! and the refusals (rejected, tampered, changed inputs, locked).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

/// A project whose two sides are files: prod in `prod/`, the candidate in
/// `cand/`, two outputs `t` and `u`.
fn project(root: &Path) {
    for dir in ["prod", "cand"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("prod/t.csv"), "id,v\n1,10\n2,20\n").unwrap();
    std::fs::write(root.join("prod/u.csv"), "id,w\n1,a\n").unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        "[inputs]\nseed = \"prod/t.csv\"\n[prod]\nengine = \"files\"\noutputs_dir = \"prod\"\n\
         [candidate]\nengine = \"files\"\noutputs_dir = \"cand\"\n\
         [outputs.t]\nkey = [\"id\"]\n[outputs.u]\nkey = [\"id\"]\n",
    )
    .unwrap();
}

/// A run whose candidate has `t` and `u` as given; approved when they
/// equal prod's.
fn make_run(root: &Path, name: &str, t: &str, u: &str) -> PathBuf {
    std::fs::write(root.join("cand/t.csv"), t).unwrap();
    std::fs::write(root.join("cand/u.csv"), u).unwrap();
    let dir = root.join("runs").join(name);
    let output = dualrun(
        root,
        &["run", ".", "--run-dir", dir.to_str().unwrap(), "--quiet"],
    );
    assert!(
        output.status.code().is_some_and(|c| c < 2),
        "{}",
        stderr(&output)
    );
    dir
}

const T: &str = "id,v\n1,10\n2,20\n";
const U: &str = "id,w\n1,a\n";

fn publish(root: &Path, run: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["publish", run.to_str().unwrap(), "--to", "target"];
    args.extend_from_slice(extra);
    dualrun(root, &args)
}

fn live(root: &Path) -> String {
    std::fs::read_link(root.join("target/current"))
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn log(root: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join("target/published.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The rows of output `name` as readers see it through `current`.
fn current_rows(root: &Path, name: &str) -> Vec<String> {
    let output = dualrun(
        root,
        &[
            "profile",
            &format!("target/current/{name}.parquet"),
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    vec![json["table"]["rows"].to_string()]
}

/// The rows of output `name` that readers see through `target/current`,
/// read here with the Parquet reader (not with dualrun), one CSV line a row,
/// sorted.
fn live_rows(root: &Path, name: &str) -> Vec<String> {
    parquet_rows(&root.join(format!("target/current/{name}.parquet")))
}

/// The rows of one Parquet file as sorted CSV lines, read with the Parquet
/// reader.
fn parquet_rows(path: &Path) -> Vec<String> {
    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|column| array_value_to_string(column, row).unwrap())
                .collect();
            rows.push(cells.join(","));
        }
    }
    rows.sort();
    rows
}

/// The data rows of a CSV text, sorted: what `live_rows` must read after
/// that text was published.
fn rows_of(csv: &str) -> Vec<String> {
    let mut rows: Vec<String> = csv.lines().skip(1).map(str::to_string).collect();
    rows.sort();
    rows
}

#[test]
fn publish_rollback_publish_keeps_current_whole_and_the_log_complete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let first = make_run(root, "r1", T, U);
    let output = publish(root, &first, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(live(root), "r1");
    assert_eq!(live_rows(root, "t"), rows_of(T));
    assert_eq!(live_rows(root, "u"), rows_of(U));
    // The run directory is left as it was, the target holds its own files.
    assert!(first.join("candidate/t.parquet").is_file());
    assert_eq!(current_rows(root, "t"), vec!["2".to_string()]);

    // A rejected run needs --force and a reason, which is recorded.
    let second = make_run(root, "r2", "id,v\n1,10\n2,21\n3,30\n", U);
    let refused = publish(root, &second, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("the run was rejected"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("hint: "));
    assert_eq!(live(root), "r1", "a refused publish changes nothing");
    let forced = publish(
        root,
        &second,
        &["--force", "--reason", "finance signed off"],
    );
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert_eq!(live(root), "r2");
    assert_eq!(current_rows(root, "t"), vec!["3".to_string()]);
    // Publishing the same run twice is refused.
    assert_eq!(
        publish(root, &second, &["--force", "--reason", "x"])
            .status
            .code(),
        Some(2)
    );

    let back = dualrun(root, &["rollback", "target"]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    assert_eq!(live(root), "r1");
    assert_eq!(live_rows(root, "t"), rows_of(T));
    let again = dualrun(root, &["rollback", "target", "--to", "r2"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(live(root), "r2");
    assert_eq!(live_rows(root, "t"), rows_of("id,v\n1,10\n2,21\n3,30\n"));
    let unknown = dualrun(root, &["rollback", "target", "--to", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("has no version `nope`"));

    let third = make_run(root, "r3", T, U);
    assert_eq!(publish(root, &third, &[]).status.code(), Some(0));
    assert_eq!(live(root), "r3");

    let events: Vec<(String, String)> = log(root)
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("publish", "r1"),
        ("publish", "r2"),
        ("rollback", "r1"),
        ("rollback", "r2"),
        ("publish", "r3"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(events, expected);
    let entries = log(root);
    assert_eq!(entries[1]["forced_reason"], "finance signed off");
    assert_eq!(entries[1]["verdict"], "rejected");
    assert_eq!(entries[4]["previous"], "r2");
    assert!(entries[0]["inputs"][0]["xxh3"].is_string());

    let listed = dualrun(root, &["versions", "target", "--json"]);
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let live_flags: Vec<(String, bool)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["live"] == true,
            )
        })
        .collect();
    assert_eq!(
        live_flags,
        vec![
            ("r1".to_string(), false),
            ("r2".to_string(), false),
            ("r3".to_string(), true)
        ]
    );
    let table = stdout(&dualrun(root, &["versions", "target"]));
    assert!(table.contains("forced: finance signed off"), "{table}");
}

#[test]
fn only_publishes_a_subset_and_keep_prunes_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let first = make_run(root, "r1", T, U);
    assert_eq!(publish(root, &first, &[]).status.code(), Some(0));
    // r2 changes both outputs but publishes only `u`: `t` stays r1's.
    let second = make_run(root, "r2", "id,v\n1,11\n2,20\n", "id,w\n1,b\n");
    let output = publish(
        root,
        &second,
        &["--force", "--reason", "u only", "--only", "u"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("kept t as they were"),
        "{}",
        stdout(&output)
    );
    assert_eq!(live_rows(root, "t"), rows_of(T));
    assert_eq!(live_rows(root, "u"), rows_of("id,w\n1,b\n"));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("target/current/version.json")).unwrap())
            .unwrap();
    assert_eq!(record["outputs"]["t"], "r1");
    assert_eq!(record["outputs"]["u"], "r2");
    let nothing = publish(
        root,
        &second,
        &["--force", "--reason", "x", "--only", "zz*"],
    );
    assert_eq!(nothing.status.code(), Some(2));

    for name in ["r3", "r4"] {
        let run = make_run(root, name, T, U);
        assert_eq!(publish(root, &run, &[]).status.code(), Some(0));
    }
    // Roll back to r3, then publish r5 keeping 1 version: r5 is live and r4
    // is the one before it, so both stay; r1 to r3 go.
    assert_eq!(
        dualrun(root, &["rollback", "target", "--to", "r3"])
            .status
            .code(),
        Some(0)
    );
    let run = make_run(root, "r5", T, U);
    let output = publish(root, &run, &["--keep", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let kept: Vec<String> = std::fs::read_dir(root.join("target/versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(kept, vec!["r4".to_string(), "r5".to_string()]);
    assert_eq!(live(root), "r5");
    let last = log(root).pop().unwrap();
    assert_eq!(last["pruned"], serde_json::json!(["r1", "r2", "r3"]));
}

#[test]
fn publish_refuses_tampered_runs_changed_inputs_and_a_held_lock() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let run = make_run(root, "r1", T, U);

    // The candidate's file changed after the run.
    let tampered = root.join("runs/tampered");
    copy_dir(&run, &tampered);
    std::fs::write(tampered.join("candidate/t.parquet"), b"not the run's").unwrap();
    let output = publish(root, &tampered, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("changed after the run"),
        "{}",
        stderr(&output)
    );

    // Incomplete: no manifest.
    let incomplete = root.join("runs/incomplete");
    copy_dir(&run, &incomplete);
    std::fs::remove_file(incomplete.join("manifest.json")).unwrap();
    let output = publish(root, &incomplete, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("`manifest.json` is missing"));

    // Another process holds the target's lock.
    std::fs::create_dir_all(root.join("target")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("target/.lock"))
        .unwrap();
    lock.lock().unwrap();
    let output = publish(root, &run, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("another publish holds the lock"),
        "{}",
        stderr(&output)
    );
    drop(lock);
    assert_eq!(publish(root, &run, &[]).status.code(), Some(0));

    // The input the run read has changed since.
    let later = make_run(root, "r2", T, U);
    std::fs::write(root.join("prod/t.csv"), "id,v\n1,10\n2,20\n9,90\n").unwrap();
    let output = publish(root, &later, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the input `seed`"),
        "{}",
        stderr(&output)
    );
    assert_eq!(live(root), "r1");
    // Nothing outside the target was touched: the run dirs are intact.
    assert!(later.join("candidate/t.parquet").is_file());
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-r", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_crash_at_any_step_leaves_current_whole() {
    for (step, live_after) in [("staged", "r1"), ("versioned", "r1"), ("switched", "r2")] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        project(root);
        let first = make_run(root, "r1", T, U);
        assert_eq!(publish(root, &first, &[]).status.code(), Some(0));
        let second_u = "id,w\n1,a\n2,b\n";
        let second = make_run(root, "r2", T, second_u);
        let crashed = Command::new(env!("CARGO_BIN_EXE_dualrun"))
            .args([
                "publish",
                second.to_str().unwrap(),
                "--to",
                "target",
                "--force",
            ])
            .args(["--reason", "crash test"])
            .current_dir(root)
            .env("DUALRUN_CRASH_AT", step)
            .output()
            .unwrap();
        assert_eq!(crashed.status.code(), None, "{step}: the process aborted");
        assert_eq!(live(root), live_after, "{step}");
        // Every output of the live version reads, and is the right one.
        let expected_u = if live_after == "r1" { U } else { second_u };
        assert_eq!(live_rows(root, "t"), rows_of(T), "{step}");
        assert_eq!(live_rows(root, "u"), rows_of(expected_u), "{step}");
        // The next publish cleans up and goes on; the log says what the
        // crash left unsaid.
        let third = make_run(root, "r3", T, U);
        let output = publish(root, &third, &[]);
        assert_eq!(output.status.code(), Some(0), "{step}: {}", stderr(&output));
        assert_eq!(live(root), "r3");
        let hidden: Vec<_> = std::fs::read_dir(root.join("target/versions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{step}: {hidden:?}");
        let events: Vec<String> = log(root)
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["event"].as_str().unwrap(),
                    e["version"].as_str().unwrap()
                )
            })
            .collect();
        if step == "switched" {
            assert_eq!(
                events,
                ["publish r1", "recovered r2", "publish r3"],
                "{step}"
            );
        } else {
            assert_eq!(events, ["publish r1", "publish r3"], "{step}");
        }
    }
}

/// Run `i`'s two outputs: each names `i`, so a target mixing two runs'
/// tables shows.
fn numbered_outputs(i: usize) -> (String, String) {
    (
        format!("id,v\n1,{}\n2,20\n", 100 + i),
        format!("id,w\n1,run{i}\n"),
    )
}

#[test]
fn concurrent_publishes_one_at_a_time_and_never_a_torn_target() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let runs: Vec<PathBuf> = (0..6)
        .map(|i| {
            let (t, u) = numbered_outputs(i);
            make_run(root, &format!("c{i}"), &t, &u)
        })
        .collect();
    // A reader resolves `current` once, as a query would, and reads both
    // tables of that version, over and over while the publishers run.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (root, done) = (root.to_path_buf(), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok(version) = std::fs::read_link(root.join("target/current")) else {
                    continue;
                };
                let version = root.join("target").join(version);
                let u = parquet_rows(&version.join("u.parquet"));
                let run = u[0].trim_start_matches("1,run");
                let (t, _) = numbered_outputs(run.parse().unwrap());
                assert_eq!(
                    parquet_rows(&version.join("t.parquet")),
                    rows_of(&t),
                    "torn: {}",
                    version.display()
                );
                reads += 1;
            }
            reads
        })
    };
    let children: Vec<_> = runs
        .iter()
        .map(|run| {
            Command::new(env!("CARGO_BIN_EXE_dualrun"))
                .args(["publish", run.to_str().unwrap(), "--to", "target"])
                .args(["--force", "--reason", "concurrency test"])
                .current_dir(root)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut published = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        match output.status.code() {
            Some(0) => published.push(format!("c{i}")),
            Some(2) => assert!(
                stderr(&output).contains("another publish holds the lock"),
                "{}",
                stderr(&output)
            ),
            other => panic!("{other:?}: {}", stderr(&output)),
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.join().expect("the reader never saw a torn version");
    assert!(!published.is_empty());
    // Every publish that said so is logged, and `current` is the last one.
    let mut logged: Vec<String> = log(root)
        .iter()
        .map(|e| e["version"].as_str().unwrap().to_string())
        .collect();
    let live_version = live(root);
    assert_eq!(logged.last().unwrap(), &live_version);
    logged.sort();
    assert_eq!(logged, published);
    // The live target is one run's two tables, never a mix.
    let i: usize = live_version.trim_start_matches('c').parse().unwrap();
    let (t, u) = numbered_outputs(i);
    assert_eq!(live_rows(root, "t"), rows_of(&t));
    assert_eq!(live_rows(root, "u"), rows_of(&u));
}

#[test]
fn run_publishes_only_what_it_approves() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    std::fs::write(root.join("cand/t.csv"), T).unwrap();
    std::fs::write(root.join("cand/u.csv"), U).unwrap();
    let output = dualrun(root, &["run", ".", "--quiet", "--publish-to", "target"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("published"), "{}", stderr(&output));
    let first = live(root);
    assert!(first.len() > 16, "a run id: {first}");

    std::fs::write(root.join("cand/t.csv"), "id,v\n1,99\n2,20\n").unwrap();
    let output = dualrun(root, &["run", ".", "--quiet", "--publish-to", "target"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not published"),
        "{}",
        stderr(&output)
    );
    assert_eq!(live(root), first);

    // The next project's prod reads what is live.
    let text = std::fs::read_to_string(root.join("dualrun.toml")).unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        text.replace("seed = \"prod/t.csv\"", "seed = \"target@current/t\""),
    )
    .unwrap();
    let output = dualrun(root, &["run", ".", "--format", "json"]);
    let report = json_report(&output);
    let path = report["inputs"][0]["path"].as_str().unwrap();
    assert!(
        path.ends_with(&format!("target/versions/{first}/t.parquet")),
        "{path}"
    );
}

#[test]
fn only_takes_a_glob_matching_several_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    // A third output, `t2`, beside `t` and `u`.
    let text = std::fs::read_to_string(root.join("dualrun.toml")).unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        format!("{text}[outputs.t2]\nkey = [\"id\"]\n"),
    )
    .unwrap();
    std::fs::write(root.join("prod/t2.csv"), T).unwrap();
    std::fs::write(root.join("cand/t2.csv"), T).unwrap();
    let first = make_run(root, "r1", T, U);
    assert_eq!(publish(root, &first, &[]).status.code(), Some(0));
    let changed_t = "id,v\n1,11\n2,22\n";
    std::fs::write(root.join("cand/t2.csv"), changed_t).unwrap();
    let second = make_run(root, "r2", changed_t, "id,w\n1,z\n");
    let output = publish(
        root,
        &second,
        &["--force", "--reason", "t tables", "--only", "t*"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(live_rows(root, "t"), rows_of(changed_t));
    assert_eq!(live_rows(root, "t2"), rows_of(changed_t));
    assert_eq!(
        live_rows(root, "u"),
        rows_of(U),
        "u is carried over from r1"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("target/current/version.json")).unwrap())
            .unwrap();
    assert_eq!(
        record["outputs"],
        serde_json::json!({"t": "r2", "t2": "r2", "u": "r1"})
    );
}

#[test]
fn an_undecided_run_and_force_without_a_reason_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let approved = make_run(root, "ok", T, U);
    // A candidate whose command fails: the run's verdict is `error`.
    let text = std::fs::read_to_string(root.join("dualrun.toml")).unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        text.replace(
            "[candidate]\nengine = \"files\"\noutputs_dir = \"cand\"\n",
            "[candidate]\nengine = \"command\"\nrun = \"echo broken >&2; exit 3\"\n",
        ),
    )
    .unwrap();
    let failed = root.join("runs/failed");
    let output = dualrun(
        root,
        &["run", ".", "--run-dir", failed.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    for extra in [&[][..], &["--force", "--reason", "try anyway"]] {
        let refused = publish(root, &failed, extra);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("verdict `error`"),
            "{}",
            stderr(&refused)
        );
        assert!(!root.join("target/current").exists(), "nothing published");
    }
    let no_reason = dualrun(
        root,
        &[
            "publish",
            approved.to_str().unwrap(),
            "--to",
            "target",
            "--force",
        ],
    );
    assert_eq!(no_reason.status.code(), Some(2));
    assert!(
        stderr(&no_reason).contains("--reason"),
        "{}",
        stderr(&no_reason)
    );
    assert!(!root.join("target/current").exists(), "nothing published");
}

#[test]
fn a_target_on_another_filesystem_gets_copies() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let run = make_run(root, "r1", T, U);
    // /dev/shm is a tmpfs: a hard link from the run directory cannot reach it.
    let elsewhere = tempfile::tempdir_in("/dev/shm").expect("a tmpfs at /dev/shm");
    let source = run.join("candidate/t.parquet");
    assert_ne!(
        std::fs::metadata(&source).unwrap().dev(),
        std::fs::metadata(elsewhere.path()).unwrap().dev(),
        "the test needs /dev/shm on another filesystem than the temp dir"
    );
    let target = elsewhere.path().join("target");
    let output = dualrun(
        root,
        &[
            "publish",
            run.to_str().unwrap(),
            "--to",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let live = target.join("current/t.parquet");
    assert_eq!(parquet_rows(&live), rows_of(T));
    assert_eq!(
        std::fs::read(&live).unwrap(),
        std::fs::read(&source).unwrap()
    );
    let (live_meta, source_meta) = (
        std::fs::metadata(&live).unwrap(),
        std::fs::metadata(&source).unwrap(),
    );
    assert_eq!(live_meta.nlink(), 1, "a copy, not a link");
    assert_eq!(
        source_meta.nlink(),
        1,
        "the run directory's file is untouched"
    );
}

#[test]
fn a_pinned_version_reads_by_its_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let first = make_run(root, "r1", T, U);
    assert_eq!(publish(root, &first, &[]).status.code(), Some(0));
    let second = make_run(root, "r2", "id,v\n1,10\n2,25\n3,30\n", U);
    assert_eq!(
        publish(root, &second, &["--force", "--reason", "r"])
            .status
            .code(),
        Some(0)
    );
    // r1 against r2, both by id, while r2 is live.
    let output = dualrun(
        root,
        &[
            "diff",
            "target@r1/t",
            "target@r2/t",
            "--key",
            "id",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_report(&output);
    let table = &report["tables"][0];
    assert!(
        table["prod"]["source"]
            .as_str()
            .unwrap()
            .ends_with("target/versions/r1/t.parquet"),
        "{}",
        table["prod"]
    );
    for (class, count) in [
        ("identical", 1),
        ("changed", 1),
        ("added", 1),
        ("removed", 0),
    ] {
        assert_eq!(table["rows"][class], count, "{class}: {}", table["rows"]);
    }
    let missing = dualrun(root, &["profile", "target@r9/t"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("has no version `r9`"),
        "{}",
        stderr(&missing)
    );
    let unnamed = dualrun(root, &["profile", "target@r1"]);
    assert_eq!(unnamed.status.code(), Some(2));
    assert!(
        stderr(&unnamed).contains("has several outputs"),
        "{}",
        stderr(&unnamed)
    );
}

#[test]
fn a_files_side_reads_the_live_published_version_with_outputs_at() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    let run = make_run(root, "first", T, U);
    assert!(publish(root, &run, &[]).status.success());
    // The next run's prod side is what readers see now.
    std::fs::write(
        root.join("dualrun.toml"),
        "[prod]\nengine = \"files\"\noutputs_at = \"target@current/{name}\"\n\
         [candidate]\nengine = \"files\"\noutputs_dir = \"cand\"\n\
         [outputs.t]\nkey = [\"id\"]\n[outputs.u]\nkey = [\"id\"]\n",
    )
    .unwrap();
    std::fs::write(root.join("cand/t.csv"), "id,v\n1,10\n2,21\n").unwrap();
    let output = dualrun(
        root,
        &["run", ".", "--run-dir", "runs/second", "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_report(&output);
    let t = &report["tables"][0];
    assert_eq!(t["name"], "t");
    assert_eq!(t["rows"]["changed"], 1, "{t:#}");
    let source = t["prod"]["source"].as_str().unwrap();
    assert!(
        source.contains("target/versions/") && source.ends_with("t.parquet"),
        "the live version's file, resolved: {source}"
    );
}
