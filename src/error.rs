//! The crate's error type, grouped by the phase that raises it.
//!
//! Every message is one sentence without a trailing period, with literals in
//! backticks; a `hint` carries the fix when one is known. A table difference,
//! however large, is never an error: it is a verdict.

use std::path::PathBuf;

/// Everything that can stop dualrun from reaching a verdict (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something invalid.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },

    /// A table could not be located or read; `source` is the library's
    /// error when one said why.
    #[error("cannot read `{path}`: {reason}")]
    Input {
        path: String,
        reason: String,
        hint: Option<String>,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The tables cannot be diffed as asked: a missing key column, an
    /// incomparable key, a tolerance naming no column.
    #[error("{message}")]
    Schema {
        message: String,
        hint: Option<String>,
    },

    /// A rules or project file is malformed, or names a table or column
    /// that is not there.
    #[error("`{file}`: {message}")]
    Config {
        file: String,
        message: String,
        hint: Option<String>,
    },

    /// A report could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A publish, rollback or read of a published version cannot go on:
    /// the run is incomplete or not approved, the target is locked, a
    /// version is unknown.
    #[error("`{target}`: {message}")]
    Publish {
        target: String,
        message: String,
        hint: Option<String>,
    },

    /// A Ballista cluster cannot be reached, or cannot run the diff.
    #[error("cluster `{url}`: {message}")]
    Cluster {
        url: String,
        message: String,
        hint: Option<String>,
    },

    /// Arrow or DataFusion failed while computing the diff; `source` is
    /// their error, whole, for the `caused by:` lines.
    #[error("{context}: {}", first_line(&source.to_string()))]
    Compute {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn schema(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Schema {
            message: message.into(),
            hint,
        }
    }

    pub fn input(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            reason: reason.into(),
            hint: None,
            source: None,
        }
    }

    /// `path` could not be read because of `source` (whose text is the
    /// reason, and which stays the error's source).
    pub fn unreadable(
        path: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let source = source.into();
        Error::Input {
            path: path.into(),
            reason: source.to_string(),
            hint: None,
            source: Some(source),
        }
    }

    pub fn config(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            file: file.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn publish(target: &std::path::Path, message: impl Into<String>) -> Self {
        Error::Publish {
            target: target.display().to_string(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn cluster(url: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Cluster {
            url: url.into(),
            message: first_line(&message.into()),
            hint: None,
        }
    }

    pub fn compute(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Compute {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The errors under this one, outermost first, each as its text: what
    /// `main` prints as `caused by:` lines when they say more than the
    /// message.
    pub fn causes(&self) -> Vec<String> {
        let mut causes = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(error) = next {
            causes.push(first_line(&error.to_string()));
            next = error.source();
        }
        causes
    }

    /// The causes worth printing under the message: those below the
    /// deepest one the message already says (layers above it only say
    /// where a library was), and none the message repeats.
    pub fn untold_causes(&self) -> Vec<String> {
        let message = self.to_string();
        let causes = self.causes();
        let told = causes
            .iter()
            .rposition(|cause| message.contains(cause.as_str()))
            .map_or(0, |deepest| deepest + 1);
        let mut said = message;
        let mut untold = Vec::new();
        for cause in causes.into_iter().skip(told) {
            if !said.contains(&cause) {
                said.push_str(&cause);
                untold.push(cause);
            }
        }
        untold
    }

    /// Keeps `cause` as the source of an input error whose reason was
    /// written from it; other variants are left as they are.
    pub fn caused_by(mut self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        if let Error::Input { source, .. } = &mut self {
            *source = Some(cause.into());
        }
        self
    }

    /// Attaches a hint; a variant without a hint slot keeps none.
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Error::Usage { hint, .. }
            | Error::Input { hint, .. }
            | Error::Schema { hint, .. }
            | Error::Config { hint, .. }
            | Error::Publish { hint, .. }
            | Error::Cluster { hint, .. } => *hint = Some(text.into()),
            Error::Output { .. } | Error::Compute { .. } => {}
        }
        self
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Usage { hint, .. }
            | Error::Input { hint, .. }
            | Error::Schema { hint, .. }
            | Error::Config { hint, .. }
            | Error::Publish { hint, .. }
            | Error::Cluster { hint, .. } => hint.as_deref(),
            Error::Output { .. } | Error::Compute { .. } => None,
        }
    }
}

/// Keeps the first line of a library error, without a trailing period, so
/// the message stays one sentence.
pub fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    line.trim_end_matches('.').to_string()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compute_error_keeps_its_whole_chain() {
        let inner = "x".parse::<i32>().unwrap_err();
        let error = Error::compute("cannot cast `amount`", std::io::Error::other(inner.clone()));
        assert_eq!(error.to_string(), format!("cannot cast `amount`: {inner}"));
        // The io::Error (which shows its inner error's text).
        assert_eq!(error.causes(), [inner.to_string()]);
        let source = std::error::Error::source(&error).unwrap();
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(error.untold_causes().is_empty(), "the message says it");
    }

    #[test]
    fn only_causes_below_what_the_message_says_are_printed() {
        let root = std::io::Error::other("disk quota exceeded");
        let middle = std::io::Error::other(Wrapped("while writing part 3", root));
        let told = Error::input("t.csv", "disk quota exceeded").caused_by(middle);
        assert_eq!(told.causes().len(), 2);
        assert!(told.untold_causes().is_empty());
        let untold = Error::input("t.csv", "the write failed").caused_by(Wrapped(
            "while writing part 3",
            std::io::Error::other("quota"),
        ));
        assert_eq!(untold.untold_causes(), ["while writing part 3", "quota"]);
    }

    #[derive(Debug)]
    struct Wrapped(&'static str, std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }
}
