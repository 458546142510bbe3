//! `tessera yuma`: one Yuma epoch on inputs from a JSON file, every output printed.

use anyhow::{bail, Context};
use std::{
    io::{Read, Write},
    path::Path,
};
use tessera_state::subnets::yuma::{epoch, EpochInput};

/// The largest input file read (4,096 UIDs with full weight and bond rows fit).
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

pub fn yuma(input: &Path) -> anyhow::Result<()> {
    let mut text = String::new();
    std::fs::File::open(input)
        .with_context(|| format!("cannot open {}", input.display()))?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as UTF-8 text", input.display()))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        bail!("{} is over {MAX_INPUT_BYTES} bytes", input.display());
    }
    let input: EpochInput = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an epoch input (see `docs/subnets.md` for the format)",
            input.display()
        )
    })?;
    let output = epoch(&input)?;
    let text = serde_json::to_string_pretty(&output)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        // The reader went away (`| head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
