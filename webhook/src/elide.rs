//! The last-applied annotation's value, cut out of the body before the fast decoder reads it.
//!
//! `kubectl apply` keeps a copy of the whole object in the annotation
//! `kubectl.kubernetes.io/last-applied-configuration`: one escaped string, a third to a half of
//! a review's bytes (twice on UPDATE). The decoders drop it unread (`crate::object`), but
//! serde_json still steps through it escape by escape. Here the body is searched for the
//! annotation as the apiserver writes it (compact JSON), the end of each value is found by a
//! word-at-a-time scan that also checks the value is a well-formed JSON string, and the value
//! is replaced by a per-process marker, [`marker`].
//!
//! The copy is only trusted when the decoder of it met exactly as many markers as were put in,
//! each where it drops the annotation ([`note`], [`counting`]): then every value cut was one it
//! drops, and the copy decodes to what the body does. The marker holds a random nonce, so a
//! body cannot carry one of its own. Anything else decodes the body as sent.

use std::cell::Cell;
use std::sync::OnceLock;

use memchr::memmem;

use crate::object::LAST_APPLIED;

/// The annotation's key and the opening quote of its value, as compact JSON writes them.
const NEEDLE: &str = "\"kubectl.kubernetes.io/last-applied-configuration\":\"";

/// Shorter values are left in place: cutting them saves less than copying the body costs.
const MIN_CUT: usize = 512;

/// The body with the last-applied values cut out, and how many were cut.
#[derive(Debug, PartialEq, Eq)]
pub struct Elided {
    pub text: String,
    pub cut: usize,
}

/// `text` with every compact last-applied value of at least [`MIN_CUT`] bytes replaced by the
/// [`marker`]; `None` if there is none, or if a value is not a well-formed JSON string (the
/// body's own decoding then reports it).
pub fn last_applied(text: &str) -> Option<Elided> {
    debug_assert!(NEEDLE.contains(LAST_APPLIED));
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut cut = 0;
    for at in memmem::find_iter(bytes, NEEDLE) {
        let start = at + NEEDLE.len();
        if start <= copied {
            // Inside a value already cut (it cannot be, for a well-formed one; be safe).
            continue;
        }
        let end = start + string_end(&bytes[start..])?;
        if end - start < MIN_CUT {
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[copied..start]);
        out.push_str(marker());
        copied = end;
        cut += 1;
    }
    let mut text_out = out?;
    text_out.push_str(&text[copied..]);
    Some(Elided {
        text: text_out,
        cut,
    })
}

/// The text that replaces a cut value: `fmesh-elided-` and 16 random hex digits, drawn once
/// per process and never sent anywhere.
pub fn marker() -> &'static str {
    static MARKER: OnceLock<String> = OnceLock::new();
    MARKER.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // std seeds RandomState from the OS's random source.
        let nonce = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        format!("fmesh-elided-{nonce:016x}")
    })
}

thread_local! {
    /// Markers met by the decoder running on this thread (decoding never leaves its thread).
    static MET: Cell<usize> = const { Cell::new(0) };
}

/// Called by the decoder with each last-applied value it drops, when the value is a string
/// without escapes (a marker never has any).
pub fn note(value: &str) {
    if value == marker() {
        MET.with(|met| met.set(met.get() + 1));
    }
}

/// Runs `decode` and returns its result with the number of markers it met.
pub fn counting<T>(decode: impl FnOnce() -> T) -> (T, usize) {
    MET.with(|met| met.set(0));
    let out = decode();
    (out, MET.with(Cell::get))
}

/// The index of the quote that ends the JSON string whose contents start `bytes`, or `None`
/// if the string is not well-formed: unterminated, a control character, an unknown escape,
/// `\u` without four hex digits, or a surrogate escape (serde_json accepts some of those when
/// skipping; cutting them is not worth proving it accepts the same ones).
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut at = 0;
    // Positions before `next` are inside an escape already checked.
    let mut next = 0;
    while at + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[at..at + 8].try_into().ok()?);
        // Exact per-byte tests (no borrow between bytes): the high bit of each byte is set
        // where the byte is a quote, a backslash, or below 0x20.
        let low = word & !HIGH;
        let is = |b: u8| {
            !((((word ^ (ONES * b as u64)) & !HIGH) + !HIGH) | (word ^ (ONES * b as u64))) & HIGH
        };
        let control = !((low + ONES * (0x80 - 0x20)) | word) & HIGH;
        let mut hits = is(b'"') | is(b'\\') | control;
        while hits != 0 {
            let i = at + (hits.trailing_zeros() / 8) as usize;
            hits &= hits - 1;
            if i < next {
                continue;
            }
            match bytes[i] {
                b'"' => return Some(i),
                b'\\' => next = escape_end(bytes, i)?,
                _ => return None,
            }
        }
        at = (at + 8).max(next);
    }
    while at < bytes.len() {
        match bytes[at] {
            b'"' => return Some(at),
            b'\\' => at = escape_end(bytes, at)?,
            b if b < 0x20 => return None,
            _ => at += 1,
        }
    }
    None
}

