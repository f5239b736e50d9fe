//! The `command` engine: `sh -c RUN` in the side's working directory, told
//! where the inputs are and where to write (`DUALRUN_SIDE`,
//! `DUALRUN_INPUT_<NAME>`, `DUALRUN_INPUTS_DIR`, `DUALRUN_OUTPUT_DIR`), with
//! both output streams in one log file. The program runs in a process group
//! of its own, so a timeout kills everything it started.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::failure::SideError;
use crate::project::Project;
use crate::sides::Side;

/// The variables a command side is given.
pub fn environment(project: &Project, side: Side, output_dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("DUALRUN_SIDE".to_string(), side.name().to_string()),
        (
            "DUALRUN_OUTPUT_DIR".to_string(),
            output_dir.display().to_string(),
        ),
        (
            "DUALRUN_INPUTS_DIR".to_string(),
            project.root.display().to_string(),
        ),
    ];
    // A database input's URL keeps its password here: the program is the
    // user's own, reading the same data.
    for (name, source) in &project.inputs {
        let var: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        env.push((format!("DUALRUN_INPUT_{var}"), source.reference.unmasked()));
    }
    env
}

/// Runs `script`; an error says why the side failed.
pub fn run(
    script: &str,
    workdir: &Path,
    timeout: Duration,
    env: &[(String, String)],
    output_dir: &Path,
    log: &Path,
) -> Result<(), SideError> {
    std::fs::create_dir_all(output_dir)
        .map_err(SideError::io(format!("create `{}`", output_dir.display())))?;
    // Appended to: a side that runs several commands (dbt's) keeps one log.
    let stdout = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(SideError::io(format!("create `{}`", log.display())))?;
    let stderr = stdout
        .try_clone()
        .map_err(SideError::io(format!("share `{}`", log.display())))?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(workdir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(SideError::io(format!(
            "start `sh -c` in `{}`",
            workdir.display()
        )))?;
    let group = child.id();
    // Ctrl-C reaches only dualrun's own process group: the command's must
    // be killed on its way out.
    let _on_interrupt = crate::interrupt::on_interrupt(move || kill_group(group));
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let script = script.to_string();
                return Err(match status.code() {
                    Some(code) => SideError::Exited { script, code },
                    None => SideError::Killed { script },
                });
            }
            Ok(None) if started.elapsed() >= timeout => {
                kill_group(group);
                let _ = child.wait();
                return Err(SideError::TimedOut {
                    script: script.to_string(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(SideError::io(format!("wait for `{script}`"))(e)),
        }
    }
}

/// Kills process group `group` and everything in it.
fn kill_group(group: u32) {
    // The negative pid names the whole process group.
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{group}")])
        .status();
}

/// The last `n` lines of `log`.
pub fn tail(log: &Path, n: usize) -> Vec<String> {
    let Ok(file) = File::open(log) else {
        return Vec::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
