//! `dualrun bench`, hidden from help: what benchmark scripts need besides
//! the diff itself, a deterministic pair with known counts (`generate`) and
//! the yardstick of a full scan (`scan`).

pub mod generate;
pub mod scan;

use crate::cli::{BenchCommand, GenerateArgs, ScanArgs};
use crate::error::{Error, Result};
use crate::plan::thread_count;
use generate::{Families, PairSpec};

pub fn run(command: &BenchCommand) -> Result<u8> {
    match command {
        BenchCommand::Generate(args) => run_generate(args),
        BenchCommand::Scan(args) => run_scan(args),
    }
}

/// Writes the pair and prints the expected counts as one JSON line.
fn run_generate(args: &GenerateArgs) -> Result<u8> {
    let spec = PairSpec {
        rows: args.rows,
        seed: args.seed,
        columns: Families {
            ints: args.ints,
            floats: args.floats,
            decimals: args.decimals,
            strings: args.strings,
            timestamps: args.timestamps,
            bools: args.bools,
        },
        nulls: args.nulls,
        changed: args.changed,
        removed: args.removed,
        added: args.added,
        csv: args.csv,
        shape: args.shape,
        row_group: args.row_group,
    };
    let expected = generate::generate(spec, &args.out)?;
    let line = serde_json::to_string(&expected)
        .map_err(|e| Error::compute("cannot write the expected counts", e))?;
    println!("{line}");
    Ok(0)
}

/// Prints one line per file: its path and each column's aggregate.
fn run_scan(args: &ScanArgs) -> Result<u8> {
    let workers = crate::threads::Workers::new(thread_count(args.threads)?)?;
    let results = scan::scan(&args.files, &workers)?;
    for (file, values) in args.files.iter().zip(results) {
        println!("{file}\t{}", values.join("\t"));
    }
    Ok(0)
}
