//! Runtime choice of vector instructions for hot kernels (the emulator's compartment and
//! delivery passes, the trainer's soft-LIF curve).
//!
//! The release build targets baseline x86-64 (SSE2), where 64-bit compares and multiplies are
//! scalar and vectors are 4 floats wide. A kernel declared with [`multiversion!`] is compiled
//! three times — baseline, AVX2 (with FMA) and AVX-512 — and each call takes the widest the CPU
//! has. Only the vector width changes: integer code computes the same bits at every level, and
//! so does float code, since every lane runs the same IEEE operations in the same order. FMA is
//! enabled at both vector levels, but Rust never contracts `a * b + c`: only an explicit
//! `mul_add` fuses, and it is fused at every level (a libm call at baseline), so the bits stay
//! the same (the trainer's GEMM tiles need the instruction).
//!
//! `LIFCHIP_SIMD=base|avx2|avx512` (read once) caps the level, to compare versions or to rule
//! them out when debugging.

use std::sync::atomic::{AtomicU8, Ordering};

/// A vector instruction level, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Base = 1,
    Avx2 = 2,
    Avx512 = 3,
}

/// The level in use: 0 until first detected.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The widest level this CPU supports, capped by `LIFCHIP_SIMD`.
fn detect() -> Level {
    let cap = match std::env::var("LIFCHIP_SIMD").as_deref() {
        Ok("base") => Level::Base,
        Ok("avx2") => Level::Avx2,
        _ => Level::Avx512,
    };
    cpu_level().min(cap)
}

#[cfg(target_arch = "x86_64")]
fn cpu_level() -> Level {
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        Level::Avx512
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        Level::Avx2
    } else {
        Level::Base
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_level() -> Level {
    Level::Base
}

/// The level kernels run at.
#[inline]
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Base,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

/// Caps the level for the rest of the process (tests compare the versions; any level gives
/// the same results, so other threads running meanwhile stay correct).
#[doc(hidden)]
pub fn cap(l: Level) {
    LEVEL.store(cpu_level().min(l) as u8, Ordering::Relaxed);
}

/// Asks the CPU to bring `x`'s cache line in: for loops whose loads land all over a big
/// table, issued a few iterations ahead. A hint only: it reads and changes nothing.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        #[allow(unsafe_code)]
        // SAFETY: SSE is part of every x86-64 CPU, and a prefetch of a valid reference has no
        // effect beyond the caches.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// `[VIS] fn NAME<const ..>(args) => BODY`: defines `NAME`, which calls the `#[inline(always)]`
/// function `BODY` compiled for the widest [`Level`] the CPU supports.
#[macro_export]
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$(const $c:ident: $ct:ty),*>($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)?
            => $body:ident
    ) => {
        $(#[$meta])*
        $vis fn $name<$(const $c: $ct),*>($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,bmi1,bmi2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn wide<$(const $c: $ct),*>($($a: $t),*) $(-> $r)? {
                    $body::<$($c),*>($($a),*)
                }
                #[target_feature(enable = "avx2,bmi1,bmi2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2<$(const $c: $ct),*>($($a: $t),*) $(-> $r)? {
                    $body::<$($c),*>($($a),*)
                }
                #[allow(unsafe_code)]
                match $crate::level() {
                    // SAFETY: `level` reports only what the CPU supports.
                    $crate::Level::Avx512 => return unsafe { wide::<$($c),*>($($a),*) },
                    // SAFETY: as above.
                    $crate::Level::Avx2 => return unsafe { avx2::<$($c),*>($($a),*) },
                    $crate::Level::Base => {}
                }
            }
            $body::<$($c),*>($($a),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(always)]
    fn scaled_sums_kernel<const K: usize>(xs: &[f32], out: &mut [f32]) -> u64 {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = x * K as f32 + x / 3.0 - (x * x) / 7.0;
        }
        xs.iter().map(|&x| u64::from(x.to_bits() >> 9)).sum()
    }

    multiversion! {
        fn scaled_sums<const K: usize>(xs: &[f32], out: &mut [f32]) -> u64 => scaled_sums_kernel
    }

    /// Every level a kernel runs at gives the same bits (float arithmetic included: FMA is
    /// enabled, but `a * b + c` is never contracted),
    /// and `cap` never raises the level above what the CPU has.
    #[test]
    fn every_level_gives_the_same_bits() {
        let xs: Vec<f32> = (0..1000).map(|k| (k as f32 - 500.0) * 0.123_4).collect();
        let run = |l: Level| {
            cap(l);
            assert!(level() <= l);
            let mut out = vec![0.0f32; xs.len()];
            let sum = scaled_sums::<3>(&xs, &mut out);
            (sum, out.iter().map(|o| o.to_bits()).collect::<Vec<_>>())
        };
        let base = run(Level::Base);
        assert_eq!(base, run(Level::Avx2));
        assert_eq!(base, run(Level::Avx512));
        assert_eq!(level(), cpu_level());
    }
}
