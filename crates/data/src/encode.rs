//! Input encoding for spiking runs: pixel intensities to per-tick spike lists, and the input-spikes JSON file.

use std::collections::HashMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DataError;

/// Slack on the regular-rate threshold (spike when `acc >= 1 - ACC_SLACK`), so that f32
/// rounding of a rate (0.7f32 is 0.69999999) does not drop a spike.
const ACC_SLACK: f64 = 1e-4;

/// Origin used in error messages when the spikes did not come from a named file.
const DEFAULT_ORIGIN: &str = "input spikes";

/// Spike probability per tick for one input: `p * max_rate`, clamped to `[0, 1]`, NaN as 0.
fn rate(p: f32, max_rate_per_tick: f32) -> f64 {
    let r = f64::from(p) * f64::from(max_rate_per_tick);
    if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) }
}

/// Deterministic, regularly spaced rate code.
///
/// Input `i` gets rate `r = pixels[i] * max_rate_per_tick` (clamped to `[0, 1]`, NaN as 0; pixels
/// are meant to be in `[0, 1]`). Each input has an accumulator starting at 0: every tick
/// `acc += r`, and when `acc >= 1` the input spikes and `acc -= 1` — so at most one spike per
/// tick per input. The threshold has a slack of 1e-4 (`acc >= 1 - 1e-4`, accumulated in f64),
/// so the first `t` ticks hold exactly `floor(t * r + 1e-4)` spikes: f32 rounding of `r` does
/// not drop spikes (pixel 0.7 over 100 ticks gives 70; pixel `k/255` over 255 ticks gives `k`).
///
/// Returns one list per tick (`ticks` lists) of the input indices spiking at that tick, ascending.
pub fn rate_regular(pixels: &[f32], max_rate_per_tick: f32, ticks: u32) -> Vec<Vec<u32>> {
    let rates: Vec<f64> = pixels.iter().map(|&p| rate(p, max_rate_per_tick)).collect();
    let mut acc = vec![0.0f64; pixels.len()];
    (0..ticks)
        .map(|_| {
            let mut fired = Vec::new();
            for ((i, a), &r) in (0u32..).zip(acc.iter_mut()).zip(&rates) {
                if r <= 0.0 {
                    continue;
                }
                *a += r;
                if *a >= 1.0 - ACC_SLACK {
                    fired.push(i);
                    *a -= 1.0;
                }
            }
            fired
        })
        .collect()
}

/// Poisson (Bernoulli-per-tick) rate code.
///
/// Each tick, input `i` spikes with probability `pixels[i] * max_rate_per_tick` (clamped to
/// `[0, 1]`). Randomness comes from `StdRng::seed_from_u64(seed)`, so the same seed and inputs
/// give the same spikes (for a given `rand` version). Inputs with probability 0 draw nothing.
///
/// Returns one list per tick (`ticks` lists) of the input indices spiking at that tick, ascending.
pub fn poisson(pixels: &[f32], max_rate_per_tick: f32, ticks: u32, seed: u64) -> Vec<Vec<u32>> {
    let rates: Vec<f64> = pixels.iter().map(|&p| rate(p, max_rate_per_tick)).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..ticks)
        .map(|_| {
            (0u32..)
                .zip(&rates)
                .filter(|&(_, &r)| r > 0.0 && rng.random::<f64>() < r)
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

/// Most spikes one entry of an input-spikes file may give an input in one tick (a count
/// expands into that many deliveries: bounded so a file cannot ask for unbounded work).
pub const MAX_SPIKE_COUNT: u32 = 255;

/// The longest run, in ticks, a spike file or `emulate --ticks` may ask for (docs/interfaces.md,
/// Limits): the per-tick spike lists are allocated up front.
pub const MAX_TICKS: u32 = 1_000_000;

/// An explicit list of input spikes, as read from (or written to) an input-spikes JSON file:
/// `{"ticks": T, "spikes": [[tick, input_index], [tick, input_index, count], ...]}` — an entry
/// with a count gives that input `count` spikes in that tick (multi-event inputs, e.g. Xylo's
/// up to 15 events per channel per tick).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InputSpikes {
    /// Length of the run in ticks; every spike's tick is `< ticks`.
    pub ticks: u32,
    /// `(tick, input_index)` pairs, in file order.
    pub spikes: Vec<(u32, u32)>,
    /// Spikes per entry of `spikes` (`1..=MAX_SPIKE_COUNT`); empty when every entry is one spike.
    #[serde(skip)]
    pub counts: Vec<u32>,
}

/// The JSON shape before checking; entries are kept as raw values to report errors per entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpikes {
    ticks: Value,
    spikes: Vec<Value>,
}

