//! `git = "REV"` sides: the side's files come from a detached `git worktree`
//! of that revision in a temporary directory, removed when the side is done
//! (also when it fails). Inputs stay those of the working tree, so both
//! sides read the same data.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A checked-out revision; dropping it removes the worktree.
pub struct Worktree {
    /// The repository's top directory (of the working tree).
    pub top: PathBuf,
    pub path: PathBuf,
    pub commit: String,
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
        Ok(Worktree {
            top: PathBuf::from(top),
            path,
            commit,
            _dir: dir,
        })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ = git(
            &self.top,
            &[
                "worktree",
                "remove",
                "--force",
                &self.path.display().to_string(),
            ],
        );
    }
}
