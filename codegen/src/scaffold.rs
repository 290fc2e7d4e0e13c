//! `apigen new`: a crate that builds and serves every protocol on its first
//! `cargo run`.

use std::path::PathBuf;

use crate::Error;

/// What `apigen new` creates.
#[derive(Debug, Clone)]
pub struct NewCrate {
    /// The crate's name, for example `bookshop` (also its proto package and service).
    pub name: String,
    /// The directory to create; it must not exist or be empty.
    pub dir: PathBuf,
    /// A checkout of apigen to depend on by path; `None`: the published versions.
    pub apigen_path: Option<PathBuf>,
}

/// Writes the crate; returns the files written, relative to `dir`.
pub fn create(_new: &NewCrate) -> Result<Vec<PathBuf>, Error> {
    Err(Error::Usage("apigen new is not written yet".to_owned()))
}
