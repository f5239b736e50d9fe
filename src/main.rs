//! The doorway: parse the command line, run it, turn the outcome into an
//! exit code, and print an error as one line with its hint.

use std::process::ExitCode;

use clap::Parser;
use dualrun::cli::Cli;

fn main() -> ExitCode {
    // A panic is a bug, but the user still gets one line and exit code 2
    // ("could not decide"), never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: internal error{location}: {message}");
        eprintln!("hint: this is a bug in dualrun; please report it with the command you ran");
        std::process::exit(2);
    }));
    let cli = Cli::parse();
    match dualrun::app::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.untold_causes() {
                eprintln!("caused by: {cause}");
            }
            if let Some(hint) = error.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
