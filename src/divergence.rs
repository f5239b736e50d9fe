//! First divergent models: among the models both SQL sides built, those
//! whose output differs while every model they read is identical on both
//! sides, i.e. where a change entered the pipeline. Models further down
//! differ only because something upstream did.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Every shared model and whether it differs, with the first divergent ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub first_divergent: Vec<String>,
    pub models: Vec<ModelState>,
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
    graphs: [&BTreeMap<String, Vec<String>>; 2],
    differs: &BTreeMap<String, bool>,
) -> Divergence {
    let models: Vec<ModelState> = differs
        .iter()
        .map(|(name, &d)| {
            let reads: BTreeSet<String> = graphs
                .iter()
                .flat_map(|g| g.get(name).into_iter().flatten())
                .filter(|t| graphs.iter().any(|g| g.contains_key(*t)))
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
    Divergence {
        first_divergent,
        models,
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
        let result = divergence([&graph, &graph], &differs);
        assert_eq!(result.first_divergent, vec!["c".to_string()]);
        let d = result.models.iter().find(|m| m.name == "d").unwrap();
        assert_eq!(d.reads, vec!["c".to_string(), "e".to_string()]);
        // Two independent changes are both first divergent.
        let mut two = differs.clone();
        two.insert("e".to_string(), true);
        let result = divergence([&graph, &graph], &two);
        assert_eq!(
            result.first_divergent,
            vec!["c".to_string(), "e".to_string()]
        );
    }
}