impl InputSpikes {
    /// Parses the JSON text. Checks the shape, that `ticks > 0`, and that every spike is a pair
    /// of non-negative integers with `tick < ticks`; input indices are checked by
    /// [`InputSpikes::validate`], which needs the number of inputs. Unknown fields are refused;
    /// `ticks` is at most [`MAX_TICKS`].
    ///
    /// # Errors
    /// [`DataError::SpikesJson`], [`DataError::SpikesTicks`], [`DataError::SpikeEntry`]
    /// (with the entry's position in the list).
    pub fn from_json_str(text: &str) -> Result<InputSpikes, DataError> {
        Self::parse_with_origin(text, DEFAULT_ORIGIN)
    }

    /// Reads and parses an input-spikes JSON file; error messages name the file.
    ///
    /// # Errors
    /// [`DataError::Io`] if the file cannot be read, else as [`InputSpikes::from_json_str`].
    pub fn from_json_file(path: &Path) -> Result<InputSpikes, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_with_origin(&text, &path.display().to_string())
    }

    fn parse_with_origin(text: &str, origin: &str) -> Result<InputSpikes, DataError> {
        let raw: RawSpikes =
            serde_json::from_str(text).map_err(|source| DataError::SpikesJson {
                origin: origin.to_string(),
                source,
            })?;
        let ticks_err = |reason: String| DataError::SpikesTicks {
            origin: origin.to_string(),
            reason,
        };
        let ticks = match raw.ticks.as_u64() {
            Some(0) => return Err(ticks_err("must be > 0, got 0".into())),
            Some(t) if t > u64::from(MAX_TICKS) => {
                return Err(ticks_err(format!(
                    "{t} is too large (limit {MAX_TICKS}, docs/interfaces.md#limits)"
                )));
            }
            Some(t) => u32::try_from(t)
                .map_err(|_| ticks_err(format!("{t} is too large (limit {MAX_TICKS})")))?,
            None => {
                return Err(ticks_err(format!(
                    "expected a positive integer, got {}",
                    short(&raw.ticks)
                )));
            }
        };
        let entry_err = |entry: usize, reason: String| DataError::SpikeEntry {
            origin: origin.to_string(),
            entry,
            reason,
        };
        let spikes = raw
            .spikes
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let (t, i, c) = match v.as_array().map(Vec::as_slice) {
                    Some([t, i]) => (t, i, None),
                    Some([t, i, c]) => (t, i, Some(c)),
                    _ => {
                        return Err(entry_err(
                            k,
                            format!(
                                "expected [tick, input_index] or [tick, input_index, count], got {}",
                                short(v)
                            ),
                        ));
                    }
                };
                let num = |x: &Value, what: &str| {
                    x.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            entry_err(
                                k,
                                format!(
                                    "{what} {} is not an integer in 0..={}",
                                    short(x),
                                    u32::MAX
                                ),
                            )
                        })
                };
                let tick = num(t, "tick")?;
                let index = num(i, "input index")?;
                if tick >= ticks {
                    return Err(entry_err(k, tick_range(tick, ticks)));
                }
                let count = match c {
                    None => 1,
                    Some(c) => match c.as_u64() {
                        Some(n @ 1..) if n <= u64::from(MAX_SPIKE_COUNT) => n as u32,
                        _ => {
                            return Err(entry_err(
                                k,
                                format!(
                                    "count {} is not an integer in 1..={MAX_SPIKE_COUNT}",
                                    short(c)
                                ),
                            ));
                        }
                    },
                };
                Ok(((tick, index), count))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (spikes, counts): (Vec<_>, Vec<_>) = spikes.into_iter().unzip();
        let counts = if counts.iter().all(|&c| c == 1) {
            Vec::new()
        } else {
            counts
        };
        Ok(InputSpikes {
            ticks,
            spikes,
            counts,
        })
    }

    /// Checks the spikes against a network with `n_inputs` inputs: `ticks > 0`, every
    /// `tick < ticks`, every `input_index < n_inputs`, and no `(tick, input_index)` pair twice.
    ///
    /// # Errors
    /// [`DataError::SpikesTicks`] or [`DataError::SpikeEntry`] naming the first bad entry.
    pub fn validate(&self, n_inputs: usize) -> Result<(), DataError> {
        if self.ticks == 0 {
            return Err(DataError::SpikesTicks {
                origin: DEFAULT_ORIGIN.into(),
                reason: "must be > 0, got 0".into(),
            });
        }
        let entry_err = |entry: usize, reason: String| DataError::SpikeEntry {
            origin: DEFAULT_ORIGIN.into(),
            entry,
            reason,
        };
        let mut seen: HashMap<(u32, u32), usize> = HashMap::with_capacity(self.spikes.len());
        if !self.counts.is_empty() && self.counts.len() != self.spikes.len() {
            return Err(entry_err(
                self.counts.len().min(self.spikes.len()),
                format!(
                    "{} counts for {} spikes",
                    self.counts.len(),
                    self.spikes.len()
                ),
            ));
        }
        for (k, &(tick, index)) in self.spikes.iter().enumerate() {
            if let Some(&c) = self.counts.get(k)
                && !(1..=MAX_SPIKE_COUNT).contains(&c)
            {
                return Err(entry_err(
                    k,
                    format!("count {c} is not in 1..={MAX_SPIKE_COUNT}"),
                ));
            }
            if tick >= self.ticks {
                return Err(entry_err(k, tick_range(tick, self.ticks)));
            }
            if usize::try_from(index).map_or(true, |i| i >= n_inputs) {
                let reason = if n_inputs == 0 {
                    format!("input index {index} is out of range: there are no inputs")
                } else {
                    format!(
                        "input index {index} is out of range: there are {n_inputs} inputs (0..={})",
                        n_inputs - 1
                    )
                };
                return Err(entry_err(k, reason));
            }
            if let Some(first) = seen.insert((tick, index), k) {
                return Err(entry_err(
                    k,
                    format!("duplicate of spikes[{first}] (tick {tick}, input {index})"),
                ));
            }
        }
        Ok(())
    }

    /// Builds the list from per-tick spike lists (as returned by [`rate_regular`] and
    /// [`poisson`]); `ticks` is the number of lists.
    pub fn from_per_tick(per_tick: &[Vec<u32>]) -> InputSpikes {
        let ticks = u32::try_from(per_tick.len()).unwrap_or(u32::MAX);
        let spikes = (0..ticks)
            .zip(per_tick)
            .flat_map(|(t, idx)| idx.iter().map(move |&i| (t, i)))
            .collect();
        InputSpikes {
            ticks,
            spikes,
            counts: Vec::new(),
        }
    }

    /// Groups the spikes per tick: `ticks` lists of input indices, in file order within a
    /// tick, an entry with count `n` listed `n` times. Spikes with `tick >= ticks` (which
    /// [`InputSpikes::validate`] rejects) are dropped. Allocates `ticks` lists, so bound
    /// `ticks` (the parser accepts up to `u32::MAX`) first.
    pub fn per_tick(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.ticks as usize];
        for (k, &(t, i)) in self.spikes.iter().enumerate() {
            let n = self
                .counts
                .get(k)
                .copied()
                .unwrap_or(1)
                .min(MAX_SPIKE_COUNT);
            if let Some(v) = out.get_mut(t as usize) {
                v.extend(std::iter::repeat_n(i, n as usize));
            }
        }
        out
    }

    /// The JSON text of this list, in the format [`InputSpikes::from_json_str`] reads.
    pub fn to_json(&self) -> String {
        if !self.counts.is_empty() {
            let entries: Vec<String> = self
                .spikes
                .iter()
                .enumerate()
                .map(|(k, (t, i))| match self.counts.get(k) {
                    Some(&c) if c != 1 => format!("[{t},{i},{c}]"),
                    _ => format!("[{t},{i}]"),
                })
                .collect();
            return format!(
                "{{\"ticks\":{},\"spikes\":[{}]}}",
                self.ticks,
                entries.join(",")
            );
        }
        // Serialising a struct of integers cannot fail; fall back to a hand-written form anyway.
        serde_json::to_string(self).unwrap_or_else(|_| {
            let pairs: Vec<String> = self
                .spikes
                .iter()
                .map(|(t, i)| format!("[{t},{i}]"))
                .collect();
            format!(
                "{{\"ticks\":{},\"spikes\":[{}]}}",
                self.ticks,
                pairs.join(",")
            )
        })
    }
}

