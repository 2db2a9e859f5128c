//! The last-applied annotation's value, cut out of the body before the fast decoder reads it.
//!
//! `kubectl apply` keeps a copy of the whole object in the annotation
//! `kubectl.kubernetes.io/last-applied-configuration`: one escaped string, a third to a half of
//! a review's bytes (twice on UPDATE). The decoders drop it unread (`crate::object`), but
//! serde_json still steps through it escape by escape. Here the body is searched for the
//! annotation as the apiserver writes it (compact JSON), the end of each value is found by a
//! scan of 64 bytes at a time that also checks the value is a well-formed JSON string, and the
//! value is replaced by a per-process marker, [`marker`].
//!
//! The copy is only trusted when the decoder of it met exactly as many markers as were put in,
//! each where it drops the annotation ([`note`], [`counting`]): then every value cut was one it
//! drops, and the copy decodes to what the body does. The marker holds a random 64-bit nonce,
//! so a body can only carry one of its own by guessing it. Anything else decodes the body as
//! sent.

use std::cell::Cell;
use std::sync::{LazyLock, OnceLock};

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
    static FINDER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(NEEDLE));
    for at in FINDER.find_iter(bytes) {
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
///
/// 64 bytes at a time, without a branch per escape: an escaped JSON document has one every
/// few bytes, and deciding each in turn cost more than serde_json's own skipping. The bytes
/// that are escaped follow from the backslashes' positions alone, as simdjson finds them: a
/// run of backslashes escapes the byte after it when its length is odd.
fn string_end(bytes: &[u8]) -> Option<usize> {
    let mut carry = false;
    let mut tail = [0; 64];
    for base in (0..bytes.len()).step_by(64) {
        let block: &[u8; 64] = match bytes.get(base..base + 64) {
            Some(block) => block.try_into().ok()?,
            None => {
                // Zeros after the end read as control characters: past the end of a string
                // that ends here they are never looked at, and one that does not is refused.
                let rest = &bytes[base..];
                tail[..rest.len()].copy_from_slice(rest);
                &tail
            }
        };
        let marks = Marks::of(block);
        let escaped = escaped(marks.backslash, &mut carry);
        let ends = marks.quote & !escaped;
        let before_end = if ends == 0 {
            u64::MAX
        } else {
            (ends & ends.wrapping_neg()) - 1
        };
        if marks.control & before_end != 0 {
            return None;
        }
        // Escaped quotes and backslashes are valid; any other escaped byte is checked.
        let mut others = escaped & !marks.quote & !marks.backslash & before_end;
        while others != 0 {
            escape_valid(bytes, base + others.trailing_zeros() as usize)?;
            others &= others - 1;
        }
        if ends != 0 {
            return Some(base + ends.trailing_zeros() as usize);
        }
    }
    None
}

/// One bit per byte of a 64-byte block, for the bytes that matter in a string.
#[derive(Debug, PartialEq, Eq)]
struct Marks {
    quote: u64,
    backslash: u64,
    control: u64,
}

impl Marks {
    /// SSE2, which every x86-64 processor has: 16 bytes per comparison.
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Marks {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_set1_epi8,
        };
        let mut marks = Marks {
            quote: 0,
            backslash: 0,
            control: 0,
        };
        // SAFETY: SSE2 is part of the x86-64 baseline, so these instructions exist wherever
        // this code runs; each load reads the 16 bytes of one chunk, with no alignment needed.
        unsafe {
            let (quote, backslash, space) = (
                _mm_set1_epi8(b'"' as i8),
                _mm_set1_epi8(b'\\' as i8),
                _mm_set1_epi8(0x1f),
            );
            for (i, chunk) in block.chunks_exact(16).enumerate() {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let bits = |m: __m128i| u64::from(_mm_movemask_epi8(m) as u16) << (16 * i);
                marks.quote |= bits(_mm_cmpeq_epi8(v, quote));
                marks.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
                // Unsigned `v <= 0x1f`: the larger of the two is 0x1f.
                marks.control |= bits(_mm_cmpeq_epi8(_mm_max_epu8(v, space), space));
            }
        }
        marks
    }

    /// Elsewhere, 8 bytes at a time in a `u64`.
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn of_words(block: &[u8; 64]) -> Marks {
        const ONES: u64 = u64::MAX / 255;
        const HIGH: u64 = ONES << 7;
        const LOW: u64 = !HIGH;
        // The high bit of each byte of the result is set where `word`'s byte is `b` (exact:
        // no carry crosses bytes).
        let equal = |word: u64, b: u8| {
            let x = word ^ (ONES * u64::from(b));
            !(((x & LOW) + LOW) | x) & HIGH
        };
        // The high bits, gathered into the low 8 bits (each lands on its own bit: no carries).
        let gather = |high: u64| (high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        let mut marks = Marks {
            quote: 0,
            backslash: 0,
            control: 0,
        };
        for (i, chunk) in block.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let below_space = !(((word & LOW) + ONES * 0x60) | word) & HIGH;
            marks.quote |= gather(equal(word, b'"')) << (8 * i);
            marks.backslash |= gather(equal(word, b'\\')) << (8 * i);
            marks.control |= gather(below_space) << (8 * i);
        }
        marks
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Marks {
        Marks::of_words(block)
    }
}

/// The bytes of a block escaped by a backslash, given its backslashes; `carry`: the block
/// before ended in an odd run of backslashes (so this one's first byte is escaped), updated
/// for the next block.
fn escaped(backslash: u64, carry: &mut bool) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let carried = u64::from(*carry);
    // A backslash escaped by the one before it starts nothing.
    let backslash = backslash & !carried;
    let follows_backslash = (backslash << 1) | carried;
    // Runs that start on an odd bit; adding the backslashes carries each run's start bit to
    // the bit after the run, flipping the parity pattern from there.
    let odd_starts = backslash & !EVEN & !follows_backslash;
    let (even_starts_flipped, overflow) = odd_starts.overflowing_add(backslash);
    *carry = overflow;
    let invert = even_starts_flipped << 1;
    (EVEN ^ invert) & follows_backslash
}

