//! `git = "REV"` sides: the side's files come from a detached `git worktree`
//! of that revision in a temporary directory, removed when the side is done
//! (also when it fails, and when the run is interrupted). Inputs stay those of the working tree, so both
//! sides read the same data.

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(crate::error::first_line(&String::from_utf8_lossy(
            &output.stderr,
        )))
    }
}

impl Worktree {
    /// Checks out `rev` of the repository holding `project_root`.
    pub fn checkout(project_root: &Path, rev: &str) -> Result<Worktree, String> {
        let top = git(project_root, &["rev-parse", "--show-toplevel"])
            .map_err(|e| format!("`git = \"{rev}\"` needs the project in a git repository: {e}"))?;
        let commit = git(
            project_root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
        )
        .map_err(|_| format!("the git revision `{rev}` is unknown"))?;
        let dir = tempfile::Builder::new()
            .prefix("dualrun-worktree-")
            .tempdir()
            .map_err(|e| format!("cannot make a directory for the worktree: {e}"))?;
        let path = dir.path().join("tree");
        git(
            project_root,
            &[
                "worktree",
                "add",
                "--detach",
                &path.display().to_string(),
                &commit,
            ],
        )
        .map_err(|e| format!("cannot check out `{rev}`: {e}"))?;
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
