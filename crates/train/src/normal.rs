//! Standard normal draws in bulk with exactly the values, and the random words consumed, of
//! `rand_distr`'s `StandardNormal` (as f32) on a [`SmallRng`].
//!
//! The crate's ziggurat takes one `next_u64` per try: layer `i` from its low 8 bits,
//! `u in [-1, 1)` from its high 52, `x = u * x_tab[i]`, accepted at once when
//! `|x| < x_tab[i + 1]` (about 99 % of words). Drawn one at a time, each draw waits on the
//! previous generator step and a branch; here a buffer of words is drawn first and the fast
//! test runs over all of them in vector lanes. At the first word the fast test does not
//! accept, the crate itself takes over from that word through [`Replay`], which hands it the
//! buffered words and then the generator's next ones, so the rare cases (pdf test, tail) stay
//! the crate's own and the stream of words stays the same.
//!
//! The layer edges `x_tab` are private to the crate: they are learned once at run time from
//! its own sampler (fed crafted words, see [`learn`]) and checked against it on thousands of
//! draws; if either step disagrees, every draw goes through the crate one at a time.

use rand::RngCore;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::OnceLock;

/// Most draws per pass (the word buffer lives on the stack).
const CAP: usize = 256;

/// Ziggurat layers: one per value of a word's low 8 bits.
const LAYERS: usize = 256;

/// The crate's layer edges as the fast test needs them.
#[derive(Debug, PartialEq)]
struct Table {
    /// `x_tab[i]`: the layer's width.
    x: [f64; LAYERS],
    /// `x_tab[i + 1]`: accept `|u * x[i]|` below it. 0 for the top layer, which the fast test
    /// then never accepts: the crate handles it whatever its `x_tab[256]` is.
    bound: [f64; LAYERS],
}

/// The learned table, or `None` when the crate's sampler did not behave as this module
/// expects (then [`fill`] draws one at a time through the crate).
fn table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Box<Table>>> = OnceLock::new();
    TABLE
        .get_or_init(|| learn().filter(|t| agrees(t)).map(Box::new))
        .as_deref()
}

/// Whether the bulk path is in use (the learned table passed its check).
#[cfg(test)]
pub(crate) fn bulk_enabled() -> bool {
    table().is_some()
}

/// A generator that returns scripted words (then zeros) and counts how many were taken.
struct Script<'a> {
    words: &'a [u64],
    used: usize,
}

impl RngCore for Script<'_> {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        let w = self.words.get(self.used).copied().unwrap_or(0);
        self.used += 1;
        w
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dst);
    }
}

/// `u = -2^-PROBE_EXP` in the high 52 bits of a word: `u` is `m / 2^51 - 1` for those bits
/// `m`, so `m = 2^51 - 2^(51 - PROBE_EXP)`. Scaling by a power of two is exact, so the
/// sampler's result `u * x_tab[i]` gives `x_tab[i]` back exactly, and `|u| = 2^-20` passes
/// the fast test of every layer with `x_tab[i + 1] > 2^-20 x_tab[i]`.
const PROBE_EXP: i32 = 20;
const PROBE_U: u64 = ((1u64 << 51) - (1u64 << (51 - PROBE_EXP))) << 12;

/// Learns `x_tab[0..256]` from the crate's sampler: for layer `i < 255` the word
/// `PROBE_U | i` is accepted by the fast test at once (one word taken). The top layer's fast
/// test never accepts (its bound `x_tab[256]` is 0), so its probe is followed by an all-ones
/// word: the uniform `1 - 2^-53` puts the pdf test's threshold at about `f_tab[255]`, which
/// `pdf(2^-20 x_tab[255]) ~ 1` passes (two words taken). Any other count, or an edge that is
/// not positive, finite and decreasing, means the crate is not the ziggurat assumed here.
fn learn() -> Option<Table> {
    let mut x = [0.0f64; LAYERS];
    for (i, xi) in x.iter_mut().enumerate() {
        let probe = [PROBE_U | i as u64, u64::MAX];
        let want = if i == LAYERS - 1 { 2 } else { 1 };
        let mut rng = Script {
            words: &probe,
            used: 0,
        };
        let v: f64 = StandardNormal.sample(&mut rng);
        let edge = -v * f64::from(1u32 << PROBE_EXP);
        if rng.used != want || !(edge.is_finite() && edge > 0.0) {
            return None;
        }
        *xi = edge;
    }
    if x.windows(2).any(|w| w[1] >= w[0]) {
        return None;
    }
    let mut bound = [0.0f64; LAYERS];
    bound[..LAYERS - 1].copy_from_slice(&x[1..]);
    Some(Table { x, bound })
}

