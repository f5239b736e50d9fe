//! What a dbt side built, from dbt's own artifacts: `manifest.json` (the
//! models, seeds and snapshots, where each was written, what it depends on,
//! its tests and constraints) and `run_results.json` (what ran and how it
//! ended). Only the fields dualrun uses are read, so any manifest version
//! that has them parses (dbt 1.5 and later write them all).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A node dualrun diffs: a model, seed or snapshot that dbt materialized.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The dbt name (`orders`), what the report calls the table.
    pub name: String,
    pub unique_id: String,
    pub resource_type: String,
    /// Where dbt wrote it.
    pub schema: String,
    pub relation: String,
    /// The nodes of this project it reads (by name), for the DAG.
    pub reads: Vec<String>,
    /// The key the project declares, and where it was found.
    pub key: Option<(Vec<String>, KeySource)>,
    /// How long dbt took to build it.
    pub seconds: f64,
}

/// Where a model's key came from, in the order dualrun looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `meta: {dualrun: {key: [...]}}`
    Meta,
    /// A `unique` test on one column.
    UniqueTest,
    /// `dbt_utils.unique_combination_of_columns`.
    UniqueCombination,
    /// A `primary_key` constraint.
    PrimaryKey,
    /// An incremental model's `unique_key`.
    UniqueKey,
}

impl KeySource {
    pub fn describe(self) -> &'static str {
        match self {
            KeySource::Meta => "meta.dualrun.key",
            KeySource::UniqueTest => "a unique test",
            KeySource::UniqueCombination => "dbt_utils.unique_combination_of_columns",
            KeySource::PrimaryKey => "a primary_key constraint",
            KeySource::UniqueKey => "the incremental unique_key",
        }
    }
}

/// A data test and how it ended on one side.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub unique_id: String,
    /// The test's name (`unique_orders_order_id`).
    pub name: String,
    /// The model it tests, by name, when it is attached to one.
    pub model: Option<String>,
    /// `pass`, `fail`, `warn`, `error` or `skipped`, as dbt says.
    pub status: String,
    pub message: Option<String>,
}

/// One side's dbt artifacts, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Artifacts {
    /// Every materialized node that succeeded, by name.
    pub built: BTreeMap<String, Built>,
    /// Ephemeral models: never tables, listed as skipped.
    pub ephemeral: Vec<String>,
    /// Nodes whose build failed, with dbt's message.
    pub failed: Vec<(String, String)>,
    /// Nodes dbt did not build because something upstream failed (a test
    /// in `dbt build`): not diffed, listed.
    pub skipped: Vec<String>,
    pub tests: Vec<TestResult>,
}

impl Artifacts {
    /// Adds what a later command of the same side did (`seed`, then
    /// `run`): a node it built again replaces the earlier result.
    pub fn absorb(&mut self, later: Artifacts) {
        self.failed
            .retain(|(name, _)| !later.built.contains_key(name));
        self.skipped.retain(|name| !later.built.contains_key(name));
        self.built.extend(later.built);
        self.skipped.extend(later.skipped);
        self.failed.extend(later.failed);
        self.tests
            .retain(|t| !later.tests.iter().any(|l| l.unique_id == t.unique_id));
        self.tests.extend(later.tests);
        for name in later.ephemeral {
            if !self.ephemeral.contains(&name) {
                self.ephemeral.push(name);
            }
        }
    }
}

#[derive(Deserialize)]
struct RawManifest {
    nodes: BTreeMap<String, RawNode>,
}

#[derive(Deserialize)]
struct RawNode {
    name: String,
    resource_type: String,
    #[serde(default)]
    schema: String,
    alias: Option<String>,
    #[serde(default)]
    config: RawConfig,
    #[serde(default)]
    depends_on: RawDepends,
    #[serde(default)]
    meta: serde_json::Value,
    attached_node: Option<String>,
    column_name: Option<String>,
    test_metadata: Option<RawTestMetadata>,
    #[serde(default)]
    constraints: Vec<RawConstraint>,
    #[serde(default)]
    columns: BTreeMap<String, RawColumn>,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    materialized: Option<String>,
    #[serde(default)]
    meta: serde_json::Value,
    unique_key: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct RawDepends {
    #[serde(default)]
    nodes: Vec<String>,
}

#[derive(Deserialize)]
struct RawTestMetadata {
    name: String,
    #[serde(default)]
    kwargs: serde_json::Value,
}

#[derive(Deserialize)]
struct RawConstraint {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    columns: Vec<String>,
}

#[derive(Deserialize)]
struct RawColumn {
    #[serde(default)]
    constraints: Vec<RawConstraint>,
}

#[derive(Deserialize)]
struct RawRunResults {
    results: Vec<RawResult>,
}

#[derive(Deserialize)]
struct RawResult {
    unique_id: String,
    status: String,
    message: Option<String>,
    #[serde(default)]
    execution_time: f64,
}

/// Reads `manifest.json` and `run_results.json` of `target_dir`.
pub fn read(target_dir: &Path) -> Result<Artifacts> {
    let manifest: RawManifest = read_json(&target_dir.join("manifest.json"))?;
    let results: RawRunResults = read_json(&target_dir.join("run_results.json"))?;
    Ok(artifacts(manifest, results))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(&shown, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(&shown, format!("not a dbt artifact dualrun can read ({e})"))
            .with_hint("dualrun reads the artifacts of dbt 1.5 and later")
    })
}

