//! Noticing that files changed: a stamp of each file's modification time, length and identity,
//! compared on a short interval. Polling sees atomic renames and Kubernetes' symlink swaps of
//! mounted secrets alike, which change notifications do not always report.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How often watched files are looked at.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// What a file looked like when last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    path: PathBuf,
    seen: Option<(SystemTime, u64, u64)>,
}

impl Stamp {
    /// The stamp of `path` now (following symlinks); a missing file has a stamp of its own.
    pub fn of(path: &Path) -> Stamp {
        let seen = std::fs::metadata(path).ok().map(|meta| {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&meta);
            #[cfg(not(unix))]
            let inode = 0;
            (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
                inode,
            )
        });
        Stamp {
            path: path.to_path_buf(),
            seen,
        }
    }

    /// The stamps of several files.
    pub fn of_all(paths: &[PathBuf]) -> Vec<Stamp> {
        paths.iter().map(|path| Stamp::of(path)).collect()
    }
}
