//! The audit trail (DESIGN §7): one record per call that uses, creates, changes, reveals or
//! destroys a key, and per login, logout and PIN change; chained with HMAC-SHA-256 under a
//! per-token key so that `kmsctl audit verify` finds any change, removal, reordering,
//! insertion or cut tail.

pub mod chain;
pub mod record;
pub mod sink;
pub mod writer;

pub use record::Event;
pub use writer::{AuditLog, HeadStore, LogFiles, Settings, Unavailable};

use chain::{Broken, ChainKey, Link};
use serde::Deserialize;
use std::io;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// When a record counts as written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Batched: records are synced to disk in batches bounded by `batch_records` and
    /// `batch_ms`; a crash loses at most one batch.
    #[default]
    Batch,
    /// Every call returns only once its record is on disk (and with every sink).
    Fsync,
}

/// What a call does when its record cannot be written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Wait until the record is accepted: no record is ever lost.
    #[default]
    Block,
    /// Fail with `CKR_DEVICE_ERROR` rather than wait.
    Fail,
}

/// What `kmsctl audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub files: usize,
    pub records: u64,
    pub problem: Option<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line in `file`; 0 for a problem of the trail as a whole.
    pub line: u64,
    pub what: String,
}

/// Walks every file of the trail, oldest first, and checks the chain and its head.
pub fn verify(files: &LogFiles, key: &Zeroizing<Vec<u8>>, head: Link) -> io::Result<Verdict> {
    let key = ChainKey::new(key);
    let all = files.all()?;
    let mut link = Link::START;
    let mut seen_head = head.seq == 0;
    for path in &all {
        let bytes = std::fs::read(path)?;
        let mut n = 0u64;
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            n += 1;
            let Some(line) = line.strip_suffix(b"\n") else {
                // A writer killed mid-write leaves half a line at the very end; it never joined
                // the chain, and the next writer cuts it. Anywhere else it is damage.
                if Some(path) == all.last() {
                    break;
                }
                let what = "the last record of a rotated file is unfinished (cut short)".to_string();
                return Ok(bad(&all, link.seq, path, n, what));
            };
            match key.follow(link, line) {
                Ok(next) => link = next,
                Err(e) => return Ok(bad(&all, link.seq, path, n, describe(e))),
            }
            if link.seq == head.seq {
                if link.mac != head.mac {
                    let what = "this record differs from the one the token recorded as the chain head".into();
                    return Ok(bad(&all, link.seq, path, n, what));
                }
                seen_head = true;
            }
        }
    }
    if !seen_head {
        let what = format!(
            "the trail ends at record {} but the token recorded {} records: the tail was cut",
            link.seq, head.seq
        );
        let file = all.last().cloned().unwrap_or_else(|| files.log.clone());
        return Ok(Verdict {
            files: all.len(),
            records: link.seq,
            problem: Some(Problem { file, line: 0, what }),
        });
    }
    Ok(Verdict { files: all.len(), records: link.seq, problem: None })
}

fn describe(e: Broken) -> String {
    e.to_string()
}

fn bad(all: &[PathBuf], good: u64, path: &std::path::Path, line: u64, what: String) -> Verdict {
    Verdict {
        files: all.len(),
        records: good,
        problem: Some(Problem { file: path.to_path_buf(), line, what }),
    }
}

/// Filters for `kmsctl audit list`; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Time bounds, inclusive.
    pub since: Option<std::time::SystemTime>,
    pub until: Option<std::time::SystemTime>,
    pub key_id: Option<String>,
    pub event_name: Option<String>,
    /// `ok`, `failed`, or a `CKR_*` name.
    pub result: Option<String>,
    pub principal: Option<String>,
}

