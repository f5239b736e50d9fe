//! What a run diffs when a side is a dbt project: every node a dbt side
//! built, besides the declared outputs, each keyed by `[outputs.NAME]`
//! or else by the key the dbt project declares; and the candidate's tests
//! that did not pass, with how prod ended the same tests.

use std::collections::BTreeMap;

use super::SideBuild;
use crate::project::DeclaredOutput;
use crate::report::{DbtTestRun, SideRun};
use crate::sides::Sides;

/// One output to diff: how, and where its key came from when the project
/// file did not give it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToCompare {
    pub declared: DeclaredOutput,
    pub key_from: Option<String>,
    /// dbt's unique id of the node (`model.shop.orders`).
    pub dbt_node: Option<String>,
}

/// The declared outputs and every node a dbt side built, by name.
pub fn to_compare(
    declared: &BTreeMap<String, DeclaredOutput>,
    sides: Sides<&SideRun>,
) -> BTreeMap<String, ToCompare> {
    let builds: Vec<&SideBuild> = [sides.candidate, sides.prod]
        .iter()
        .filter_map(|s| s.dbt.as_deref())
        .collect();
    let mut outputs: BTreeMap<String, ToCompare> = declared
        .iter()
        .map(|(name, declared)| {
            let compare = ToCompare {
                declared: declared.clone(),
                key_from: None,
                dbt_node: None,
            };
            (name.clone(), compare)
        })
        .collect();
    for build in &builds {
        for name in build.artifacts.built.keys() {
            outputs.entry(name.clone()).or_insert_with(|| ToCompare {
                declared: DeclaredOutput::default(),
                key_from: None,
                dbt_node: None,
            });
        }
    }
    // A node one side's dbt skipped (after a failing test upstream) is
    // not compared: the side did not decide to drop it. It is listed with
    // the side.
    outputs.retain(|name, _| !builds.iter().any(|b| b.artifacts.skipped.contains(name)));
    for (name, compare) in outputs.iter_mut() {
        // The candidate's project first: its key is the one under review.
        let built: Vec<_> = builds
            .iter()
            .filter_map(|b| b.artifacts.built.get(name))
            .collect();
        compare.dbt_node = built.first().map(|b| b.unique_id.clone());
        if built.is_empty() || !compare.declared.key.is_empty() {
            continue;
        }
        match built.iter().find_map(|b| b.key.as_ref()) {
            Some((key, source)) => {
                compare.declared.key = key.clone();
                compare.key_from = Some(format!("from {}", source.describe()));
            }
            None => {
                compare.key_from =
                    Some("no key in the dbt project: whole rows compared".to_string())
            }
        }
    }
    outputs
}

/// The candidate's dbt tests that did not pass, by the model they test
/// (`None`: a test of no single model, such as one of a source).
pub fn unpassed_tests(sides: Sides<&SideRun>) -> BTreeMap<Option<String>, Vec<DbtTestRun>> {
    let mut by_model: BTreeMap<Option<String>, Vec<DbtTestRun>> = BTreeMap::new();
    let Some(candidate) = sides.candidate.dbt.as_deref() else {
        return by_model;
    };
    let prod = sides.prod.dbt.as_deref();
    for test in &candidate.artifacts.tests {
        if matches!(test.status.as_str(), "pass" | "success" | "skipped") {
            continue;
        }
        let prod_status = prod.and_then(|p| {
            p.artifacts
                .tests
                .iter()
                .find(|t| t.unique_id == test.unique_id)
                .map(|t| t.status.clone())
        });
        by_model
            .entry(test.model.clone())
            .or_default()
            .push(DbtTestRun {
                name: test.name.clone(),
                status: test.status.clone(),
                prod_status,
                message: test.message.clone(),
            });
    }
    by_model
}
