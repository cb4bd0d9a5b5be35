//! Wall-clock time for the KMS rules (rotation, deletion windows, import expiry). Production
//! reads the system clock; tests point `[kms] clock_file` at a file holding Unix seconds and
//! move time by rewriting it, across processes, with the same code paths.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    file: Option<PathBuf>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { file: None }
    }

    pub fn from_file(file: Option<PathBuf>) -> Clock {
        Clock { file }
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> u64 {
        if let Some(f) = &self.file {
            match std::fs::read_to_string(f).map(|t| t.trim().parse::<u64>()) {
                Ok(Ok(t)) => return t,
                _ => log::error!("clock file {} is unreadable; using the system clock", f.display()),
            }
        }
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_clock_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("now");
        std::fs::write(&f, "1000\n").unwrap();
        let c = Clock::from_file(Some(f.clone()));
        assert_eq!(c.now(), 1000);
        std::fs::write(&f, "90000").unwrap();
        assert_eq!(c.now(), 90000);
        assert!(Clock::system().now() > 1_700_000_000);
    }
}