const MATERIALIZED: [&str; 3] = ["model", "seed", "snapshot"];

fn artifacts(manifest: RawManifest, results: RawRunResults) -> Artifacts {
    let status: BTreeMap<&str, &RawResult> = results
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), r))
        .collect();
    let names: BTreeMap<&str, &str> = manifest
        .nodes
        .iter()
        .map(|(id, node)| (id.as_str(), node.name.as_str()))
        .collect();
    let tests: Vec<(&String, &RawNode)> = manifest
        .nodes
        .iter()
        .filter(|(_, n)| n.resource_type == "test")
        .collect();
    let mut out = Artifacts::default();
    for (id, node) in &manifest.nodes {
        if !MATERIALIZED.contains(&node.resource_type.as_str()) {
            continue;
        }
        if node.config.materialized.as_deref() == Some("ephemeral") {
            out.ephemeral.push(node.name.clone());
            continue;
        }
        let seconds = match status.get(id.as_str()) {
            Some(result) if result.status == "success" => result.execution_time,
            Some(result) if result.status == "skipped" => {
                out.skipped.push(node.name.clone());
                continue;
            }
            Some(result) => {
                out.failed.push((
                    node.name.clone(),
                    result
                        .message
                        .clone()
                        .unwrap_or_else(|| result.status.clone()),
                ));
                continue;
            }
            // Not selected in this run: not built.
            None => continue,
        };
        let reads = reads(&manifest, &node.depends_on.nodes);
        let alias = node.alias.clone().unwrap_or_else(|| node.name.clone());
        out.built.insert(
            node.name.clone(),
            Built {
                name: node.name.clone(),
                unique_id: id.clone(),
                resource_type: node.resource_type.clone(),
                schema: node.schema.clone(),
                relation: if node.schema.is_empty() {
                    alias
                } else {
                    format!("{}.{alias}", node.schema)
                },
                reads,
                key: key_of(id, node, &tests),
                seconds,
            },
        );
    }
    for (id, test) in tests {
        let Some(result) = status.get(id.as_str()) else {
            continue;
        };
        out.tests.push(TestResult {
            unique_id: id.clone(),
            name: test.name.clone(),
            // A generic test is attached to its model; a singular test
            // is about the one model it reads, when it reads one.
            model: test
                .attached_node
                .as_deref()
                .or(match test.depends_on.nodes.as_slice() {
                    [only] => Some(only.as_str()),
                    _ => None,
                })
                .and_then(|n| names.get(n))
                .map(|n| n.to_string()),
            status: result.status.clone(),
            message: result.message.clone(),
        });
    }
    out
}

/// The tables `depends_on` names, by name: an ephemeral model is no table,
/// so what it reads is read through it.
fn reads(manifest: &RawManifest, depends_on: &[String]) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut pending: Vec<&String> = depends_on.iter().collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(id) = pending.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = manifest.nodes.get(id) else {
            continue;
        };
        if !MATERIALIZED.contains(&node.resource_type.as_str()) {
            continue;
        }
        if node.config.materialized.as_deref() == Some("ephemeral") {
            pending.extend(&node.depends_on.nodes);
        } else {
            names.insert(node.name.clone());
        }
    }
    names.into_iter().collect()
}

