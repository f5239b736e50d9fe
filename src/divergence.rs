//! First divergent models: among the models both SQL sides built, those
//! whose output differs while every model they read is identical on both
//! sides, i.e. where a change entered the pipeline. Models further down
//! differ only because something upstream did.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::sides::{Side, Sides};

/// Every shared model and whether it differs, with the first divergent ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub first_divergent: Vec<String>,
    pub models: Vec<ModelState>,
    /// Models one side builds and the other does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_in_prod: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_in_candidate: Vec<String>,
}

impl Divergence {
    /// `2 of 7 shared models differ; only in the candidate: x`.
    pub fn summary(&self) -> String {
        let differing = self.models.iter().filter(|m| m.differs).count();
        let mut text = format!("{differing} of {} shared models differ", self.models.len());
        for (side, names) in [
            ("prod", &self.only_in_prod),
            ("the candidate", &self.only_in_candidate),
        ] {
            if !names.is_empty() {
                text.push_str(&format!("; only in {side}: {}", names.join(", ")));
            }
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    pub name: String,
    pub differs: bool,
    /// Models (not inputs) it reads on either side.
    pub reads: Vec<String>,
}

/// `graphs` are each side's model -> tables read; `differs` says, for each
/// model both sides built, whether its outputs differ.
pub fn divergence(
    graphs: Sides<&BTreeMap<String, Vec<String>>>,
    differs: &BTreeMap<String, bool>,
) -> Divergence {
    let models: Vec<ModelState> = differs
        .iter()
        .map(|(name, &d)| {
            let reads: BTreeSet<String> = graphs
                .values()
                .flat_map(|g| g.get(name).into_iter().flatten())
                .filter(|t| graphs.values().any(|g| g.contains_key(*t)))
                .cloned()
                .collect();
            ModelState {
                name: name.clone(),
                differs: d,
                reads: reads.into_iter().collect(),
            }
        })
        .collect();
    // A model built on one side only counts as differing upstream.
    let upstream_differs = |t: &String| differs.get(t).copied().unwrap_or(true);
    let first_divergent = models
        .iter()
        .filter(|m| m.differs && !m.reads.iter().any(upstream_differs))
        .map(|m| m.name.clone())
        .collect();
    let only_in = |this: Side| {
        graphs[this]
            .keys()
            .filter(|m| !graphs[this.other()].contains_key(*m))
            .cloned()
            .collect()
    };
    Divergence {
        first_divergent,
        models,
        only_in_prod: only_in(Side::Prod),
        only_in_candidate: only_in(Side::Candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_in_the_middle_of_a_chain_is_the_first_divergent() {
        // inputs -> a -> b -> c -> d, and a side branch a -> e.
        let graph: BTreeMap<String, Vec<String>> = [
            ("a", vec!["orders"]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
            ("d", vec!["c", "e"]),
            ("e", vec!["a"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        let differs: BTreeMap<String, bool> = [
            ("a", false),
            ("b", false),
            ("c", true),
            ("d", true),
            ("e", false),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let result = divergence(Sides::new(&graph, &graph), &differs);
        assert_eq!(result.first_divergent, vec!["c".to_string()]);
        let d = result.models.iter().find(|m| m.name == "d").unwrap();
        assert_eq!(d.reads, vec!["c".to_string(), "e".to_string()]);
        // Two independent changes are both first divergent.
        let mut two = differs.clone();
        two.insert("e".to_string(), true);
        let result = divergence(Sides::new(&graph, &graph), &two);
        assert_eq!(
            result.first_divergent,
            vec!["c".to_string(), "e".to_string()]
        );
    }
}
