//! The fused neuron pass ([`super::neurons`]) in 32-bit lanes, for chips whose numbers are
//! small enough: twice the lanes of the 64-bit pass, and no 64-bit compares or multiplies
//! (which AVX2 has only in part).
//!
//! The state of a narrow chip is kept in 32 bits ([`Lanes`]) while its runs step it, and
//! stepped in place; the inputs are copied into 32-bit lanes chunk by chunk. Every value on
//! the way fits in 32 bits by the bounds below, so each operation gives what the 64-bit one
//! gives, bit for bit:
//! - `u` and `v` hold at most `STATE_BITS`-bit values (their policies keep them within
//!   `current_bits` and `voltage_bits`, at most `STATE_BITS`), the bias and every
//!   input `inp << input_shift` less than `2^(STATE_BITS - 1)` and `2^(STATE_BITS + 1)` in
//!   magnitude, so a current's sum `decay(u) + (inp << input_shift)` and a voltage's
//!   `decay(v) + u + bias` stay below `2^31`;
//! - the multiplicative decay (`|x| d >> bits` with `x`'s sign, so `x d / 2^bits` rounded
//!   toward zero) is split at `bits`: with `x = q 2^bits + r`, `q` rounded down, it is
//!   `q d + ⌊(r d + c) / 2^bits⌋` with `c = 2^bits - 1` for a negative `x`, else 0; the
//!   products are at most `2^(STATE_BITS - 1) + d` and below `2^(2 bits)` in magnitude for a
//!   factor `d <= 2^bits` (what the factors are: `2^bits - d - offset`) and `bits <= 15`.
//!
//! A chunk whose inputs exceed these bounds takes the 64-bit chunk (on a 64-bit copy of its
//! state); a chip whose numbers or parameters do, the 64-bit pass throughout (`Narrow::new` is
//! `None`).

use super::{CHUNK, P_SATURATE, P_WRAP, P_WRAP_LAVA, Program, fused_neurons};
use lifchip_target::DecayKind;

/// `u` and `v` of a narrow chip are at most `2^(STATE_BITS - 1)` in magnitude.
const STATE_BITS: u32 = 29;

/// The 32-bit copies of a chip's per-compartment parameters, when they and the target's
/// numbers allow the narrow pass.
#[derive(Clone, Debug)]
pub(super) struct Narrow {
    pub(super) u_decay: Vec<i32>,
    pub(super) v_decay: Vec<i32>,
    pub(super) vth_test: Vec<i32>,
    pub(super) bias: Vec<i32>,
    /// A chunk qualifies when every input is below `2^in_bits` in magnitude.
    pub(super) in_bits: u32,
}

impl Narrow {
    /// The narrow parameters of `p`, or `None` when its target's numbers or parameters do not
    /// fit the bounds of the module comment (or the fused pass does not run).
    pub(super) fn new(p: &Program) -> Option<Narrow> {
        let par = &p.params;
        let n = p.n_comp();
        if !fused_neurons(p)
            || par.current_bits > STATE_BITS
            || par.voltage_bits > STATE_BITS
            || par.input_shift > STATE_BITS
            || [
                p.u_decay.len(),
                p.v_decay.len(),
                p.vth_test.len(),
                p.bias.len(),
            ] != [n; 4]
        {
            return None;
        }
        let factor_ok = |d: i64| match par.decay {
            DecayKind::Multiplicative => {
                par.decay_bits <= 15 && (0..=1 << par.decay_bits).contains(&d)
            }
            // A shift of 31 or more leaves a 32-bit value's sign, as 63 does a 64-bit one's.
            DecayKind::Shift => d >= 0,
        };
        let below = |x: i64, bits: u32| x.unsigned_abs() < 1 << bits;
        // From these initial values on, every update ends in the overflow policies, which keep
        // `u` and `v` within `current_bits` and `voltage_bits`: at most 2^28 in magnitude.
        let state_ok = |x: &i64| x.unsigned_abs() <= 1 << (STATE_BITS - 1);
        let ok = p.u_decay.iter().chain(&p.v_decay).all(|&d| factor_ok(d))
            && p.initial_u.iter().chain(&p.initial_v).all(state_ok)
            && p.bias.iter().all(|&b| below(b, STATE_BITS - 1))
            && p.vth_test.iter().all(|&t| i32::try_from(t).is_ok());
        if !ok {
            return None;
        }
        // Multiplicative factors are checked above to fit; shifts of 31 or more act as 31.
        let lane_factor = |&d: &i64| match par.decay {
            DecayKind::Multiplicative => d as i32,
            DecayKind::Shift => d.min(31) as i32,
        };
        Some(Narrow {
            u_decay: p.u_decay.iter().map(lane_factor).collect(),
            v_decay: p.v_decay.iter().map(lane_factor).collect(),
            vth_test: p.vth_test.iter().map(|&t| t as i32).collect(),
            bias: p.bias.iter().map(|&b| b as i32).collect(),
            in_bits: STATE_BITS + 1 - par.input_shift,
        })
    }
}

