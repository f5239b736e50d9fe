//! `git = "REV"` sides: the side's files come from a detached `git worktree`
//! of that revision in a temporary directory, removed when the side is done
//! (also when it fails, and when the run is interrupted). Inputs stay those of the working tree, so both
//! sides read the same data.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::failure::SideError;

/// A checked-out revision; dropping it removes the worktree.
pub struct Worktree {
    /// The repository's top directory (of the working tree).
    pub top: PathBuf,
    pub path: PathBuf,
    pub commit: String,
    /// Removes the worktree if the run is interrupted before `Drop` can.
    _on_interrupt: crate::interrupt::Registered,
    _dir: tempfile::TempDir,
}

/// What git printed, or the first line of what it said when it refused.
enum GitOutput {
    Printed(String),
    Refused(String),
}

fn git(dir: &Path, args: &[&str]) -> Result<GitOutput, SideError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(SideError::io("run `git`"))?;
    Ok(if output.status.success() {
        GitOutput::Printed(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        GitOutput::Refused(crate::error::first_line(&String::from_utf8_lossy(
            &output.stderr,
        )))
    })
}

impl Worktree {
    /// Checks out `rev` of the repository holding `project_root`.
    pub fn checkout(project_root: &Path, rev: &str) -> Result<Worktree, SideError> {
        let top = match git(project_root, &["rev-parse", "--show-toplevel"])? {
            GitOutput::Printed(top) => top,
            GitOutput::Refused(message) => {
                return Err(SideError::NotARepository {
                    rev: rev.to_string(),
                    message,
                });
            }
        };
        let verify = format!("{rev}^{{commit}}");
        let GitOutput::Printed(commit) =
            git(project_root, &["rev-parse", "--verify", "--quiet", &verify])?
        else {
            return Err(SideError::UnknownRevision {
                rev: rev.to_string(),
            });
        };
        let dir = tempfile::Builder::new()
            .prefix("dualrun-worktree-")
            .tempdir()
            .map_err(SideError::io("make a directory for the worktree"))?;
        let path = dir.path().join("tree");
        let add = [
            "worktree",
            "add",
            "--detach",
            &path.display().to_string(),
            &commit,
        ];
        if let GitOutput::Refused(message) = git(project_root, &add)? {
            return Err(SideError::Git {
                action: format!("cannot check out `{rev}`"),
                message,
            });
        }
        let top = PathBuf::from(top);
        let on_interrupt = {
            let (top, path, dir) = (top.clone(), path.clone(), dir.path().to_path_buf());
            crate::interrupt::on_interrupt(move || {
                remove_worktree(&top, &path);
                let _ = std::fs::remove_dir_all(dir);
            })
        };
        Ok(Worktree {
            top,
            path,
            commit,
            _on_interrupt: on_interrupt,
            _dir: dir,
        })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        remove_worktree(&self.top, &self.path);
    }
}

fn remove_worktree(top: &Path, path: &Path) {
    let _ = git(
        top,
        &["worktree", "remove", "--force", &path.display().to_string()],
    );
}
