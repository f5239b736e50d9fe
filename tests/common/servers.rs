//! The real servers `.ci/test` starts (`.ci/servers.sh`): PostgreSQL and an
//! S3-protocol server, found through the variables it exports. Without
//! them a test says loudly that it did not run, and under `CI=true` fails.

use std::path::Path;
use std::process::Command;

/// The PostgreSQL server's URL (with its password), or `None` after
/// saying why the test does not run.
pub fn postgres(test: &str) -> Option<String> {
    server("DUALRUN_TEST_POSTGRES", "PostgreSQL", test)
}

/// The S3 server's endpoint, or `None` after saying why the test does not
/// run.
pub fn s3(test: &str) -> Option<String> {
    server("DUALRUN_TEST_S3", "the S3 server", test)
}

/// The dbt executable of the test venv (dbt-core with dbt-duckdb and
/// dbt-postgres), or `None` after saying why the test does not run.
pub fn dbt(test: &str) -> Option<String> {
    server("DUALRUN_TEST_DBT", "dbt", test)
}

/// The test venv's Python (pyarrow, deltalake, duckdb: independent
/// writers and readers), or `None` after saying why the test does not run.
pub fn test_python(test: &str) -> Option<String> {
    server("DUALRUN_TEST_PYTHON", "the test venv's Python", test)
}

fn server(variable: &str, what: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: {what} is not running (`{variable}` is unset); run the tests with `bash .ci/test`"
            );
            eprintln!(
                "\n*** {test} DID NOT RUN: {what} is not running; `bash .ci/test` starts it ***\n"
            );
            None
        }
    }
}

/// Runs `sql` on the server with `psql` (the server's own client, an
/// independent writer), stopping on the first error.
pub fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A database of its own for one test, dropped first if a former run left
/// it; returns its URL.
pub fn fresh_database(url: &str, name: &str) -> String {
    psql(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    psql(url, &format!("CREATE DATABASE {name}"));
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// Runs a Python script with the venv's interpreter (boto3, pyarrow,
/// deltalake: writers independent of dualrun), with the S3 server's
/// credentials in the environment.
pub fn python(script: &str, dir: &Path) {
    let python = std::env::var("DUALRUN_TEST_PYTHON").expect("the venv's python");
    let output = Command::new(python)
        .args(["-c", script])
        .current_dir(dir)
        .envs(s3_environment())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The variables that point an S3 client at the test server.
pub fn s3_environment() -> Vec<(&'static str, String)> {
    let endpoint = std::env::var("DUALRUN_TEST_S3").unwrap_or_default();
    vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
}
