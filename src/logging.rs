//! The library's log: standard error or a file, at the configured level (`[log]`, overridden by
//! `KMS_PKCS11_LOG`). Nothing secret is ever formatted into it; the types that hold secrets do
//! not print their contents.

use crate::config::Config;
use parking_lot::Mutex;
use std::io::Write;
use std::sync::Once;

struct Logger {
    file: Mutex<Option<std::fs::File>>,
}

static LOGGER: Logger = Logger { file: Mutex::new(None) };
static INSTALL: Once = Once::new();

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("kms-pkcs11[{}]: {}: {}\n", std::process::id(), record.level(), record.args());
        let mut file = self.file.lock();
        match file.as_mut() {
            Some(f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {
        if let Some(f) = self.file.lock().as_mut() {
            let _ = f.flush();
        }
    }
}

/// Points the log where the configuration says; called by `C_Initialize`.
pub fn configure(config: &Config) {
    INSTALL.call_once(|| {
        let _ = log::set_logger(&LOGGER);
    });
    log::set_max_level(config.log_level().filter());
    let file = config.log.file.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| eprintln!("kms-pkcs11: cannot open log file {}: {e}", path.display()))
            .ok()
    });
    *LOGGER.file.lock() = file;
}

/// Logs before a configuration exists (a configuration that cannot be read, say).
pub fn configure_default() {
    configure(&Config::default());
}