/// A narrow chip's `u` and `v` in 32 bits, where the narrow pass steps them: copying the 64-bit
/// state into lanes and back for every chunk and tick was a third of the pass. While `live`,
/// these hold the state and the engine's 64-bit `u` and `v` are stale: everything else that
/// reads them calls [`Lanes::widen`] first (the end of a run, a tick with inputs beyond 64
/// bits) or reads [`Lanes::at`] (probes).
#[derive(Clone, Debug, Default)]
pub(super) struct Lanes {
    pub(super) u: Vec<i32>,
    pub(super) v: Vec<i32>,
    live: bool,
}

impl Lanes {
    /// The lanes take the state from `u` and `v`, unless they hold it already.
    pub(super) fn narrow(&mut self, u: &[i64], v: &[i64]) {
        if self.live {
            return;
        }
        // Exact: a narrow chip's `u` and `v` are at most 2^28 in magnitude (`Narrow::new`
        // checks the initial values, and every update ends in an overflow policy).
        debug_assert!(
            u.iter()
                .chain(v)
                .all(|x| x.unsigned_abs() <= 1 << (STATE_BITS - 1))
        );
        self.u.clear();
        self.u.extend(u.iter().map(|&x| x as i32));
        self.v.clear();
        self.v.extend(v.iter().map(|&x| x as i32));
        self.live = true;
    }

    /// The state back into `u` and `v`, if the lanes hold it; then they no longer do.
    pub(super) fn widen(&mut self, u: &mut [i64], v: &mut [i64]) {
        if !std::mem::take(&mut self.live) {
            return;
        }
        for (w, &x) in u.iter_mut().zip(&self.u) {
            *w = i64::from(x);
        }
        for (w, &x) in v.iter_mut().zip(&self.v) {
            *w = i64::from(x);
        }
    }

    /// The 64-bit state was set anew (a reset): the lanes no longer hold it.
    pub(super) fn drop_state(&mut self) {
        self.live = false;
    }

    /// Compartment `k`'s `u` and `v`, if the lanes hold the state.
    pub(super) fn at(&self, k: usize) -> Option<(i64, i64)> {
        if !self.live {
            return None;
        }
        Some((i64::from(*self.u.get(k)?), i64::from(*self.v.get(k)?)))
    }
}

/// `engine::decay_bf` in 32 bits (see the module comment).
#[inline(always)]
fn decay<const MULT: bool>(x: i32, d: i32, bits: u32, min_step: bool) -> i32 {
    if MULT {
        // `|x| d >> bits` with `x`'s sign is `x d / 2^bits` rounded toward zero. With
        // `x = q 2^bits + r` (`q = x >> bits`, rounded down, and `0 <= r < 2^bits`), that is
        // `q d + ⌊(r d + c) / 2^bits⌋`, where `c = 2^bits - 1` for a negative `x` turns the
        // rounding down into rounding up: no absolute value and no sign put back.
        let mask = (1i32 << bits) - 1;
        let c = (x >> 31) & mask;
        (x >> bits) * d + (((x & mask) * d + c) >> bits)
    } else {
        let step = x >> d;
        let bump = i32::from(min_step & (step == 0) & (x != 0));
        x - step - bump * x.signum()
    }
}

/// `engine::ovf_p` for a value that fits 32 bits (`bits < 32`).
#[inline(always)]
fn ovf<const P: u8>(x: i32, bits: u32) -> i32 {
    let half = 1i32 << (bits - 1);
    match P {
        P_WRAP => (x << (32 - bits)) >> (32 - bits),
        // The 64-bit policy first wraps to 32 bits, which leaves a 32-bit value as it is.
        P_WRAP_LAVA => {
            if x > half {
                x - 2 * half
            } else if x <= -half {
                x + 2 * half
            } else {
                x
            }
        }
        // `max` then `min` (two instructions a vector; `clamp` compiled to three and a load).
        P_SATURATE => x.max(-half).min(half - 1),
        _ => x.max(-(half - 1)).min(half - 1),
    }
}

/// Flags of a compartment in [`ChunkOut::flags`].
pub(super) const OVF_U: i32 = 1;
pub(super) const OVF_V: i32 = 2;
pub(super) const SPIKED: i32 = 4;
/// Held something before the input, or a current after it.
pub(super) const ACTIVE: i32 = 8;
// `chunk` builds the flags by adds that rely on these four values.
const _: () = assert!(OVF_U == 1 && OVF_V == 2 && SPIKED == 4 && ACTIVE == 8);