/// The index after the escape that starts at `bytes[i]` (a backslash), if it is valid.
#[inline]
fn escape_end(bytes: &[u8], i: usize) -> Option<usize> {
    match *bytes.get(i + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 2),
        b'u' => {
            let mut unit = 0;
            for &b in bytes.get(i + 2..i + 6)? {
                unit = unit * 16 + char::from(b).to_digit(16)?;
            }
            (!(0xD800..=0xDFFF).contains(&unit)).then_some(i + 6)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `string_end` by the JSON grammar, one byte at a time.
    fn reference_end(bytes: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < bytes.len() {
            match bytes[at] {
                b'"' => return Some(at),
                b'\\' => at = escape_end(bytes, at)?,
                b if b < 0x20 => return None,
                _ => at += 1,
            }
        }
        None
    }

    #[test]
    fn string_end_agrees_with_the_grammar_at_every_offset() {
        let pieces: [&[u8]; 14] = [
            b"a",
            b"\\\"",
            b"\\\\",
            b"\\/",
            b"\\n",
            b"\\u00e9",
            b"\\uD83D",
            b"\\x",
            b"\\u12",
            b"\x01",
            b"\x1f",
            b" ",
            "é".as_bytes(),
            b"\x7f",
        ];
        for lead in 0..17 {
            for piece in pieces {
                for tail in [&b"\""[..], b"bc\"", b"", b"\\", b"\\\"\""] {
                    let mut s = vec![b'x'; lead];
                    s.extend_from_slice(piece);
                    s.extend_from_slice(tail);
                    s.extend_from_slice(b"after\"");
                    assert_eq!(
                        string_end(&s),
                        reference_end(&s),
                        "{:?}",
                        String::from_utf8_lossy(&s)
                    );
                }
            }
        }
        // What the reference answers, on a few by hand.
        assert_eq!(string_end(b"0123456789\\\"abc\"x"), Some(15));
        assert_eq!(string_end(b"0123456789\\\\\"abc\"x"), Some(12));
        assert_eq!(string_end(b"01234567\\u00e9\"x"), Some(14));
        assert_eq!(string_end(b"01234567\\ud83d\\ude00\""), None);
        assert_eq!(string_end(b"0123456\\"), None);
        assert_eq!(string_end(b"0123456789abcdef"), None);
        assert_eq!(string_end(b"01234567\\u+123\""), None);
    }

    fn annotated(value: &str) -> String {
        format!(
            r#"{{"request":{{"object":{{"metadata":{{"annotations":{{"{LAST_APPLIED}":{}}}}}}}}}}}"#,
            serde_json::to_string(value).unwrap()
        )
    }

    #[test]
    fn cuts_long_compact_values_and_keeps_the_rest() {
        let long = format!(r#"{{"kind":"FunctionMesh","spec":"{}"}}"#, "x".repeat(600));
        let body = format!("{}{}", annotated(&long), annotated(&long));
        let elided = last_applied(&body).unwrap();
        assert_eq!(elided.cut, 2);
        let marked = annotated(marker());
        assert_eq!(elided.text, format!("{marked}{marked}"));
        // Still JSON, and the marker sits where the value was.
        for half in [&elided.text[..marked.len()], &elided.text[marked.len()..]] {
            let v: serde_json::Value = serde_json::from_str(half).unwrap();
            assert_eq!(
                v["request"]["object"]["metadata"]["annotations"][LAST_APPLIED],
                marker()
            );
        }
    }

    #[test]
    fn leaves_short_malformed_and_spaced_values_alone() {
        assert_eq!(last_applied(&annotated("{}")), None);
        assert_eq!(last_applied("no annotation at all"), None);
        let long = "y".repeat(600);
        let spaced = annotated(&long).replace("\":\"", "\" : \"");
        assert_eq!(last_applied(&spaced), None);
        let control = annotated(&long).replace("yyy", "y\ty");
        assert_eq!(last_applied(&control), None);
        let unterminated = format!("{{\"{LAST_APPLIED}\":\"{long}");
        assert_eq!(last_applied(&unterminated), None);
    }

    #[test]
    fn the_marker_is_counted_only_when_met() {
        let ((), met) = counting(|| {
            note("something else");
            note(marker());
            note(marker());
        });
        assert_eq!(met, 2);
        assert_eq!(counting(|| ()).1, 0);
        assert!(marker().starts_with("fmesh-elided-") && marker().len() == 29);
    }
}