/// Checks a learned table against the crate: bulk and one-at-a-time draws of several
/// streams, values and the generators' states after (their next words), must agree.
fn agrees(t: &Table) -> bool {
    use rand::SeedableRng;
    (0..8u64).all(|seed| {
        let mut a = SmallRng::seed_from_u64(0x5eed_0000 + seed);
        let mut b = a.clone();
        let mut bulk = [0.0f32; 4000];
        let n = 1000 + 300 * seed as usize;
        fill_with(t, &mut a, &mut Buffers::new(), &mut bulk[..n]);
        bulk[..n].iter().all(|&v| {
            let want: f32 = StandardNormal.sample(&mut b);
            v.to_bits() == want.to_bits()
        }) && a.next_u64() == b.next_u64()
    })
}

/// Word buffers of one stream, kept across passes (clearing 6 KiB per pass was measurable).
pub(crate) struct Buffers {
    words: [u64; CAP],
    xs: [f64; CAP],
    bs: [f64; CAP],
}

impl Buffers {
    pub(crate) fn new() -> Self {
        Buffers {
            words: [0; CAP],
            xs: [0.0; CAP],
            bs: [0.0; CAP],
        }
    }
}

/// Fills `out` with standard normal draws from `rng`: the same values, and the same words
/// consumed, as `StandardNormal.sample(rng)` as f32 once per element in order. `buf` holds
/// no state between calls, only space.
pub(crate) fn fill(rng: &mut SmallRng, buf: &mut Buffers, out: &mut [f32]) {
    match table() {
        Some(t) => fill_with(t, rng, buf, out),
        None => out.iter_mut().for_each(|v| *v = StandardNormal.sample(rng)),
    }
}

fn fill_with<R: RngCore>(t: &Table, rng: &mut R, buf: &mut Buffers, out: &mut [f32]) {
    for part in out.chunks_mut(CAP) {
        fill_part(t, rng, buf, part);
    }
}

/// Replays buffered words to the crate's sampler, then continues from the generator: what
/// the sampler sees is the generator's own stream from the first buffered word on.
struct Replay<'a, R> {
    words: &'a [u64],
    used: usize,
    rng: &'a mut R,
}

impl<R: RngCore> RngCore for Replay<'_, R> {
    // As `SmallRng` (Xoshiro256++ on 64-bit targets) derives it from `next_u64`.
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        let w = match self.words.get(self.used) {
            Some(&w) => w,
            None => self.rng.next_u64(),
        };
        self.used += 1;
        w
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dst);
    }
}

/// One pass of at most [`CAP`] draws. Never draws a word the crate would not: each draw
/// takes at least one word, and the buffer never holds more words than draws still to make.
/// Generic over the generator so that the tests can feed it crafted words.
fn fill_part<R: RngCore>(t: &Table, rng: &mut R, buf: &mut Buffers, out: &mut [f32]) {
    let n = out.len().min(CAP);
    // Each word's layer edges, looked up as it is drawn (scalar loads: the vector gathers
    // were slower).
    let Buffers { words, xs, bs } = buf;
    // Unread words are `words[w..end]`, for `out[pos..]`. All of a pass's words are drawn
    // before any is tested: vector loads of words stored just before stall on store
    // forwarding (a third of the fast test's time when drawn and tested 16 at a time).
    let (mut w, mut end, mut pos) = (0, 0, 0);
    while pos < n {
        if w == end {
            (w, end) = (0, n - pos);
            for ((word, x), b) in words[..end]
                .iter_mut()
                .zip(xs.iter_mut())
                .zip(bs.iter_mut())
            {
                *word = rng.next_u64();
                let i = (*word & 0xff) as usize;
                (*x, *b) = (t.x[i], t.bound[i]);
            }
        }
        let m = (end - w).min(GROUP);
        let k = accepted(
            &words[w..w + m],
            &xs[w..w + m],
            &bs[w..w + m],
            &mut out[pos..pos + m],
        );
        (w, pos) = (w + k, pos + k);
        if k == m {
            continue;
        }
        // `words[w]` fails the fast test: the crate takes that draw from there.
        let mut replay = Replay {
            words: &words[w..end],
            used: 0,
            rng,
        };
        let v: f64 = StandardNormal.sample(&mut replay);
        out[pos] = v as f32;
        pos += 1;
        w = (w + replay.used).min(end);
    }
}

