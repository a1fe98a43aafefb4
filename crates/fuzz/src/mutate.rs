//! Seeded mutations of byte strings: flips, insertions, deletions, truncations at every length
//! class, splices from other inputs, number replacements with extreme values, and generated
//! nesting bombs. Everything is drawn from [`Rng`], so a (seed, case) pair names one input.

/// A small deterministic generator (splitmix64): the same seed gives the same inputs on every
/// platform and Rust version.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that break parsers: huge, negative zero, non-finite, overflowing, odd YAML/JSON.
pub const TOKENS: &[&str] = &[
    "1e308",
    "-1e308",
    "1e999",
    "18446744073709551616",
    "18446744073709551615",
    "9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "4294967295",
    "2147483648",
    "-0",
    "-0.0",
    "0",
    "-1",
    "NaN",
    "nan",
    ".nan",
    ".inf",
    "-.inf",
    "inf",
    "Infinity",
    "1e-320",
    "0x7fffffff",
    "null",
    "~",
    "true",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "\"",
    "'",
    "&a",
    "*a",
    "!!binary",
    "!!str",
    "<<: *a",
    "? ",
    "- ",
    ": ",
    "#",
    "\t",
    "\n",
    "\r",
    "\u{0}",
    "\u{feff}",
    "é",
    "\u{10ffff}",
];

/// Integers that break binary formats, written little- or big-endian over 1, 2, 4 or 8 bytes.
const INTS: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// Where an input goes: text formats get textual mutations more often, binary ones integer
/// overwrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Text,
    Binary,
}