/// Checks the escaped byte at `bytes[i]` (after a backslash) other than a quote or backslash.
fn escape_valid(bytes: &[u8], i: usize) -> Option<()> {
    match *bytes.get(i)? {
        b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
        b'u' => {
            let mut unit = 0;
            for &b in bytes.get(i + 1..i + 5)? {
                unit = unit * 16 + char::from(b).to_digit(16)?;
            }
            (!(0xD800..=0xDFFF).contains(&unit)).then_some(())
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
                b'\\' => {
                    at += match *bytes.get(at + 1)? {
                        b'"' | b'\\' => 2,
                        b'u' => {
                            let hex = std::str::from_utf8(bytes.get(at + 2..at + 6)?).ok()?;
                            let unit = u32::from_str_radix(hex, 16).ok()?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit())
                                || (0xD800..=0xDFFF).contains(&unit)
                            {
                                return None;
                            }
                            6
                        }
                        b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        _ => return None,
                    }
                }
                b if b < 0x20 => return None,
                _ => at += 1,
            }
        }
        None
    }

    #[test]
    fn both_ways_of_marking_a_block_agree_with_a_byte_loop() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for round in 0..20_000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Every byte value in the first rounds, then mostly the interesting ones.
                *b = if round < 1000 {
                    state as u8
                } else {
                    [b'"', b'\\', 0x1f, 0x20, 0x00, 0x80, 0x9f, b'a'][(state % 8) as usize]
                };
            }
            let mut expected = Marks {
                quote: 0,
                backslash: 0,
                control: 0,
            };
            for (i, &b) in block.iter().enumerate() {
                expected.quote |= u64::from(b == b'"') << i;
                expected.backslash |= u64::from(b == b'\\') << i;
                expected.control |= u64::from(b < 0x20) << i;
            }
            assert_eq!(Marks::of(&block), expected, "{block:?}");
            assert_eq!(Marks::of_words(&block), expected, "{block:?}");
        }
    }

    #[test]
    fn string_end_agrees_with_the_grammar_on_random_strings() {
        // Few symbols, so runs of backslashes, escapes across 64-byte blocks and near misses
        // are common.
        let symbols: [&[u8]; 12] = [
            b"a",
            b"\\",
            b"\\",
            b"\"",
            b"u",
            b"0",
            b"D",
            b"8",
            b"n",
            b"\x01",
            b"x",
            "é".as_bytes(),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut ended = 0;
        for _ in 0..200_000 {
            let len = (next() % 200) as usize;
            let mut s = Vec::with_capacity(len * 2);
            for _ in 0..len {
                let r = next();
                // Mostly plain bytes, as in real text.
                let symbol = if r % 3 == 0 {
                    symbols[(r / 3 % 12) as usize]
                } else {
                    b"a"
                };
                s.extend_from_slice(symbol);
            }
            let expected = reference_end(&s);
            ended += usize::from(expected.is_some());
            assert_eq!(
                string_end(&s),
                expected,
                "{:?}",
                String::from_utf8_lossy(&s)
            );
        }
        assert!(ended > 10_000, "{ended}");
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
