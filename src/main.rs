//! The doorway: parse the command line, run it, turn the outcome into an
//! exit code, and print an error as one line with its hint.

use std::process::ExitCode;

use clap::Parser;
use dualrun::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dualrun::app::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            if let Some(hint) = error.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
