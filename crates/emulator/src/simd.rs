//! Runtime choice of vector instructions for the hot compartment and delivery kernels.
//!
//! The release build targets baseline x86-64 (SSE2), where 64-bit compares and multiplies are
//! scalar. A kernel declared with [`multiversion!`] is compiled three times — baseline, AVX2 and
//! AVX-512 — and each call takes the widest the CPU has. The kernels are integer code, so every
//! version computes the same bits; the emulator's results do not depend on the machine.
//!
//! `LIFCHIP_SIMD=base|avx2|avx512` (read once) caps the level, to compare versions or to rule
//! them out when debugging.

use std::sync::atomic::{AtomicU8, Ordering};

/// A vector instruction level, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
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
    {
        Level::Avx512
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi2")
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
pub(crate) fn level() -> Level {
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
#[cfg(test)]
pub(crate) fn cap(l: Level) {
    LEVEL.store(cpu_level().min(l) as u8, Ordering::Relaxed);
}

/// `fn NAME<const ..>(args) => BODY`: defines `NAME`, which calls the `#[inline(always)]`
/// function `BODY` compiled for the widest [`Level`] the CPU supports.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        fn $name:ident<$(const $c:ident: $ct:ty),*>($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)?
            => $body:ident
    ) => {
        $(#[$meta])*
        fn $name<$(const $c: $ct),*>($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,bmi1,bmi2")]
                #[allow(clippy::too_many_arguments)]
                fn wide<$(const $c: $ct),*>($($a: $t),*) $(-> $r)? {
                    $body::<$($c),*>($($a),*)
                }
                #[target_feature(enable = "avx2,bmi1,bmi2")]
                #[allow(clippy::too_many_arguments)]
                fn avx2<$(const $c: $ct),*>($($a: $t),*) $(-> $r)? {
                    $body::<$($c),*>($($a),*)
                }
                #[allow(unsafe_code)]
                match $crate::simd::level() {
                    // SAFETY: `level` reports only what the CPU supports.
                    $crate::simd::Level::Avx512 => return unsafe { wide::<$($c),*>($($a),*) },
                    // SAFETY: as above.
                    $crate::simd::Level::Avx2 => return unsafe { avx2::<$($c),*>($($a),*) },
                    $crate::simd::Level::Base => {}
                }
            }
            $body::<$($c),*>($($a),*)
        }
    };
}
pub(crate) use multiversion;
