//! The home directory: keys, genesis and the node's data.

use anyhow::Context;
use std::path::{Path, PathBuf};

pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    /// `--home`, else `TESSERA_HOME` (handled by clap), else `~/.tessera`.
    pub fn resolve(given: Option<PathBuf>) -> anyhow::Result<Home> {
        let dir = match given {
            Some(dir) => dir,
            None => {
                let home = std::env::var_os("HOME")
                    .context("HOME is not set: pass --home DIR or set TESSERA_HOME")?;
                Path::new(&home).join(".tessera")
            }
        };
        Ok(Home { dir })
    }

    pub fn keystore(&self) -> tessera_wallet::Keystore {
        tessera_wallet::Keystore::open(&self.dir)
    }

    pub fn genesis_path(&self) -> PathBuf {
        self.dir.join("genesis.json")
    }

    /// Blocks of files: the node serves them, the wallet keeps what it uploads and what
    /// `blob get` downloads (so transfers resume). `model run` downloads into the model
    /// cache instead (see `run_model`).
    pub fn blob_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}
