//! A folder of SQL models (`NAME.sql`, one SELECT each): what each model
//! reads, found with DataFusion's own parser (never by pattern matching),
//! and the order to build them in: levels of models whose inputs are all
//! built, so each level can run at once. Unknown tables, cycles and
//! statements that are not one query are errors naming the model file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use super::failure::SideError;

/// One model: its file, its SQL and the tables (inputs or models) it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub file: PathBuf,
    pub sql: String,
    pub reads: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    pub models: BTreeMap<String, Model>,
    /// Build order: each level reads only inputs and earlier levels.
    pub levels: Vec<Vec<String>>,
}

/// Loads every `*.sql` of `dirs` (a model in a later folder replaces the
/// one of the same name); `inputs` are the tables models may read besides
/// each other.
pub fn load(dirs: &[PathBuf], inputs: &[String]) -> Result<Models, SideError> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(SideError::io(format!(
            "read the models folder `{}`",
            dir.display()
        )))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SideError::Models(format!(
                "the models folder `{}` has no `.sql` file",
                dir.display()
            )));
        }
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            by_name.insert(name, file);
        }
    }
    let mut models = BTreeMap::new();
    for (name, file) in by_name {
        let sql = std::fs::read_to_string(&file)
            .map_err(SideError::io(format!("read model `{}`", file.display())))?;
        let reads = tables_read(&sql).map_err(|e| SideError::in_model(&file, e))?;
        models.insert(name, Model { file, sql, reads });
    }
    let known: BTreeSet<String> = models
        .keys()
        .cloned()
        .chain(inputs.iter().map(|i| i.to_lowercase()))
        .collect();
    for model in models.values() {
        if let Some(unknown) = model.reads.iter().find(|t| !known.contains(*t)) {
            let valid: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            return Err(SideError::Models(format!(
                "model `{}` reads the unknown table `{unknown}` (known: {})",
                model.file.display(),
                valid.join(", ")
            )));
        }
    }
    let levels = levels(&models)?;
    Ok(Models { models, levels })
}

/// The tables one SELECT reads (CTEs excluded), lower-cased as DataFusion
/// normalizes unquoted names.
fn tables_read(sql: &str) -> Result<BTreeSet<String>, String> {
    let mut statements = DFParser::parse_sql(sql).map_err(|e| parser_message(&e.to_string()))?;
    if statements.len() != 1 {
        return Err(format!(
            "holds {} statements; a model is one SELECT",
            statements.len()
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    if !matches!(&statement, Statement::Statement(s) if matches!(**s, SqlStatement::Query(_))) {
        return Err("is not a query; a model is one SELECT".to_string());
    }
    let (tables, _ctes) = resolve_table_references(&statement, true).map_err(|e| e.to_string())?;
    Ok(tables.iter().map(|t| t.table().to_string()).collect())
}

/// The parser's own words, without the error type wrapped around them:
/// `Expected: an expression, found: ) at Line: 2, Column: 19`.
fn parser_message(text: &str) -> String {
    const OPEN: &str = "ParserError(\"";
    match text.find(OPEN) {
        Some(start) => {
            let inner = &text[start + OPEN.len()..];
            inner.strip_suffix("\")").unwrap_or(inner).to_string()
        }
        None => text.to_string(),
    }
}

/// Kahn's algorithm by levels; what is left over is a cycle.
fn levels(models: &BTreeMap<String, Model>) -> Result<Vec<Vec<String>>, SideError> {
    let mut built: BTreeSet<&str> = BTreeSet::new();
    let mut levels = Vec::new();
    while built.len() < models.len() {
        let ready: Vec<String> = models
            .iter()
            .filter(|(name, _)| !built.contains(name.as_str()))
            .filter(|(_, m)| {
                m.reads
                    .iter()
                    .all(|t| !models.contains_key(t) || built.contains(t.as_str()))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            let stuck: Vec<String> = models
                .keys()
                .filter(|n| !built.contains(n.as_str()))
                .map(|n| format!("`{n}`"))
                .collect();
            return Err(SideError::Models(format!(
                "the models {} read each other in a cycle",
                stuck.join(", ")
            )));
        }
        for name in &ready {
            built.insert(models.get_key_value(name).expect("a model").0);
        }
        levels.push(ready);
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(models: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, sql) in models {
            std::fs::write(dir.path().join(format!("{name}.sql")), sql).unwrap();
        }
        dir
    }

    #[test]
    fn models_are_built_in_dependency_levels() {
        let dir = folder(&[
            ("stg_orders", "SELECT * FROM orders"),
            (
                "daily",
                "WITH d AS (SELECT * FROM stg_orders) SELECT * FROM d",
            ),
            ("top", "SELECT * FROM daily JOIN stg_orders USING (id)"),
            ("other", "SELECT 1 AS one"),
        ]);
        let models = load(&[dir.path().to_path_buf()], &["orders".to_string()]).unwrap();
        assert_eq!(
            models.levels,
            vec![
                vec!["other".to_string(), "stg_orders".to_string()],
                vec!["daily".to_string()],
                vec!["top".to_string()],
            ]
        );
        assert!(
            !models.models["daily"].reads.contains("d"),
            "CTEs are not tables"
        );
    }

    #[test]
    fn cycles_unknown_tables_and_bad_sql_name_the_model() {
        let cycle = folder(&[("a", "SELECT * FROM b"), ("b", "SELECT * FROM a")]);
        let error = load(&[cycle.path().to_path_buf()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`a`, `b` read each other in a cycle"),
            "{error}"
        );
        let unknown = folder(&[("a", "SELECT * FROM ordres")]);
        let error = load(&[unknown.path().to_path_buf()], &["orders".to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a.sql") && error.contains("`ordres`") && error.contains("`orders`"),
            "{error}"
        );
        let bad = folder(&[("a", "SELECT *\nFROM a WHERE ) AND 1")]);
        let error = load(&[bad.path().to_path_buf()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a.sql") && error.contains("Line: 2"),
            "{error}"
        );
        let two = folder(&[("a", "SELECT 1; SELECT 2")]);
        assert!(
            load(&[two.path().to_path_buf()], &[])
                .unwrap_err()
                .to_string()
                .contains("2 statements")
        );
        let ddl = folder(&[("a", "CREATE TABLE t (x INT)")]);
        assert!(
            load(&[ddl.path().to_path_buf()], &[])
                .unwrap_err()
                .to_string()
                .contains("not a query")
        );
    }

    #[test]
    fn model_errors_read_well() {
        let cases: [&[(&str, &str)]; 5] = [
            &[
                ("a", "SELECT * FROM b"),
                ("b", "SELECT * FROM c"),
                ("c", "SELECT * FROM a"),
            ],
            &[("daily", "SELECT * FROM ordres")],
            &[("daily", "SELECT *\nFROM orders WHERE ) AND 1")],
            &[("daily", "SELECT 1; SELECT 2")],
            &[("daily", "DROP TABLE orders")],
        ];
        let messages: Vec<String> = cases
            .iter()
            .map(|models| {
                let dir = folder(models);
                let error = load(&[dir.path().to_path_buf()], &["orders".to_string()])
                    .unwrap_err()
                    .to_string();
                error.replace(&dir.path().display().to_string(), "[models]")
            })
            .collect();
        insta::assert_snapshot!(messages.join("\n"));
    }
}