impl Filter {
    pub fn matches(&self, r: &serde_json::Value) -> bool {
        let field = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let time = humantime::parse_rfc3339(field("eventTime")).ok();
        let within = match (time, self.since, self.until) {
            (_, None, None) => true,
            (None, _, _) => false,
            (Some(t), since, until) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u),
        };
        within
            && self.key_id.as_deref().is_none_or(|k| field("keyId") == k)
            && self.event_name.as_deref().is_none_or(|n| field("eventName").eq_ignore_ascii_case(n))
            && self.principal.as_deref().is_none_or(|p| field("principal").eq_ignore_ascii_case(p))
            && self.result.as_deref().is_none_or(|want| {
                let got = field("result");
                match want.to_ascii_lowercase().as_str() {
                    "ok" | "success" => got == "CKR_OK",
                    "failed" | "failure" => got != "CKR_OK",
                    _ => got.eq_ignore_ascii_case(want),
                }
            })
    }
}

/// The records of the trail that pass `filter`, oldest first. Unreadable lines are skipped
/// here; `verify` is what judges them.
pub fn list(files: &LogFiles, filter: &Filter) -> io::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for path in files.all()? {
        for line in std::fs::read(path)?.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line)
                && filter.matches(&v)
            {
                out.push(v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(dir: &std::path::Path, n: usize) -> (LogFiles, Link) {
        let key = ChainKey::new(&Zeroizing::new(vec![3; 32]));
        let files = LogFiles { log: dir.join("a.log") };
        let mut link = Link::START;
        let mut out = Vec::new();
        for i in 0..n {
            let result = if i % 2 == 0 { "CKR_OK" } else { "CKR_KEY_FUNCTION_NOT_PERMITTED" };
            let body = format!(
                "{{\"eventTime\":\"2026-11-29T00:00:0{i}.000000Z\",\"eventName\":\"Encrypt\",\"keyId\":\"k{i}\",\"principal\":\"USER\",\"result\":\"{result}\""
            );
            link = key.seal(link, &body, &mut out);
        }
        std::fs::write(&files.log, &out).unwrap();
        (files, link)
    }

    #[test]
    fn verify_accepts_the_trail_and_finds_a_cut_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (files, head) = trail(dir.path(), 4);
        let key = Zeroizing::new(vec![3; 32]);
        assert_eq!(verify(&files, &key, head).unwrap(), Verdict { files: 1, records: 4, problem: None });
        let text = std::fs::read_to_string(&files.log).unwrap();
        let cut: Vec<&str> = text.lines().take(3).collect();
        std::fs::write(&files.log, cut.join("\n") + "\n").unwrap();
        let v = verify(&files, &key, head).unwrap();
        assert!(v.problem.unwrap().what.contains("tail was cut"));
        // Half a record after the last one is what a killed writer leaves: not part of the chain.
        std::fs::write(&files.log, text.clone() + &text[..30]).unwrap();
        assert_eq!(verify(&files, &key, head).unwrap(), Verdict { files: 1, records: 4, problem: None });
        std::fs::write(&files.log, text.replace("k2", "k7")).unwrap();
        let p = verify(&files, &key, head).unwrap().problem.unwrap();
        assert_eq!(p.line, 3);
    }

    #[test]
    fn list_filters_by_each_field() {
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = trail(dir.path(), 6);
        let count = |f: Filter| list(&files, &f).unwrap().len();
        assert_eq!(count(Filter::default()), 6);
        assert_eq!(count(Filter { result: Some("failed".into()), ..Default::default() }), 3);
        assert_eq!(count(Filter { key_id: Some("k4".into()), ..Default::default() }), 1);
        assert_eq!(
            count(Filter {
                since: Some(humantime::parse_rfc3339("2026-11-29T00:00:01Z").unwrap()),
                until: Some(humantime::parse_rfc3339("2026-11-29T00:00:03Z").unwrap()),
                ..Default::default()
            }),
            3
        );
        assert_eq!(count(Filter { event_name: Some("decrypt".into()), ..Default::default() }), 0);
        assert_eq!(count(Filter { principal: Some("user".into()), ..Default::default() }), 6);
    }
}
