//! The tamper-evident chain over audit records: each line carries its sequence number, the MAC
//! of the line before it and its own HMAC-SHA-256 over its exact bytes up to its MAC, under the
//! token's audit key. Changing, removing, reordering or inserting a line breaks the chain at
//! that line; cutting the tail shows against the chain head the token store keeps.

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

/// HMAC-SHA-256 truncated to 128 bits (RFC 2104 §5 allows half the output): a forger still
/// faces 2^128 guesses per record, and every record is 64 hex digits shorter, which matters at
/// hundreds of thousands of records a second.
pub const MAC_LEN: usize = 16;
/// The `prev` of the first record.
pub const GENESIS: [u8; MAC_LEN] = [0; MAC_LEN];
const MAC_FIELD: &str = ",\"mac\":\"";

/// Where the chain stands: the last record's sequence number and MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub mac: [u8; MAC_LEN],
}

impl Link {
    pub const START: Link = Link { seq: 0, mac: GENESIS };
}

pub struct ChainKey(hmac::Key);

impl ChainKey {
    pub fn new(key: &Zeroizing<Vec<u8>>) -> ChainKey {
        ChainKey(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    fn mac(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let tag = hmac::sign(&self.0, bytes);
        let mut out = [0; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }

    /// Appends to `out` the line for `body` (a JSON object without its closing brace) after
    /// `link`, newline included, and returns the new link.
    #[cfg(test)]
    pub fn seal(&self, link: Link, body: &str, out: &mut Vec<u8>) -> Link {
        self.seal_with(link, out, |out| out.extend_from_slice(body.as_bytes()))
    }

    /// [`ChainKey::seal`] with the body written by `body` straight into `out`.
    pub fn seal_with(&self, link: Link, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) -> Link {
        let start = out.len();
        let seq = link.seq + 1;
        body(out);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        out.extend_from_slice(b",\"prev\":\"");
        push_hex(out, &link.mac);
        out.push(b'"');
        let mac = self.mac(&out[start..]);
        out.extend_from_slice(MAC_FIELD.as_bytes());
        push_hex(out, &mac);
        out.extend_from_slice(b"\"}\n");
        Link { seq, mac }
    }

    /// Checks that `line` (without its newline) is the record after `link`; returns its link.
    pub fn follow(&self, link: Link, line: &[u8]) -> Result<Link, Broken> {
        let text = std::str::from_utf8(line).map_err(|_| Broken::Malformed)?;
        let cut = text.rfind(MAC_FIELD).ok_or(Broken::Malformed)?;
        let tail = &text[cut + MAC_FIELD.len()..];
        let hex_mac = tail.strip_suffix("\"}").ok_or(Broken::Malformed)?;
        let mut mac = [0u8; MAC_LEN];
        hex::decode_to_slice(hex_mac, &mut mac).map_err(|_| Broken::Malformed)?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| Broken::Malformed)?;
        let seq = value.get("seq").and_then(|v| v.as_u64()).ok_or(Broken::Malformed)?;
        let prev = value.get("prev").and_then(|v| v.as_str()).ok_or(Broken::Malformed)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(&self.mac(&line[..cut]), &mac).is_err() {
            return Err(Broken::BadMac);
        }
        if seq != link.seq + 1 {
            return Err(Broken::Sequence { expected: link.seq + 1, found: seq });
        }
        if prev != hex::encode(link.mac) {
            return Err(Broken::NotLinked);
        }
        Ok(Link { seq, mac })
    }
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8; MAC_LEN]) {
    let mut buf = [0u8; 2 * MAC_LEN];
    if hex::encode_to_slice(bytes, &mut buf).is_ok() {
        out.extend_from_slice(&buf);
    }
}

/// Why a line does not continue the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// Not a record of ours (or cut short).
    Malformed,
    /// The line was changed: its MAC does not match its bytes.
    BadMac,
    /// A record is missing, repeated or out of order.
    Sequence { expected: u64, found: u64 },
    /// The record is genuine but does not follow the one before it.
    NotLinked,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Malformed => write!(f, "not a well-formed audit record"),
            Broken::BadMac => write!(f, "the record was altered (MAC mismatch)"),
            Broken::Sequence { expected, found } => {
                write!(f, "expected record {expected}, found record {found} (removed, inserted or reordered)")
            }
            Broken::NotLinked => write!(f, "the record does not follow the one before it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::new(&Zeroizing::new(vec![7; 32]))
    }

    fn lines(n: usize) -> Vec<Vec<u8>> {
        let k = key();
        let mut link = Link::START;
        (0..n)
            .map(|i| {
                let mut out = Vec::new();
                link = k.seal(link, &format!("{{\"eventName\":\"E{i}\""), &mut out);
                out.pop();
                out
            })
            .collect()
    }

    fn walk(lines: &[Vec<u8>]) -> Result<Link, (usize, Broken)> {
        let k = key();
        let mut link = Link::START;
        for (i, l) in lines.iter().enumerate() {
            link = k.follow(link, l).map_err(|e| (i, e))?;
        }
        Ok(link)
    }

    #[test]
    fn a_sealed_chain_verifies_and_its_lines_are_json() {
        let ls = lines(3);
        assert_eq!(walk(&ls).unwrap().seq, 3);
        let v: serde_json::Value = serde_json::from_slice(&ls[2]).unwrap();
        assert_eq!(v["eventName"], "E2");
        assert_eq!(v["seq"], 3);
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_its_line() {
        let ls = lines(4);
        let mut changed = ls.clone();
        changed[1] = String::from_utf8(changed[1].clone()).unwrap().replace("E1", "E9").into_bytes();
        assert_eq!(walk(&changed), Err((1, Broken::BadMac)));
        let mut removed = ls.clone();
        removed.remove(2);
        assert_eq!(walk(&removed), Err((2, Broken::Sequence { expected: 3, found: 4 })));
        let mut swapped = ls.clone();
        swapped.swap(1, 2);
        assert_eq!(walk(&swapped), Err((1, Broken::Sequence { expected: 2, found: 3 })));
        let mut inserted = ls.clone();
        inserted.insert(1, ls[0].clone());
        assert_eq!(walk(&inserted), Err((1, Broken::Sequence { expected: 2, found: 1 })));
        let mut garbage = ls.clone();
        garbage[3].truncate(20);
        assert_eq!(walk(&garbage), Err((3, Broken::Malformed)));
        let other = ChainKey::new(&Zeroizing::new(vec![8; 32]));
        assert_eq!(other.follow(Link::START, &ls[0]), Err(Broken::BadMac));
    }
}
