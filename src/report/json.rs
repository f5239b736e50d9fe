//! The JSON report: the model itself, pretty-printed, field order stable.

use std::io::{self, Write};

use serde::Serialize;

pub fn render(report: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
