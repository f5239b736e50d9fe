//! Reports: one serializable model and the renderers that read it. This is
//! the only module (with `main`) that writes text.

mod escape;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
mod profile_table;
pub mod publish;
mod samples;
mod side_run;
pub mod table;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

pub use model::{
    DbtTestRun, JudgedBy, ProfileReport, Report, SideInfo, TableReport, TableStatus, Timings,
};
pub use side_run::{GitRevision, ModelRun, SideRun, SideStatus};

use crate::cli::ReportFormat;
use crate::error::{Error, Result};
use crate::plan::OutputPlan;
use crate::run_dir::{FileDigest, MANIFEST, Manifest, RunDir};

/// Marks a directory dualrun wrote reports into, so it may write there again
/// without ever overwriting a file it did not write.
const OUTPUT_MARKER: &str = ".dualrun-output";

/// A report that can be rendered; the plan only asks a report for the
/// formats it has (`profile` has a table and JSON).
pub trait Render {
    fn render(&self, format: ReportFormat, color: bool, out: &mut dyn Write) -> io::Result<()>;
}

impl Render for Report {
    fn render(&self, format: ReportFormat, color: bool, out: &mut dyn Write) -> io::Result<()> {
        match format {
            ReportFormat::Table => table::render(self, color, out),
            ReportFormat::Json => json::render(self, out),
            ReportFormat::Markdown => markdown::render(self, out),
            ReportFormat::Html => html::render(self, out),
            ReportFormat::Junit => junit::render(self, out),
        }
    }
}

impl Render for ProfileReport {
    fn render(&self, format: ReportFormat, _color: bool, out: &mut dyn Write) -> io::Result<()> {
        match format {
            ReportFormat::Json => json::render(self, out),
            _ => profile_table::render(self, out),
        }
    }
}

/// Renders `report` in one format.
pub fn render(
    report: &dyn Render,
    format: ReportFormat,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    report.render(format, color, out)
}

/// Writes every requested format: to `--output-dir` when given, else the one
/// format to stdout. A closed stdout (`| head`) ends output quietly.
pub fn emit(report: &dyn Render, output: &OutputPlan) -> Result<()> {
    if let Some(dir) = &output.dir {
        prepare_output_dir(dir)?;
        for &format in &output.formats {
            let path = dir.join(file_name(format));
            let mut text = Vec::new();
            render(report, format, false, &mut text).expect("rendering into memory cannot fail");
            write_atomically(&path, &text)?;
        }
        return Ok(());
    }
    if output.quiet {
        return Ok(());
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written =
        render(report, output.formats[0], output.color, &mut out).and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Output {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The files a run directory keeps: the JSON report (for `check` and
/// `publish`), the comment and the page, and the manifest of the run.
/// `digests` holds the candidate copies already digested when they were
/// made; the others are digested here.
pub fn write_run_files(
    report: &Report,
    run_dir: &RunDir,
    digests: &BTreeMap<String, FileDigest>,
) -> Result<()> {
    for format in [
        ReportFormat::Json,
        ReportFormat::Markdown,
        ReportFormat::Html,
    ] {
        let mut text = Vec::new();
        render(report, format, false, &mut text).expect("rendering into memory cannot fail");
        write_atomically(&run_dir.report(format), &text)?;
    }
    let mut candidate_outputs = BTreeMap::new();
    for table in report
        .tables
        .iter()
        .filter(|t| t.candidate.format != "absent")
    {
        let digest = match digests.get(&table.name) {
            Some(digest) => digest.clone(),
            None => {
                let file = run_dir.output(crate::sides::Side::Candidate, &table.name);
                FileDigest::of(&file).map_err(|source| Error::Output { path: file, source })?
            }
        };
        candidate_outputs.insert(table.name.clone(), digest);
    }
    let manifest = Manifest {
        run_id: run_dir
            .root()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        tool: report.tool.clone(),
        verdict: report.verdict,
        inputs: report.inputs.clone(),
        sides: report.sides.clone(),
        outputs: report.tables.iter().map(|t| t.name.clone()).collect(),
        candidate_outputs,
    };
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    write_atomically(&run_dir.file(MANIFEST), &text)
}

/// The file a report in `format` is written to, in a run directory or an
/// `--output-dir`.
pub fn file_name(format: ReportFormat) -> &'static str {
    match format {
        ReportFormat::Table => "report.txt",
        ReportFormat::Json => crate::run_dir::REPORT_JSON,
        ReportFormat::Markdown => "report.md",
        ReportFormat::Html => "report.html",
        ReportFormat::Junit => "report.xml",
    }
}

fn prepare_output_dir(dir: &Path) -> Result<()> {
    let io_error = |source| Error::Output {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(io_error)?;
        let marked = dir.join(OUTPUT_MARKER).exists();
        if !marked && entries.next().is_some() {
            return Err(Error::usage(format!(
                "refusing to write reports into `{}`: it holds files dualrun did not write",
                dir.display()
            ))
            .with_hint("choose a new or empty directory for `--output-dir`"));
        }
    } else {
        fs::create_dir_all(dir).map_err(io_error)?;
    }
    fs::write(dir.join(OUTPUT_MARKER), "reports written by dualrun\n").map_err(io_error)
}

/// Writes beside the target, then renames over it, so a reader never sees a
/// half-written report.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_error = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, bytes).map_err(io_error)?;
    fs::rename(&temporary, path).map_err(io_error)
}