/// The key the project declares for `node`, in dualrun's order.
fn key_of(
    id: &str,
    node: &RawNode,
    tests: &[(&String, &RawNode)],
) -> Option<(Vec<String>, KeySource)> {
    let columns = |value: &serde_json::Value| -> Option<Vec<String>> {
        match value {
            serde_json::Value::String(one) => Some(vec![one.clone()]),
            serde_json::Value::Array(many) => {
                let names: Option<Vec<String>> = many
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                names.filter(|n| !n.is_empty())
            }
            _ => None,
        }
    };
    let meta_key = [&node.config.meta, &node.meta]
        .into_iter()
        .find_map(|meta| columns(&meta["dualrun"]["key"]));
    if let Some(key) = meta_key {
        return Some((key, KeySource::Meta));
    }
    let attached = || {
        tests
            .iter()
            .filter(move |(_, t)| t.attached_node.as_deref() == Some(id))
            .filter_map(|(_, t)| t.test_metadata.as_ref().map(|m| (*t, m)))
    };
    let unique = attached()
        .filter(|(_, m)| m.name == "unique")
        .filter_map(|(t, m)| {
            t.column_name
                .clone()
                .or_else(|| m.kwargs["column_name"].as_str().map(str::to_string))
        })
        .min();
    if let Some(column) = unique {
        return Some((vec![column], KeySource::UniqueTest));
    }
    let combination = attached()
        .filter(|(_, m)| m.name == "unique_combination_of_columns")
        .find_map(|(_, m)| columns(&m.kwargs["combination_of_columns"]));
    if let Some(key) = combination {
        return Some((key, KeySource::UniqueCombination));
    }
    let model_pk = node
        .constraints
        .iter()
        .find(|c| c.kind == "primary_key" && !c.columns.is_empty())
        .map(|c| c.columns.clone());
    let column_pk = || {
        let columns: Vec<String> = node
            .columns
            .iter()
            .filter(|(_, c)| c.constraints.iter().any(|k| k.kind == "primary_key"))
            .map(|(name, _)| name.clone())
            .collect();
        (!columns.is_empty()).then_some(columns)
    };
    if let Some(key) = model_pk.or_else(column_pk) {
        return Some((key, KeySource::PrimaryKey));
    }
    node.config
        .unique_key
        .as_ref()
        .and_then(columns)
        .map(|key| (key, KeySource::UniqueKey))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(manifest: serde_json::Value, results: serde_json::Value) -> Artifacts {
        artifacts(
            serde_json::from_value(manifest).unwrap(),
            serde_json::from_value(results).unwrap(),
        )
    }

    #[test]
    fn keys_come_from_meta_tests_constraints_and_unique_key_in_that_order() {
        let model = |name: &str, extra: serde_json::Value| {
            let mut node = serde_json::json!({
                "name": name, "resource_type": "model", "schema": "main",
                "config": {"materialized": "table"}, "depends_on": {"nodes": []},
            });
            for (k, v) in extra.as_object().unwrap() {
                node[k] = v.clone();
            }
            node
        };
        let test = |name: &str, on: &str, metadata: serde_json::Value, column: Option<&str>| {
            serde_json::json!({
                "name": name, "resource_type": "test", "attached_node": on,
                "column_name": column, "test_metadata": metadata,
            })
        };
        let manifest = serde_json::json!({"nodes": {
            "model.p.a": model("a", serde_json::json!({"config": {"materialized": "table", "meta": {"dualrun": {"key": ["x", "y"]}}}})),
            "model.p.b": model("b", serde_json::json!({})),
            "test.p.unique_b_id": test("unique_b_id", "model.p.b", serde_json::json!({"name": "unique", "kwargs": {"column_name": "id"}}), Some("id")),
            "model.p.c": model("c", serde_json::json!({})),
            "test.p.combo_c": test("combo_c", "model.p.c", serde_json::json!({"name": "unique_combination_of_columns", "namespace": "dbt_utils", "kwargs": {"combination_of_columns": ["day", "region"]}}), None),
            "model.p.d": model("d", serde_json::json!({"columns": {"k": {"constraints": [{"type": "not_null"}, {"type": "primary_key"}]}}})),
            "model.p.e": model("e", serde_json::json!({"config": {"materialized": "incremental", "unique_key": "order_id"}, "depends_on": {"nodes": ["model.p.a", "model.p.g"]}})),
            "model.p.f": model("f", serde_json::json!({})),
            "model.p.g": model("g", serde_json::json!({"config": {"materialized": "ephemeral"}, "depends_on": {"nodes": ["seed.p.s"]}})),
            "seed.p.s": {"name": "s", "resource_type": "seed", "schema": "main", "alias": "s_alias", "config": {"materialized": "seed"}},
        }});
        let ok = |id: &str| serde_json::json!({"unique_id": id, "status": "success"});
        let results = serde_json::json!({"results": [
            ok("model.p.a"), ok("model.p.b"), ok("model.p.c"), ok("model.p.d"), ok("model.p.e"),
            {"unique_id": "model.p.f", "status": "error", "message": "Runtime Error: boom"},
            ok("seed.p.s"),
            {"unique_id": "test.p.unique_b_id", "status": "fail", "message": "Got 2 results"},
            {"unique_id": "test.p.combo_c", "status": "pass"},
        ]});
        let parsed = parse(manifest, results);
        let key = |name: &str| parsed.built[name].key.clone();
        assert_eq!(
            key("a"),
            Some((vec!["x".into(), "y".into()], KeySource::Meta))
        );
        assert_eq!(key("b"), Some((vec!["id".into()], KeySource::UniqueTest)));
        assert_eq!(
            key("c"),
            Some((
                vec!["day".into(), "region".into()],
                KeySource::UniqueCombination
            ))
        );
        assert_eq!(key("d"), Some((vec!["k".into()], KeySource::PrimaryKey)));
        assert_eq!(
            key("e"),
            Some((vec!["order_id".into()], KeySource::UniqueKey))
        );
        assert_eq!(key("s"), None);
        // `g` is ephemeral: `e` reads `s` through it.
        assert_eq!(parsed.built["e"].reads, ["a", "s"]);
        assert_eq!(parsed.built["s"].relation, "main.s_alias");
        assert_eq!(parsed.ephemeral, ["g"]);
        assert_eq!(
            parsed.failed,
            [("f".to_string(), "Runtime Error: boom".to_string())]
        );
        let failing: Vec<_> = parsed.tests.iter().filter(|t| t.status == "fail").collect();
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].model.as_deref(), Some("b"));
    }
}
