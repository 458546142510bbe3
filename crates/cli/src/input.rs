//! A user's input file (or `-` for standard input), read with a bound: more than the
//! command can use is refused instead of read whole into memory.

use anyhow::{bail, Context};
use std::{io::Read, path::Path};

/// The bytes of `path` (`-`: standard input), at most `max`. `what` names the input in
/// errors; `why` follows the size error (say what one input is).
pub fn read_limited(path: &Path, max: u64, what: &str, why: &str) -> anyhow::Result<Vec<u8>> {
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot open {what}"))?)
    };
    let mut bytes = Vec::new();
    source
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what}"))?;
    if bytes.len() as u64 > max {
        bail!("{what} is over {max} bytes{why}");
    }
    Ok(bytes)
}