/// The fast test on one word with its layer's edges `x` and `bound`: the crate's
/// `u * x_tab[i]` (cast to f32) and whether it is accepted without more words.
#[inline(always)]
fn lane(w: u64, x: f64, bound: f64) -> (f32, bool) {
    // The high 52 bits as the mantissa of a number in [2, 4), minus 3: exact, in [-1, 1).
    let u = f64::from_bits((w >> 12) | 0x4000_0000_0000_0000) - 3.0;
    let v = u * x;
    (v as f32, v.abs() < bound)
}

/// Lanes per group: the mask of a group is tested once.
const GROUP: usize = 16;

lifchip_simd::multiversion! {
    /// Writes the fast-path values of `words` to `out` and returns how many lead words are
    /// accepted (values after the first rejected word are garbage to overwrite).
    fn accepted<>(words: &[u64], xs: &[f64], bs: &[f64], out: &mut [f32]) -> usize
        => accepted_generic
}

#[inline(always)]
fn accepted_generic(words: &[u64], xs: &[f64], bs: &[f64], out: &mut [f32]) -> usize {
    let n = words
        .len()
        .min(xs.len())
        .min(bs.len())
        .min(out.len())
        .min(GROUP);
    let mut bad = 0u32;
    for (b, (((&w, &x), &bound), o)) in words[..n]
        .iter()
        .zip(&xs[..n])
        .zip(&bs[..n])
        .zip(&mut out[..n])
        .enumerate()
    {
        let (v, ok) = lane(w, x, bound);
        *o = v;
        bad |= u32::from(!ok) << b;
    }
    if bad == 0 {
        n
    } else {
        bad.trailing_zeros() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn one_at_a_time(rng: &mut SmallRng, n: usize) -> Vec<u32> {
        (0..n)
            .map(|_| {
                let v: f32 = StandardNormal.sample(rng);
                v.to_bits()
            })
            .collect()
    }

    #[test]
    fn table_is_learned_and_checked() {
        let t = learn().expect("the crate's ziggurat is the one assumed");
        assert!(agrees(&t));
        assert!(bulk_enabled());
        // The widest layer sits beyond the tail start (about 3.65), the edges fall to 0.
        assert!((3.0..5.0).contains(&t.x[0]) && t.x[255] > 0.0 && t.x[255] < 0.5);
        // The probes are exact: each edge times the probe's `u` is the crate's draw.
        for (i, &x) in t.x.iter().enumerate().take(255) {
            let mut rng = Script {
                words: &[PROBE_U | i as u64],
                used: 0,
            };
            let v: f64 = StandardNormal.sample(&mut rng);
            assert_eq!(v.to_bits(), (-x / f64::from(1u32 << PROBE_EXP)).to_bits());
        }
        // A wrong edge is caught by the check against the crate. (An edge off by an ulp or
        // so would change an f32 draw too rarely to be seen in its ~16,000 draws: exactness
        // rests on the probes above.)
        let mut bad = learn().unwrap();
        bad.x[100] *= 1.0 + 1e-6;
        assert!(!agrees(&bad), "an edge off by 1e-6");
        let mut bad = learn().unwrap();
        bad.bound[7] = bad.x[7];
        assert!(!agrees(&bad), "a bound that accepts too much");
    }

    /// Bulk draws in passes of varying length against one draw at a time, and the generators'
    /// next words after: many seeds and several million draws.
    #[test]
    fn bulk_draws_equal_the_crates_bit_for_bit() {
        let lens = [
            1usize, 2, 7, 15, 16, 17, 31, 64, 100, 255, 256, 257, 600, 1000,
        ];
        let mut total = 0;
        for seed in 0..400u64 {
            let mut a = SmallRng::seed_from_u64(crate::act::mix(seed, 3));
            let mut b = a.clone();
            let mut got = Vec::new();
            let mut buf = vec![0.0f32; 1000];
            let mut space = Buffers::new();
            for k in 0..12 {
                let n = lens[(seed as usize + k * 5) % lens.len()];
                fill(&mut a, &mut space, &mut buf[..n]);
                got.extend(buf[..n].iter().map(|v| v.to_bits()));
            }
            let want = one_at_a_time(&mut b, got.len());
            assert_eq!(got, want, "seed {seed}");
            assert_eq!(a.next_u64(), b.next_u64(), "seed {seed}: words consumed");
            total += got.len();
        }
        // Long streams in full passes.
        for seed in 0..4u64 {
            let mut a = SmallRng::seed_from_u64(seed);
            let mut b = a.clone();
            let mut buf = vec![0.0f32; 1 << 20];
            fill(&mut a, &mut Buffers::new(), &mut buf);
            let want = one_at_a_time(&mut b, buf.len());
            assert!(buf.iter().map(|v| v.to_bits()).eq(want), "seed {seed}");
            assert_eq!(a.next_u64(), b.next_u64());
            total += buf.len();
        }
        assert!(total > 4_000_000, "{total} draws");
    }

    /// A generator that yields chosen words, to force rejections, tail draws and the top
    /// layer at chosen places in a pass (its state advances as a `SmallRng` cannot be made
    /// to), checked against the crate drawing from the same words.
    #[test]
    fn crafted_rejections_and_tails_at_every_place_in_a_pass() {
        let t = table().expect("bulk path enabled");
        // Words that the fast test rejects: the top layer (pdf test), layer 0 with |u| near 1
        // (the tail), a middle layer with |u| near 1 (pdf test).
        let reject = [
            (1u64 << 63) | 255,
            ((1u64 << 52) - 1) << 12,
            (((1u64 << 52) - 1) << 12) | 128,
            1u64 << 12,
        ];
        for &w in &reject {
            let i = (w & 0xff) as usize;
            let (_, ok) = lane(w, t.x[i], t.bound[i]);
            assert!(!ok, "{w:#x} is rejected by the fast test");
        }
        for n in [1usize, 5, 16, 17, 40, 256, 300] {
            for place in [0usize, 1, n / 2, n.saturating_sub(2), n - 1] {
                for &w in &reject {
                    for run in [1usize, 2, 3] {
                        let mut seedrng = SmallRng::seed_from_u64((n * 31 + place) as u64);
                        let mut stream: Vec<u64> =
                            (0..n * 4 + 64).map(|_| seedrng.next_u64()).collect();
                        for k in place..(place + run).min(n) {
                            stream[k] = w;
                        }
                        let got = bulk_from_words(t, &stream, n);
                        let mut want_rng = Script {
                            words: &stream,
                            used: 0,
                        };
                        let want: Vec<u32> = (0..n)
                            .map(|_| {
                                let v: f32 = StandardNormal.sample(&mut want_rng);
                                v.to_bits()
                            })
                            .collect();
                        assert_eq!(got.0, want, "n {n} place {place} word {w:#x} run {run}");
                        assert_eq!(got.1, want_rng.used, "words consumed");
                    }
                }
            }
        }
    }

    /// [`fill_with`] over a scripted word stream: the values and the number of words taken.
    fn bulk_from_words(t: &Table, stream: &[u64], n: usize) -> (Vec<u32>, usize) {
        let mut src = Script {
            words: stream,
            used: 0,
        };
        let mut out = vec![0.0f32; n];
        fill_with(t, &mut src, &mut Buffers::new(), &mut out);
        (out.iter().map(|v| v.to_bits()).collect(), src.used)
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use rand::SeedableRng;

    /// `cargo test --release -p lifchip-train --lib normal_speed -- --ignored --nocapture`:
    /// ns per draw, one at a time through the crate against [`fill`], in passes of 100 draws
    /// (a block's neurons with `pre > 0`), alternating, median of 7.
    #[test]
    #[ignore]
    fn normal_speed() {
        let passes = 200_000;
        let mut buf = [0.0f32; 100];
        let (mut one, mut bulk) = (Vec::new(), Vec::new());
        let mut sink = 0.0f32;
        for round in 0..7u64 {
            let mut rng = SmallRng::seed_from_u64(round);
            let t = std::time::Instant::now();
            for _ in 0..passes {
                for v in buf.iter_mut() {
                    *v = StandardNormal.sample(&mut rng);
                }
                sink += buf[3];
            }
            one.push(t.elapsed().as_secs_f64() * 1e9 / (passes * buf.len()) as f64);
            let mut rng = SmallRng::seed_from_u64(round);
            let mut space = Buffers::new();
            let t = std::time::Instant::now();
            for _ in 0..passes {
                fill(&mut rng, &mut space, &mut buf);
                sink += buf[3];
            }
            bulk.push(t.elapsed().as_secs_f64() * 1e9 / (passes * buf.len()) as f64);
        }
        // Parts: the generator alone, the fast test alone (hot cache).
        let mut rng = SmallRng::seed_from_u64(9);
        let mut words = [0u64; 100];
        let t0 = std::time::Instant::now();
        for _ in 0..passes {
            for w in words.iter_mut() {
                *w = rng.next_u64();
            }
            sink += words[5] as f32;
        }
        let gen_ns = t0.elapsed().as_secs_f64() * 1e9 / (passes * 100) as f64;
        let tab = table().expect("bulk path");
        let xs: Vec<f64> = words.iter().map(|&w| tab.x[(w & 0xff) as usize]).collect();
        let bs: Vec<f64> = words
            .iter()
            .map(|&w| tab.bound[(w & 0xff) as usize])
            .collect();
        let t0 = std::time::Instant::now();
        let mut acc = 0;
        for _ in 0..passes {
            for g in 0..6 {
                let r = g * GROUP..(g + 1) * GROUP;
                acc += accepted(
                    std::hint::black_box(&words[r.clone()]),
                    &xs[r.clone()],
                    &bs[r.clone()],
                    &mut buf[r],
                );
            }
            sink += buf[7];
        }
        let fast_ns = t0.elapsed().as_secs_f64() * 1e9 / (passes * 100) as f64;
        eprintln!("generator {gen_ns:.2} ns per word, fast test {fast_ns:.2} ns per word ({acc})");
        one.sort_by(f64::total_cmp);
        bulk.sort_by(f64::total_cmp);
        eprintln!(
            "normal draws, 1 thread: one at a time {:.2} ns, bulk {:.2} ns per draw ({sink})",
            one[3], bulk[3]
        );
    }
}

#[cfg(test)]
mod genspeed {
    #[inline(always)]
    fn step(s: &mut [u64; 4]) {
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
    }

    lifchip_simd::multiversion! {
        fn split<>(s: &mut [u64; 4], out: &mut [u64; 64]) => split_generic
    }
    #[inline(always)]
    fn split_generic(s: &mut [u64; 4], out: &mut [u64; 64]) {
        let mut a = [0u64; 64];
        let mut b = [0u64; 64];
        let mut st = *s;
        for k in 0..64 {
            a[k] = st[0];
            b[k] = st[3];
            step(&mut st);
        }
        *s = st;
        for k in 0..64 {
            out[k] = a[k].wrapping_add(b[k]).rotate_left(23).wrapping_add(a[k]);
        }
    }

    #[test]
    #[ignore]
    fn gen_speed() {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut s = [1u64, 2, 3, 4];
        let mut buf = [0u64; 64];
        let mut sink = 0u64;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            for _ in 0..100_000 {
                for w in buf.iter_mut() {
                    *w = rng.next_u64();
                }
                sink ^= std::hint::black_box(&buf)[3];
            }
            let a = t.elapsed().as_secs_f64() * 1e9 / 6.4e6;
            let t = std::time::Instant::now();
            for _ in 0..100_000 {
                split(&mut s, &mut buf);
                sink ^= std::hint::black_box(&buf)[3];
            }
            let b = t.elapsed().as_secs_f64() * 1e9 / 6.4e6;
            eprintln!("smallrng {a:.2} ns, split {b:.2} ns per word ({sink})");
        }
    }
}