/// What [`chunk`] found besides the per-compartment flags: their union and the active count.
pub(super) struct ChunkOut {
    pub(super) any: i32,
    pub(super) active: u32,
}

/// One chunk of the fused pass ([`CHUNK`] compartments starting at `first`) in 32-bit lanes,
/// stepping `u` and `v` in place:
/// the current (`DTI`: decay then input), then the voltage, spike and reset, as
/// `engine::current_chunk` and `engine::voltage_chunk` do, with each compartment's flags in
/// `flags`. `None`, changing nothing but `flags`, when an input is outside the bounds;
/// `UNI`: the chunk's decay factors and thresholds are its first. Whole chunks only: every
/// loop has a constant trip count and vectorizes whole.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn chunk<
    const MULT: bool,
    const DTI: bool,
    const UP: u8,
    const VP: u8,
    const UNI: bool,
>(
    nw: &Narrow,
    first: usize,
    u: &mut [i32; CHUNK],
    v: &mut [i32; CHUNK],
    inp: &[i64; CHUNK],
    flags: &mut [i32; CHUNK],
    bits: u32,
    min_step: bool,
    is: u32,
    cb: u32,
    vb: u32,
) -> Option<ChunkOut> {
    // `u` and `v` always hold values within their bits (every update ends in their overflow
    // policy, and `Narrow::new` checked the initial values): at most 2^28 in magnitude.
    debug_assert!(
        u.iter()
            .chain(v.iter())
            .all(|x| x.unsigned_abs() <= 1 << (STATE_BITS - 1))
    );
    // -2^b <= x < 2^b for all x: x + 2^b is below 2^(b + 1) as an unsigned number, for
    // every x exactly when for their union (an add and an or a lane, where AVX2 has no 64-bit
    // arithmetic shift for x ^ (x >> 63)).
    let b = nw.in_bits;
    if inp
        .iter()
        .fold(0u64, |o, &x| o | x.wrapping_add(1 << b) as u64)
        >> (b + 1)
        != 0
    {
        return None;
    }
    let end = first + CHUNK;
    fn lanes(xs: &[i32], at: std::ops::Range<usize>) -> Option<&[i32; CHUNK]> {
        xs.get(at)?.try_into().ok()
    }
    let (b, ud, vd, vth) = (
        lanes(&nw.bias, first..end)?,
        lanes(&nw.u_decay, first..end)?,
        lanes(&nw.v_decay, first..end)?,
        lanes(&nw.vth_test, first..end)?,
    );
    let (ud0, vd0, vth0) = (ud[0], vd[0], vth[0]);
    let a = inp.map(|x| x as i32);
    // Flags as lanes (bit words built in the loop cost a horizontal reduction per word);
    // the caller reads them lane by lane only when the union says there is something. Their
    // union and the active count are kept as lanes in the loop too (two more passes over the
    // flags cost twice the instructions).
    let (mut any, mut active) = (0i32, 0u32);
    for k in 0..CHUNK {
        let (du, dv, above) = if UNI {
            (ud0, vd0, vth0)
        } else {
            (ud[k], vd[k], vth[k])
        };
        let pre = (u[k] | v[k] | b[k]) != 0;
        let mut x = u[k];
        if DTI {
            x = decay::<MULT>(x, du, bits, min_step);
        }
        let sum = x + (a[k] << is);
        let y = ovf::<UP>(sum, cb);
        let un = if DTI {
            y
        } else {
            decay::<MULT>(y, du, bits, min_step)
        };
        let exact = decay::<MULT>(v[k], dv, bits, min_step) + un + b[k];
        let w = ovf::<VP>(exact, vb);
        let spike = w > above;
        u[k] = un;
        v[k] = if spike { 0 } else { w };
        // The flags from the comparisons' masks (-1 or 0) by adds, without a constant per
        // flag: with `e_u`, `e_v` for no overflow and `z` for idle, `OVF_U + OVF_V + ACTIVE`
        // is 11 and the flags are `11 + 8 z - 4 spike + 2 e_v + e_u`.
        let mask = |c: bool| -i32::from(c);
        let (e_u, e_v) = (mask(y == sum), mask(w == exact));
        let z = mask(!pre & (un == 0));
        let f = OVF_U + OVF_V + ACTIVE + (((2 * z - mask(spike)) * 2 + e_v) * 2 + e_u);
        flags[k] = f;
        any |= f;
        active += (f as u32 >> 3) & 1;
    }
    const _: () = assert!(ACTIVE == 1 << 3);
    Some(ChunkOut { any, active })
}