/// A generated nesting bomb in the syntax of YAML (flow and block) or JSON: `depth` levels.
pub fn nesting_bomb(rng: &mut Rng, depth: usize) -> Vec<u8> {
    let mut out = String::new();
    match rng.below(5) {
        0 => {
            out.push_str(&"[".repeat(depth));
            if rng.chance(50) {
                out.push_str(&"]".repeat(depth));
            }
        }
        1 => {
            out.push_str(&"{\"a\":".repeat(depth));
            out.push('1');
            if rng.chance(50) {
                out.push_str(&"}".repeat(depth));
            }
        }
        2 => {
            for i in 0..depth.min(1_500) {
                out.push_str(&" ".repeat(i));
                out.push_str("a:\n");
            }
        }
        3 => {
            for i in 0..depth.min(1_500) {
                out.push_str(&" ".repeat(i));
                out.push_str("- \n");
            }
        }
        _ => {
            // A billion-laughs alias chain: each level refers to the previous one ten times.
            out.push_str("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
            for i in 1..depth.min(40) {
                let refs = vec![format!("*a{}", i - 1); 10].join(", ");
                out.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
            }
        }
    }
    out.into_bytes()
}

/// Positions of the decimal numbers in `bytes` (start, end).
fn numbers(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = if i > 0 && bytes[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// A length to truncate to, from every class: empty, one byte, a header's worth, around the
/// middle, one short of whole, anywhere.
fn truncation(rng: &mut Rng, len: usize) -> usize {
    match rng.below(7) {
        0 => 0,
        1 => 1.min(len),
        2 => rng.below(16).min(len),
        3 => rng.below(64).min(len),
        4 => len / 2,
        5 => len.saturating_sub(1 + rng.below(4)),
        _ => rng.below(len + 1),
    }
}

/// One mutation of `bytes` in place; `others` are inputs to splice from.
pub fn mutate_once(rng: &mut Rng, bytes: &mut Vec<u8>, others: &[&[u8]], flavor: Flavor) {
    let len = bytes.len();
    let kinds = if flavor == Flavor::Text { 12 } else { 10 };
    match rng.below(kinds) {
        // Bit flips.
        0 => {
            for _ in 0..1 + rng.below(4) {
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
        }
        // Random bytes over a range (0xff runs, zero runs, noise; includes non-UTF-8).
        1 => {
            if len > 0 {
                let at = rng.below(len);
                let n = (1 + rng.below(16)).min(len - at);
                let fill = rng.below(3);
                for b in &mut bytes[at..at + n] {
                    *b = match fill {
                        0 => 0xff,
                        1 => 0,
                        _ => rng.next_u64() as u8,
                    };
                }
            }
        }
        // Insert random bytes.
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let noise: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, noise);
        }
        // Delete a range.
        3 => {
            if len > 0 {
                let at = rng.below(len);
                let span = if rng.chance(20) { len } else { 32 };
                let n = (1 + rng.below(span)).min(len - at);
                bytes.drain(at..at + n);
            }
        }
        // Truncate.
        4 => {
            let to = truncation(rng, len);
            bytes.truncate(to);
        }
        // Splice a piece of another input (or of itself) in, replacing a range or inserted.
        5 => {
            let own = bytes.clone();
            let src: &[u8] = if others.is_empty() || rng.chance(30) {
                &own
            } else {
                rng.pick::<&[u8]>(others)
            };
            if !src.is_empty() {
                let from = rng.below(src.len());
                let n = (1 + rng.below(256)).min(src.len() - from);
                let piece = src[from..from + n].to_vec();
                let at = rng.below(len + 1);
                let cut = if rng.chance(50) {
                    rng.below(len - at + 1).min(n)
                } else {
                    0
                };
                bytes.splice(at..at + cut, piece);
            }
        }
        // Duplicate a range (repeated lines, repeated keys, repeated chunks).
        6 => {
            if len > 0 {
                let at = rng.below(len);
                let n = (1 + rng.below(128)).min(len - at);
                let piece = bytes[at..at + n].to_vec();
                let to = rng.below(len + 1);
                for _ in 0..1 + rng.below(3) {
                    bytes.splice(to..to, piece.iter().copied());
                }
            }
        }
        // Overwrite an integer (1, 2, 4 or 8 bytes, either byte order).
        7 | 8 => {
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            if len >= width {
                let at = rng.below(len - width + 1);
                let mut v = *rng.pick(INTS);
                if rng.chance(30) {
                    v = v.wrapping_add(rng.below(3) as u64).wrapping_sub(1);
                }
                let le = v.to_le_bytes();
                let be = v.to_be_bytes();
                let field: Vec<u8> = if rng.chance(50) {
                    le[..width].to_vec()
                } else {
                    be[8 - width..].to_vec()
                };
                bytes[at..at + width].copy_from_slice(&field);
            }
        }
        // Swap two bytes.
        9 => {
            if len > 1 {
                let a = rng.below(len);
                let b = rng.below(len);
                bytes.swap(a, b);
            }
        }
        // Replace a number with an extreme value.
        10 => {
            let nums = numbers(bytes);
            let token = rng.pick(TOKENS).as_bytes().to_vec();
            if nums.is_empty() {
                let at = rng.below(len + 1);
                bytes.splice(at..at, token);
            } else {
                let (s, e) = *rng.pick(&nums);
                bytes.splice(s..e, token);
            }
        }
        // Insert a token (YAML/JSON syntax, anchors, tags, control characters).
        _ => {
            let at = rng.below(len + 1);
            let token = rng.pick(TOKENS).as_bytes().to_vec();
            bytes.splice(at..at, token);
        }
    }
}

/// A mutated copy of `seed`: one to four stacked mutations, or now and then a whole generated
/// input (nesting bomb, empty, pure noise).
pub fn mutate(rng: &mut Rng, seed: &[u8], others: &[&[u8]], flavor: Flavor) -> Vec<u8> {
    let roll = rng.below(100);
    if roll < 2 {
        let depth = *rng.pick(&[65usize, 1_000, 100_000]);
        let mut bomb = nesting_bomb(rng, depth);
        if rng.chance(50) && !seed.is_empty() {
            // Inside an otherwise valid document.
            let at = rng.below(seed.len() + 1);
            let mut out = seed[..at].to_vec();
            out.append(&mut bomb);
            out.extend_from_slice(&seed[at..]);
            return out;
        }
        return bomb;
    }
    if roll < 3 {
        let n = rng.below(512);
        return (0..n).map(|_| rng.next_u64() as u8).collect();
    }
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut bytes, others, flavor);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mutations() {
        let seed = b"name: x\nvalue: 12\nlist: [1, 2, 3]\n";
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..50)
                .map(|_| mutate(&mut rng, seed, &[], Flavor::Text))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn mutations_change_the_input_and_cover_every_length_class() {
        let seed: Vec<u8> = (0..200u8).collect();
        let mut rng = Rng::new(1);
        let mut changed = 0;
        let mut lens = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let m = mutate(&mut rng, &seed, &[], Flavor::Binary);
            changed += usize::from(m != seed);
            lens.insert(m.len().min(300) / 50);
        }
        assert!(changed > 1800, "{changed}");
        assert!(lens.len() >= 5, "{lens:?}");
        assert!(lens.contains(&0));
    }

    #[test]
    fn numbers_are_found() {
        assert_eq!(numbers(b"a: -12, b: 3.5"), vec![(3, 6), (11, 14)]);
    }
}