fn tick_range(tick: u32, ticks: u32) -> String {
    format!(
        "tick {tick} is out of range: ticks is {ticks}, so ticks run 0..={}",
        ticks.saturating_sub(1)
    )
}

/// A JSON value for an error message, cut to a readable length.
fn short(v: &Value) -> String {
    const MAX: usize = 60;
    let s = v.to_string();
    if s.chars().count() <= MAX {
        s
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(per_tick: &[Vec<u32>], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for t in per_tick {
            for &i in t {
                c[i as usize] += 1;
            }
        }
        c
    }

    #[test]
    fn rate_regular_counts() {
        let px = [0.0, 0.1, 0.25, 0.5, 1.0, 1.0 / 3.0];
        let s = rate_regular(&px, 1.0, 100);
        assert_eq!(s.len(), 100);
        assert_eq!(counts(&s, px.len()), vec![0, 10, 25, 50, 100, 33]);
        // max rate scales, and pixel 1.0 at rate 0.2 spikes every 5th tick, starting at tick 4
        let s = rate_regular(&[1.0], 0.2, 20);
        let ticks: Vec<usize> = (0..20).filter(|&t| !s[t].is_empty()).collect();
        assert_eq!(ticks, vec![4, 9, 14, 19]);
        // f32 rounding does not lose spikes: 0.1f32 is above 0.1, 0.7f32 and 0.9f32 below
        assert_eq!(
            counts(&rate_regular(&[0.1, 0.7, 0.9], 1.0, 10), 3),
            vec![1, 7, 9]
        );
        let s = rate_regular(&[0.7, 0.9, 0.3], 1.0, 1000);
        assert_eq!(counts(&s, 3), vec![700, 900, 300]);
        // u8 pixels scaled to [0, 1]: 255 ticks of pixel k/255 at full rate give k spikes
        let px: Vec<f32> = (0..=255u8).map(|k| f32::from(k) / 255.0).collect();
        let c = counts(&rate_regular(&px, 1.0, 255), 256);
        assert_eq!(c, (0..=255usize).collect::<Vec<_>>());
    }

    #[test]
    fn rate_regular_clamps_and_is_deterministic() {
        let px = [2.0, -1.0, f32::NAN, 0.7];
        let a = rate_regular(&px, 1.0, 50);
        assert_eq!(a, rate_regular(&px, 1.0, 50));
        let c = counts(&a, 4);
        assert_eq!(c[0], 50); // clamped to one spike per tick
        assert_eq!(c[1], 0);
        assert_eq!(c[2], 0);
        assert_eq!(c[3], 35); // 0.7 × 50
        assert!(a.iter().all(|t| t.windows(2).all(|w| w[0] < w[1])));
        assert!(rate_regular(&px, 1.0, 0).is_empty());
        assert_eq!(rate_regular(&[], 1.0, 3), vec![Vec::<u32>::new(); 3]);
    }

    #[test]
    fn poisson_seeded() {
        let px: Vec<f32> = (0..100).map(|i| i as f32 / 99.0).collect();
        let a = poisson(&px, 0.5, 200, 42);
        assert_eq!(a.len(), 200);
        assert_eq!(a, poisson(&px, 0.5, 200, 42));
        assert_ne!(a, poisson(&px, 0.5, 200, 43));
        let c = counts(&a, 100);
        assert_eq!(c[0], 0);
        // input 99 has p = 0.5: expect ~100 of 200, binomial sd ≈ 7
        assert!((65..=135).contains(&c[99]), "{}", c[99]);
        let total: usize = c.iter().sum();
        // expected 0.25 × 100 × 200 = 5000
        assert!((4700..=5300).contains(&total), "{total}");
        // probability 1 always spikes, at most once per tick
        let ones = poisson(&[1.0, 1.0], 1.0, 10, 7);
        assert!(ones.iter().all(|t| t == &[0, 1]));
    }

    #[test]
    fn spikes_json_good() {
        let s = InputSpikes::from_json_str(r#"{"ticks": 5, "spikes": [[0, 3], [4, 1], [0, 2]]}"#)
            .unwrap();
        let unknown = InputSpikes::from_json_str(r#"{"ticks": 5, "spikes": [], "note": "x"}"#);
        assert!(unknown.unwrap_err().to_string().contains("note"));
        let huge = InputSpikes::from_json_str(r#"{"ticks": 1000001, "spikes": []}"#);
        assert!(huge.unwrap_err().to_string().contains("limit 1000000"));
        assert_eq!(s.ticks, 5);
        assert_eq!(s.spikes, vec![(0, 3), (4, 1), (0, 2)]);
        s.validate(4).unwrap();
        assert_eq!(
            s.per_tick(),
            vec![vec![3, 2], vec![], vec![], vec![], vec![1]]
        );
        let back = InputSpikes::from_json_str(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.to_json(), r#"{"ticks":5,"spikes":[[0,3],[4,1],[0,2]]}"#);
        let empty = InputSpikes::from_json_str(r#"{"ticks": 1, "spikes": []}"#).unwrap();
        empty.validate(0).unwrap();
    }

    #[test]
    fn spike_counts_expand_per_tick_and_round_trip() {
        let s = InputSpikes::from_json_str(
            r#"{"ticks": 2, "spikes": [[0, 1, 3], [0, 0], [1, 1, 15]]}"#,
        )
        .unwrap();
        s.validate(2).unwrap();
        assert_eq!(s.counts, vec![3, 1, 15]);
        assert_eq!(s.per_tick(), vec![vec![1, 1, 1, 0], vec![1; 15]]);
        assert_eq!(
            s.to_json(),
            r#"{"ticks":2,"spikes":[[0,1,3],[0,0],[1,1,15]]}"#
        );
        assert_eq!(InputSpikes::from_json_str(&s.to_json()).unwrap(), s);
        // A count does not make a repeated pair legal.
        let dup =
            InputSpikes::from_json_str(r#"{"ticks": 1, "spikes": [[0, 1, 2], [0, 1]]}"#).unwrap();
        assert!(
            dup.validate(2)
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
        // Counts of 1 only: the plain pair format.
        let ones = InputSpikes::from_json_str(r#"{"ticks": 1, "spikes": [[0, 1, 1]]}"#).unwrap();
        assert!(ones.counts.is_empty());
    }

    #[test]
    fn spikes_json_errors() {
        let err = |t: &str| InputSpikes::from_json_str(t).unwrap_err().to_string();
        assert!(err("not json").contains("not valid input-spikes JSON"));
        assert!(err(r#"{"spikes": []}"#).contains("missing field `ticks`"));
        assert_eq!(
            err(r#"{"ticks": 0, "spikes": []}"#),
            "input spikes: ticks: must be > 0, got 0"
        );
        assert!(
            err(r#"{"ticks": -2, "spikes": []}"#).contains("expected a positive integer, got -2")
        );
        assert!(err(r#"{"ticks": 1.5, "spikes": []}"#).contains("got 1.5"));
        assert!(err(r#"{"ticks": 5000000000, "spikes": []}"#).contains("too large"));
        assert_eq!(
            err(r#"{"ticks": 3, "spikes": [[0, 1], [1, 2, 3, 4]]}"#),
            "input spikes: spikes[1]: expected [tick, input_index] or [tick, input_index, count], got [1,2,3,4]"
        );
        assert_eq!(
            err(r#"{"ticks": 3, "spikes": [[0, 1], [1, 2, 0]]}"#),
            "input spikes: spikes[1]: count 0 is not an integer in 1..=255"
        );
        assert!(err(r#"{"ticks": 3, "spikes": [[1, 2, 256]]}"#).contains("count 256"));
        assert_eq!(
            err(r#"{"ticks": 3, "spikes": [[0, 1], [1, 2], [3, 0]]}"#),
            "input spikes: spikes[2]: tick 3 is out of range: ticks is 3, so ticks run 0..=2"
        );
        assert!(
            err(r#"{"ticks": 3, "spikes": [[0, -1]]}"#)
                .contains("spikes[0]: input index -1 is not an integer")
        );
        assert!(
            err(r#"{"ticks": 3, "spikes": [[0.5, 1]]}"#)
                .contains("spikes[0]: tick 0.5 is not an integer")
        );
        assert!(
            err(r#"{"ticks": 3, "spikes": [7]}"#)
                .contains("spikes[0]: expected [tick, input_index]")
        );
    }

    #[test]
    fn spikes_validate() {
        let s = InputSpikes {
            ticks: 4,
            spikes: vec![(0, 0), (1, 9), (2, 10)],
            counts: Vec::new(),
        };
        s.validate(11).unwrap();
        let e = s.validate(10).unwrap_err();
        assert!(matches!(e, DataError::SpikeEntry { entry: 2, .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "input spikes: spikes[2]: input index 10 is out of range: there are 10 inputs (0..=9)"
        );
        let dup = InputSpikes {
            ticks: 4,
            spikes: vec![(0, 0), (1, 1), (0, 0)],
            counts: Vec::new(),
        };
        assert!(
            dup.validate(2)
                .unwrap_err()
                .to_string()
                .contains("spikes[2]: duplicate of spikes[0]")
        );
        let late = InputSpikes {
            ticks: 2,
            spikes: vec![(2, 0)],
            counts: Vec::new(),
        };
        assert!(matches!(
            late.validate(1),
            Err(DataError::SpikeEntry { entry: 0, .. })
        ));
        assert_eq!(late.per_tick(), vec![Vec::<u32>::new(); 2]);
        assert!(matches!(
            InputSpikes::default().validate(1),
            Err(DataError::SpikesTicks { .. })
        ));
    }

    #[test]
    fn spikes_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.json");
        std::fs::write(&p, r#"{"ticks": 2, "spikes": [[5, 0]]}"#).unwrap();
        let e = InputSpikes::from_json_file(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(&p.display().to_string()) && e.contains("spikes[0]"),
            "{e}"
        );
        let e = InputSpikes::from_json_file(&dir.path().join("none.json")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }));
    }

    #[test]
    fn encoders_round_trip_through_input_spikes() {
        let px = [0.0, 0.3, 0.9, 1.0];
        let per_tick = poisson(&px, 0.8, 30, 1);
        let s = InputSpikes::from_per_tick(&per_tick);
        assert_eq!(s.ticks, 30);
        s.validate(px.len()).unwrap();
        assert_eq!(s.per_tick(), per_tick);
        let parsed = InputSpikes::from_json_str(&s.to_json()).unwrap();
        assert_eq!(parsed, s);
    }

    proptest! {
        #[test]
        fn rate_regular_count_is_floor(p in 0.0f32..=1.0, max in 0.0f32..=1.0, ticks in 0u32..300) {
            let s = rate_regular(&[p], max, ticks);
            let n: usize = s.iter().map(Vec::len).sum();
            let expect = f64::from(ticks) * f64::from(p) * f64::from(max);
            prop_assert!((n as f64 - expect).abs() <= 1.0, "{} vs {}", n, expect);
        }

        #[test]
        fn spikes_parser_never_panics(text in ".{0,120}") {
            let _ = InputSpikes::from_json_str(&text);
        }

        #[test]
        fn spikes_parser_on_json_like_input(
            ticks in prop_oneof![Just("0".to_string()), Just("-1".to_string()), (0u64..6).prop_map(|t| t.to_string())],
            entries in proptest::collection::vec((-2i64..8, -2i64..8, any::<bool>()), 0..6),
        ) {
            let body: Vec<String> = entries
                .iter()
                .map(|(t, i, third)| if *third { format!("[{t},{i},0]") } else { format!("[{t},{i}]") })
                .collect();
            let text = format!("{{\"ticks\": {ticks}, \"spikes\": [{}]}}", body.join(","));
            if let Ok(s) = InputSpikes::from_json_str(&text) {
                prop_assert!(s.ticks > 0);
                prop_assert!(s.spikes.iter().all(|&(t, _)| t < s.ticks));
                let _ = s.validate(4);
            }
        }
    }
}
