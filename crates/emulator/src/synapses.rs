//! Synapse memory as the tick reads it: one flat store (CSR) of rows with the narrowest index
//! and weight types the configuration allows, and the kernels that add a row into the
//! accumulators.
//!
//! With `sum_then_add`, a synapse adds its weight to an *accumulator slot*, one per
//! (compartment, group) that some synapse targets. Slots are numbered per core, group by group
//! (ascending group, then ascending compartment), so a row — which belongs to one group —
//! usually targets a run of consecutive slots. Rows are stored in one of two forms:
//!
//! - **sparse**: `(slot, weight)` pairs, the slot local to the core (`u16` when every core has
//!   at most 65,536 slots, else `u32`);
//! - **dense**: when the row's slots span at most twice its length, the weights of the span
//!   `lo..lo + span` in order (absent slots hold 0, repeated slots their sum): no indices, and
//!   a contiguous add the compiler vectorizes.
//!
//! Weights are stored divided by the largest power of two `scale` that divides them all (for
//! example the step of Loihi's mixed sign mode), in `i8`, `i16` or `i32`, whichever holds
//! them all; the
//! compartment update multiplies the accumulator by `scale` before using it. Sums are wrapping
//! 64-bit, so the result is bit-identical to adding the true weights in any order.

use lifchip_chip::{FlatChip, FlatCore};

use crate::program::NONE;

/// Slots addressable with a `u16` index; the accumulator array is padded by this many entries
/// so that a core's slot window is always a full `[i64; 65536]` (no bounds checks).
pub(crate) const U16_WINDOW: usize = 1 << 16;

/// Densify a row when its slot span is at most this many times its length.
const DENSE_SPAN_FACTOR: u64 = 2;
/// Rows shorter than this stay sparse.
const DENSE_MIN_LEN: usize = 4;

/// Overrides of the automatic layout choices, to test that every layout gives the same
/// results (not for production use: the automatic choice is the fastest).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutOverride {
    /// Use `u32` slot indices even where `u16` would do.
    pub wide_index: bool,
    /// Store weights in at least this many bytes (1, 2 or 4; 0 = automatic).
    pub min_weight_bytes: u8,
    /// Store every row sparse.
    pub no_dense: bool,
    /// Force the "larger than the cache" delivery (rows loaded ahead, deliveries sorted) on or
    /// off.
    pub touch: Option<bool>,
    /// Always gather compartment inputs with the exact 128-bit path.
    pub exact_gather: bool,
    /// Gather every slot every tick, never only the slots the tick's deliveries touched.
    pub dense_gather: bool,
    /// Force the functional mode's per-compartment fan-out lists (see [`Typed::fan_slot`]) on
    /// or off.
    pub fanout: Option<bool>,
    /// Store every dense row's cells, even where an earlier row's are the same.
    pub unshared_rows: bool,
    /// Deliver the fan-out lists into the accumulators and gather them, even where they
    /// could add straight into the inputs (see `Program::direct_fan`).
    pub no_direct_fan: bool,
}

/// One axon's synapse row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    /// First entry in the store: in `idx`/`w` (sparse), `dense` (dense) or `Program::ev`
    /// (per-event accumulation).
    pub start: usize,
    /// Entries stored: the synapses of a sparse row, the slot span of a dense row.
    pub span: u32,
    /// Synapses of the row (synaptic operations per delivered spike).
    pub len: u32,
    /// Dense rows: the first slot (local to the core); otherwise [`NONE`].
    pub lo: u32,
    /// The axon's core.
    pub core: u32,
}

/// The rows' descriptors, by global axon. `Full`: a [`Row`] per axon (24 bytes). `Csr`: when
/// every row is sparse and stored in axon order (chips with fan-out lists: one- or few-synapse
/// rows, tens of millions of them), only where each row starts in the store, 4 bytes per axon;
/// a row's length is the distance to the next start and its core is found in `axon_base`.
#[derive(Clone, Debug)]
pub(crate) enum Rows {
    Full(Vec<Row>),
    Csr {
        /// Row `a` is store entries `start[a]..start[a + 1]` (one more entry at the end).
        start: Vec<u32>,
        /// First global axon of each core, one more entry at the end.
        axon_base: Vec<u32>,
    },
}

impl Default for Rows {
    fn default() -> Self {
        Rows::Full(Vec::new())
    }
}

impl Rows {
    /// Row `a` (panics past the last, like indexing).
    #[inline(always)]
    pub fn get(&self, a: usize) -> Row {
        match self {
            Rows::Full(rows) => rows[a],
            Rows::Csr { start, axon_base } => {
                let (lo, hi) = (start[a], start[a + 1]);
                // The last core whose first axon is at most `a` (cores without axons share
                // their first axon with the next one and are skipped).
                let core = axon_base.partition_point(|&b| b as usize <= a) - 1;
                Row {
                    start: lo as usize,
                    span: hi - lo,
                    len: hi - lo,
                    lo: NONE,
                    core: core as u32,
                }
            }
        }
    }

    /// Rows (axons).
    pub fn len(&self) -> usize {
        match self {
            Rows::Full(rows) => rows.len(),
            Rows::Csr { start, .. } => start.len().saturating_sub(1),
        }
    }

    /// Entries stored and synapses, over all rows.
    pub fn totals(&self) -> (u64, u64) {
        match self {
            Rows::Full(rows) => rows.iter().fold((0, 0), |(s, n), r| {
                (s + u64::from(r.span), n + u64::from(r.len))
            }),
            // Sparse rows stored back to back: both are the store's length.
            Rows::Csr { start, .. } => {
                let all = match (start.first(), start.last()) {
                    (Some(&a), Some(&b)) => u64::from(b - a),
                    _ => 0,
                };
                (all, all)
            }
        }
    }

    /// The rows in axon order (the cores found by walking `axon_base`, not searched).
    pub fn iter(&self) -> impl Iterator<Item = Row> + '_ {
        let n = self.len();
        let mut core = 0usize;
        (0..n).map(move |a| match self {
            Rows::Full(rows) => rows[a],
            Rows::Csr { start, axon_base } => {
                while axon_base.get(core + 1).is_some_and(|&b| b as usize <= a) {
                    core += 1;
                }
                let (lo, hi) = (start[a], start[a + 1]);
                Row {
                    start: lo as usize,
                    span: hi - lo,
                    len: hi - lo,
                    lo: NONE,
                    core: core as u32,
                }
            }
        })
    }
}

/// A stored weight.
pub(crate) trait Weight: Copy + Send + Sync + std::fmt::Debug + 'static {
    const ZERO: Self;
    fn wide(self) -> i64;
    fn narrow(x: i64) -> Option<Self>;
}

macro_rules! weight {
    ($t:ty) => {
        impl Weight for $t {
            const ZERO: Self = 0;
            #[inline(always)]
            fn wide(self) -> i64 {
                i64::from(self)
            }
            fn narrow(x: i64) -> Option<Self> {
                <$t>::try_from(x).ok()
            }
        }
    };
}
weight!(i8);
weight!(i16);
weight!(i32);

/// A stored slot index (local to the core).
pub(crate) trait Index: Copy + Send + Sync + std::fmt::Debug + 'static {
    fn narrow(x: u32) -> Option<Self>;
    /// `acc[base + idx[j]] += m * w[j]` for every `j` (wrapping).
    fn add_sparse<W: Weight>(acc: &mut [i64], base: usize, idx: &[Self], w: &[W], m: i64);
}

impl Index for u16 {
    fn narrow(x: u32) -> Option<Self> {
        u16::try_from(x).ok()
    }
    #[inline(always)]
    fn add_sparse<W: Weight>(acc: &mut [i64], base: usize, idx: &[u16], w: &[W], m: i64) {
        // A fixed-size window: any u16 is in range, so the loop has no bounds checks.
        let window: &mut [i64; U16_WINDOW] = (&mut acc[base..base + U16_WINDOW])
            .try_into()
            .expect("the accumulators are padded by a u16 window");
        if m == 1 {
            for (&i, &w) in idx.iter().zip(w) {
                let a = &mut window[usize::from(i)];
                *a = a.wrapping_add(w.wide());
            }
        } else {
            for (&i, &w) in idx.iter().zip(w) {
                let a = &mut window[usize::from(i)];
                *a = a.wrapping_add(w.wide().wrapping_mul(m));
            }
        }
    }
}

impl Index for u32 {
    fn narrow(x: u32) -> Option<Self> {
        Some(x)
    }
    #[inline(always)]
    fn add_sparse<W: Weight>(acc: &mut [i64], base: usize, idx: &[u32], w: &[W], m: i64) {
        let window = &mut acc[base..];
        if m == 1 {
            for (&i, &w) in idx.iter().zip(w) {
                let a = &mut window[i as usize];
                *a = a.wrapping_add(w.wide());
            }
        } else {
            for (&i, &w) in idx.iter().zip(w) {
                let a = &mut window[i as usize];
                *a = a.wrapping_add(w.wide().wrapping_mul(m));
            }
        }
    }
}

/// `acc[j] += m * w[j]` (wrapping), a contiguous run.
#[inline(always)]
pub(crate) fn add_dense<W: Weight>(acc: &mut [i64], w: &[W], m: i64) {
    if m == 1 {
        for (a, &w) in acc.iter_mut().zip(w) {
            *a = a.wrapping_add(w.wide());
        }
    } else {
        for (a, &w) in acc.iter_mut().zip(w) {
            *a = a.wrapping_add(w.wide().wrapping_mul(m));
        }
    }
}

/// The rows of all axons with one choice of index and weight types.
#[derive(Clone, Debug, Default)]
pub(crate) struct Typed<I, W> {
    pub idx: Vec<I>,
    pub w: Vec<W>,
    pub dense: Vec<W>,
    /// Functional mode, when built ([`fan_lists`]): every synapse a spike of compartment `k`
    /// reaches through all the axons of its fan-out, as global accumulator slots and stored
    /// weights, `fan_slot[fan_start[k]..fan_start[k + 1]]` — one contiguous list per spike
    /// instead of a row look-up per axon.
    pub fan_start: Vec<usize>,
    pub fan_slot: Vec<u32>,
    pub fan_w: Vec<W>,
    /// The same for the input channels, when built ([`Store::build_input_lists`]): every
    /// synapse a spike of channel `c` reaches, `in_slot[in_start[c]..in_start[c + 1]]`.
    pub in_start: Vec<usize>,
    pub in_slot: Vec<u32>,
    pub in_w: Vec<W>,
}

/// The synapse store, by index and weight type.
#[derive(Clone, Debug)]
pub(crate) enum Store {
    U16I8(Typed<u16, i8>),
    U16I16(Typed<u16, i16>),
    U16I32(Typed<u16, i32>),
    U32I8(Typed<u32, i8>),
    U32I16(Typed<u32, i16>),
    U32I32(Typed<u32, i32>),
}

/// `$body` with `$t` bound to the store's tables, whatever their index and weight types (one
/// arm per [`Store`] variant, each compiled for its types).
macro_rules! with_store {
    ($store:expr, $t:ident => $body:expr) => {
        match $store {
            $crate::synapses::Store::U16I8($t) => $body,
            $crate::synapses::Store::U16I16($t) => $body,
            $crate::synapses::Store::U16I32($t) => $body,
            $crate::synapses::Store::U32I8($t) => $body,
            $crate::synapses::Store::U32I16($t) => $body,
            $crate::synapses::Store::U32I32($t) => $body,
        }
    };
}
pub(crate) use with_store;

/// [`Typed::build_fan`] and [`sources`] write their big tables through [`Staged`] buckets:
/// up to `2^FAN_BUCKET_BITS` blocks of the table, [`FAN_STAGE`] entries staged per flush.
const FAN_BUCKET_BITS: u32 = 8;
const FAN_STAGE: usize = 1 << 20;

/// Writes to a big table, staged in one bucket per block of its indices and applied bucket by
/// bucket, so the writes of a flush stay within one block at a time (cache and TLB) instead
/// of jumping across the whole table. Each bucket keeps its push order.
struct Staged<T> {
    shift: u32,
    buckets: Vec<Vec<T>>,
    staged: usize,
    stage: usize,
}

impl<T: Copy> Staged<T> {
    /// Buckets for a table of `len` entries, flushed every `stage` entries.
    fn new(len: usize, stage: usize) -> Staged<T> {
        let shift =
            (usize::BITS - (len.max(1) - 1).leading_zeros()).saturating_sub(FAN_BUCKET_BITS);
        Staged {
            shift,
            buckets: vec![Vec::new(); (len >> shift) + 1],
            staged: 0,
            stage,
        }
    }

    /// Stages `item` for table index `at`; `None` when `at` is past the table's blocks.
    fn push(&mut self, at: usize, item: T) -> Option<()> {
        self.buckets.get_mut(at >> self.shift)?.push(item);
        self.staged += 1;
        Some(())
    }

    /// Applies the staged items with `write`, bucket by bucket, when a stage is full (or
    /// always, with `all`); stops at the first `None`.
    fn flush(&mut self, all: bool, mut write: impl FnMut(T) -> Option<()>) -> Option<()> {
        if !all && self.staged < self.stage {
            return Some(());
        }
        for bucket in &mut self.buckets {
            for &item in bucket.iter() {
                write(item)?;
            }
            bucket.clear();
        }
        self.staged = 0;
        Some(())
    }
}

/// Per-compartment fan-out lists are built when a spike reaches at most this many synapses
/// per axon on average: short rows, where the look-up of each axon's row costs more than its
/// synapses (big sparse nets: one or a few synapses per core).
const FAN_MAX_ROW_LEN: u64 = 8;

/// On chips of at most [`FAN_SMALL_SYNAPSES`] synapses, the lists are built for rows of up to
/// this many synapses on average: they beat the rows there too (CUBA nets of 12–54 synapses
/// per row, one to seven cores: 16–21 % less time, the rows' look-ups, touched-slot lists and
/// gather gone), and the copy of every synapse they make stays small.
const FAN_MAX_ROW_LEN_SMALL: u64 = 64;

/// See [`FAN_MAX_ROW_LEN_SMALL`]: lists of at most 16 M entries, ~100 MB.
const FAN_SMALL_SYNAPSES: u64 = 1 << 24;

/// Whether [`fan_lists`] will try to build the lists for `synapses` in `rows` rows (`fanout`:
/// whether any compartment has a destination; `force`: [`LayoutOverride::fanout`]).
pub(crate) fn fan_wanted(synapses: u64, rows: u64, fanout: bool, force: Option<bool>) -> bool {
    let mean = synapses / rows.max(1);
    match force {
        Some(f) => f,
        None => {
            fanout
                && (mean <= FAN_MAX_ROW_LEN
                    || (mean <= FAN_MAX_ROW_LEN_SMALL && synapses <= FAN_SMALL_SYNAPSES))
        }
    }
}

/// `acc[slot[j]] += m * w[j]` for every `j` (wrapping).
#[inline(always)]
pub(crate) fn add_fan<W: Weight>(acc: &mut [i64], slot: &[u32], w: &[W], m: i64) {
    if m == 1 {
        for (&s, &w) in slot.iter().zip(w) {
            let a = &mut acc[s as usize];
            *a = a.wrapping_add(w.wide());
        }
    } else {
        for (&s, &w) in slot.iter().zip(w) {
            let a = &mut acc[s as usize];
            *a = a.wrapping_add(w.wide().wrapping_mul(m));
        }
    }
}

/// Per compartment: the synaptic operations of one spike through its fan-out, and among them
/// those of dense and of shared rows (see `Program::fan_synops`).
#[derive(Debug, Default)]
pub(crate) struct FanCounts {
    pub synops: Vec<u64>,
    pub dense: Vec<u64>,
    pub shared: Vec<u64>,
    /// With price classes, when few rows differ from their compartment's usual class.
    pub kinds: Option<FanKinds>,
    /// A bit per compartment (`k / 64`, bit `k % 64`): some row of its fan-out has no
    /// synapse (its list then has fewer runs than rows).
    pub empty_rows: Vec<u64>,
}

/// The price classes of the compartments' fan-out rows as each compartment's usual class
/// (that of most of its synapses) and the rows with synapses of another class: what the cycle
/// model reads per fan-out row, in the order of a compartment's axons, without a look-up per
/// row in the per-axon table (on the 40k CUBA chip, 30.7 M rows of which 18,088 differ from
/// their compartment's class; the random look-ups were half of building a compartment's
/// entries).
#[derive(Clone, Debug, Default)]
pub(crate) struct FanKinds {
    /// Per compartment: the class of most of its fan-out's synapses.
    pub usual: Vec<u8>,
    /// Per compartment (one more entry): where its rows of another class start in `other`.
    pub start: Vec<u32>,
    /// `(axon, class)` of the rows with synapses not of their compartment's usual class, per
    /// compartment in ascending axon order.
    pub other: Vec<(u32, u8)>,
}

impl FanKinds {
    /// Compartment `k`'s usual class and its rows of another class.
    #[inline]
    pub fn of(&self, k: usize) -> Option<(u8, &[(u32, u8)])> {
        let (lo, hi) = (
            *self.start.get(k)? as usize,
            *self.start.get(k + 1)? as usize,
        );
        Some((*self.usual.get(k)?, self.other.get(lo..hi)?))
    }
}

/// [`FanKinds`] from the rows' classes and sources (axon order), or `None` when more than
/// one row in [`FAN_KINDS_RARE`] (and more than 4,096) differ from their compartment's class:
/// the table would not be small.
fn fan_kinds(f: &FanInput, src: &[u32], counts: &FanCounts) -> Option<FanKinds> {
    use crate::program::{ROW_DENSE, ROW_SHARED, ROW_SPARSE};
    let usual: Vec<u8> = (counts.synops.iter().zip(&counts.dense))
        .zip(&counts.shared)
        .map(|((&all, &dense), &shared)| {
            let sparse = all.saturating_sub(dense).saturating_sub(shared);
            if dense > sparse.max(shared) {
                ROW_DENSE
            } else if shared > sparse {
                ROW_SHARED
            } else {
                ROW_SPARSE
            }
        })
        .collect();
    let cap = (f.rows.len() / FAN_KINDS_RARE).max(1 << 12);
    let mut other: Vec<(u32, u32, u8)> = Vec::new();
    for (a, (r, &k)) in f.rows.iter().zip(src).enumerate() {
        if k == NONE || r.len == 0 {
            continue;
        }
        let kind = *f.row_kind.get(a)?;
        if kind != *usual.get(k as usize)? {
            if other.len() >= cap {
                return None;
            }
            other.push((k, a as u32, kind));
        }
    }
    // By compartment, each in axon order (a stable counting sort).
    let mut start = vec![0u32; usual.len() + 1];
    for &(k, ..) in &other {
        start[k as usize + 1] += 1;
    }
    for k in 0..usual.len() {
        start[k + 1] += start[k];
    }
    let mut at = start.clone();
    let mut sorted = vec![(0u32, 0u8); other.len()];
    for (k, a, kind) in other {
        let i = &mut at[k as usize];
        sorted[*i as usize] = (a, kind);
        *i += 1;
    }
    Some(FanKinds {
        usual,
        start,
        other: sorted,
    })
}

/// [`FanKinds`] is built when at most one row in this many differs from its compartment's
/// class.
const FAN_KINDS_RARE: usize = 16;

/// What [`Typed::build_fan`] reads besides the store.
struct FanInput<'a> {
    rows: &'a Rows,
    row_kind: &'a [u8],
    core_base: &'a [u32],
    fan_start: &'a [usize],
    fan_axon: &'a [u32],
    /// Give up when the lists would hold more entries than this.
    limit: u64,
}

/// The source compartment of each axon (`NONE` for axons no compartment reaches), or `None`
/// when an axon is reached from more than one compartment (or is out of range). The
/// (axon, compartment) pairs are staged in one bucket per block of axons and written bucket
/// by bucket ([`Staged`]): the table is written half a MB at a time.
fn sources(f: &FanInput, n: usize, stage: usize) -> Option<Vec<u32>> {
    let axons = f.rows.len();
    let mut src = vec![NONE; axons];
    let mut staged = Staged::new(axons, stage);
    let mut write = |(a, k): (u32, u32)| {
        let s = src.get_mut(a as usize)?;
        if *s != NONE {
            return None;
        }
        *s = k;
        Some(())
    };
    for k in 0..n {
        for &a in &f.fan_axon[f.fan_start[k]..f.fan_start[k + 1]] {
            staged.push(a as usize, (a, k as u32))?;
        }
        staged.flush(false, &mut write)?;
    }
    staged.flush(true, &mut write)?;
    Some(src)
}

impl<I: Index + Into<i64>, W: Weight> Typed<I, W> {
    /// Entries a row adds to a fan-out list: its synapses, or its dense row's nonzero cells.
    fn fan_entries(&self, r: &Row) -> usize {
        let (lo, hi) = (r.start, r.start + r.span as usize);
        if r.lo == NONE {
            r.span as usize
        } else {
            self.dense[lo..hi].iter().filter(|w| w.wide() != 0).count()
        }
    }

    /// Builds the functional mode's fan-out lists ([`Typed::fan_slot`]) from the rows. The
    /// rows are read in axon order (each axon's one source compartment found first), and each
    /// list is written in the ascending order of its axons: sequential reads and one write
    /// cursor per compartment, not a random row look-up per axon of a fan-out. Sums are
    /// wrapping, so adding a spike's synapses in this order instead of row by row gives the
    /// same accumulators. Zero cells of dense rows are left out. `None`, with nothing built,
    /// when an axon is reached from more than one compartment or the lists would pass
    /// `f.limit` entries. `stage`: entries staged per flush ([`FAN_STAGE`]; tests use less).
    fn build_fan(&mut self, f: &FanInput, stage: usize) -> Option<FanCounts> {
        let n = f.fan_start.len().saturating_sub(1);
        let src = sources(f, n, stage)?;
        let priced = !f.row_kind.is_empty();
        let mut counts = FanCounts {
            synops: vec![0; n],
            dense: vec![0; if priced { n } else { 0 }],
            shared: vec![0; if priced { n } else { 0 }],
            kinds: None,
            empty_rows: vec![0; n.div_ceil(64)],
        };
        let mut start = vec![0usize; n + 1];
        for (a, (r, &k)) in f.rows.iter().zip(&src).enumerate() {
            if k == NONE {
                continue;
            }
            let k = k as usize;
            start[k + 1] += self.fan_entries(&r);
            counts.synops[k] += u64::from(r.len);
            counts.empty_rows[k / 64] |= u64::from(r.len == 0) << (k % 64);
            if priced {
                match f.row_kind[a] {
                    crate::program::ROW_DENSE => counts.dense[k] += u64::from(r.len),
                    crate::program::ROW_SHARED => counts.shared[k] += u64::from(r.len),
                    _ => {}
                }
            }
        }
        for k in 0..n {
            start[k + 1] += start[k];
        }
        let total = start[n];
        if total as u64 > f.limit {
            return None;
        }
        if priced {
            counts.kinds = fan_kinds(f, &src, &counts);
        }
        let mut fan_slot = vec![0; total];
        let mut fan_w = vec![W::ZERO; total];
        // With more than one thread, two halves of the compartments (split where the entries
        // are) side by side: each reads every row and writes its own compartments' lists.
        let mid = if rayon::current_num_threads() > 1 {
            start[..n].partition_point(|&s| s < total / 2)
        } else {
            n
        };
        let (slot_lo, slot_hi) = fan_slot.split_at_mut(start[mid]);
        let (w_lo, w_hi) = fan_w.split_at_mut(start[mid]);
        let (lo, hi) = rayon::join(
            || self.write_fan(f, &src, &start, 0..mid, slot_lo, w_lo, stage),
            || self.write_fan(f, &src, &start, mid..n, slot_hi, w_hi, stage),
        );
        lo?;
        hi?;
        self.fan_slot = fan_slot;
        self.fan_w = fan_w;
        self.fan_start = start;
        Some(counts)
    }

    /// Writes the lists of compartments `ks` ([`Typed::build_fan`]) into `slot` and `w`, which
    /// hold exactly those lists (from `start[ks.start]` on). The rows are read in axon order;
    /// writes are staged by block of compartments ([`Staged`]), each bucket in the rows'
    /// order, so each list stays in ascending axon order.
    #[allow(clippy::too_many_arguments)]
    fn write_fan(
        &self,
        f: &FanInput,
        src: &[u32],
        start: &[usize],
        ks: std::ops::Range<usize>,
        slot: &mut [u32],
        w: &mut [W],
        stage: usize,
    ) -> Option<()> {
        if ks.is_empty() {
            return Some(());
        }
        let base = *start.get(ks.start)?;
        let mut cursor: Vec<usize> = start.get(ks.clone())?.iter().map(|&s| s - base).collect();
        let mut staged = Staged::new(ks.len(), stage);
        let mut write = |(k, s, x): (u32, u32, W)| {
            let at = cursor.get_mut(k as usize)?;
            *slot.get_mut(*at)? = s;
            *w.get_mut(*at)? = x;
            *at += 1;
            Some(())
        };
        for (r, &k) in f.rows.iter().zip(src) {
            let Some(k) = (k as usize).checked_sub(ks.start).filter(|&k| k < ks.len()) else {
                // Not one of `ks` (or `NONE`: no source).
                continue;
            };
            let core_base = f.core_base[r.core as usize];
            let (lo, hi) = (r.start, r.start + r.span as usize);
            if r.lo == NONE {
                for (&i, &x) in self.idx[lo..hi].iter().zip(&self.w[lo..hi]) {
                    staged.push(k, (k as u32, core_base + i.into() as u32, x))?;
                }
            } else {
                for (j, &x) in self.dense[lo..hi].iter().enumerate() {
                    if x.wide() != 0 {
                        staged.push(k, (k as u32, core_base + r.lo + j as u32, x))?;
                    }
                }
            }
            staged.flush(false, &mut write)?;
        }
        staged.flush(true, &mut write)
    }
}

/// Builds the functional mode's fan-out lists into `store` when they pay (short rows, see
/// [`fan_wanted`]) or `force` says so, and when they take at most as many entries as the
/// rows (an axon reached from several compartments would be copied into each list). Returns
/// the per-compartment counts when it did.
pub(crate) fn fan_lists(
    store: &mut Store,
    rows: &Rows,
    row_kind: &[u8],
    core_base: &[u32],
    fan_start: &[usize],
    fan_axon: &[u32],
    force: Option<bool>,
) -> Option<FanCounts> {
    let (stored, synapses) = rows.totals();
    if !fan_wanted(synapses, rows.len() as u64, !fan_axon.is_empty(), force) {
        return None;
    }
    let f = FanInput {
        rows,
        row_kind,
        core_base,
        fan_start,
        fan_axon,
        limit: if force == Some(true) {
            4 * stored.max(1 << 20)
        } else {
            stored
        },
    };
    with_store!(store, t => t.build_fan(&f, FAN_STAGE))
}

/// The input channels' axons (channel `c`'s at `axon[start[c]..start[c + 1]]`) and what
/// their rows' synapses are read from, for [`Store::build_input_lists`].
pub(crate) struct InputAxons<'a> {
    pub rows: &'a Rows,
    pub core_base: &'a [u32],
    pub start: &'a [usize],
    pub axon: &'a [u32],
}

impl<I: Index + Into<i64>, W: Weight> Typed<I, W> {
    /// [`Store::build_input_lists`] on this store.
    fn build_input_lists(&mut self, src: &InputAxons, limit: usize) -> Option<()> {
        let (mut start, mut slot, mut w) = (vec![0usize], Vec::new(), Vec::new());
        for c in 0..src.start.len().saturating_sub(1) {
            for &a in src.axon.get(src.start[c]..src.start[c + 1])? {
                let r = src.rows.get(a as usize);
                let base = *src.core_base.get(r.core as usize)?;
                let (lo, hi) = (r.start, r.start + r.span as usize);
                if r.lo == NONE {
                    for (&i, &x) in self.idx.get(lo..hi)?.iter().zip(self.w.get(lo..hi)?) {
                        slot.push(base + i.into() as u32);
                        w.push(x);
                    }
                } else {
                    for (j, &x) in self.dense.get(lo..hi)?.iter().enumerate() {
                        if x.wide() != 0 {
                            slot.push(base + r.lo + j as u32);
                            w.push(x);
                        }
                    }
                }
                if slot.len() > limit {
                    return None;
                }
            }
            start.push(slot.len());
        }
        (self.in_start, self.in_slot, self.in_w) = (start, slot, w);
        Some(())
    }
}

impl Store {
    /// Builds the input channels' lists (see [`Typed::in_slot`]) from `src`, each axon's row
    /// in order, leaving out the zero cells of dense rows, as the compartments' fan-out lists
    /// do; `false`, with nothing built, when they would hold more than `limit` entries.
    pub fn build_input_lists(&mut self, src: &InputAxons, limit: usize) -> bool {
        let built = with_store!(self, t => t.build_input_lists(src, limit));
        built.is_some()
    }

    /// The functional mode's fan-out lists' starts and slots ([`Typed::fan_slot`]; empty
    /// when not built).
    pub fn fan_slots(&self) -> (&[usize], &[u32]) {
        with_store!(self, t => (&t.fan_start, &t.fan_slot))
    }

    /// Bits of the stored weight type (8, 16 or 32): no weight is 2^bits or more in magnitude.
    pub fn weight_bits(&self) -> u32 {
        match self {
            Store::U16I8(_) | Store::U32I8(_) => 8,
            Store::U16I16(_) | Store::U32I16(_) => 16,
            Store::U16I32(_) | Store::U32I32(_) => 32,
        }
    }

    /// Bytes of synapse memory the store takes (indices and weights).
    pub fn bytes(&self) -> usize {
        fn b<I, W>(t: &Typed<I, W>) -> usize {
            t.idx.len() * size_of::<I>()
                + (t.w.len() + t.dense.len() + t.fan_w.len()) * size_of::<W>()
                + t.fan_slot.len() * size_of::<u32>()
                + t.fan_start.len() * size_of::<usize>()
        }
        with_store!(self, t => b(t))
    }
}

/// Accumulator slots of a sum-then-add configuration, and the rows that feed them.
#[derive(Clone, Debug)]
pub(crate) struct SumLayout {
    /// First slot of each core (global slot = base + local slot); one more entry at the end.
    pub core_base: Vec<u32>,
    /// Slots of compartment `k`: `comp_slots[comp_start[k]..comp_start[k + 1]]`, each
    /// `(global slot, group exponent)`.
    pub comp_start: Vec<u32>,
    pub comp_slots: Vec<(u32, i32)>,
    /// Length of the accumulator array (slots plus padding).
    pub acc_len: usize,
    /// Slot blocks, one per (core, group): `(first global slot, end, shift)` where `shift` is
    /// the group exponent plus `log2(scale)`; `slot_comp` names each slot's compartment.
    pub blocks: Vec<(u32, u32, i32)>,
    pub slot_comp: Vec<u32>,
    /// Stored weight = true weight / `scale`.
    pub scale: i64,
    pub rows: Rows,
    pub store: Store,
    /// Per core, per group present: `(group, first global slot, compartments ascending)`.
    pub groups: Vec<Vec<(u16, u32, Vec<u32>)>>,
}

/// One core's slot numbering: per group present (ascending), the compartments it targets.
struct CoreSlots {
    /// `(group, first local slot, compartments ascending)`.
    groups: Vec<(u16, u32, Vec<u32>)>,
    slots: u32,
}

/// `extra`: `(group, compartment)` slots the core needs without a synapse for them (the
/// group a split neuron's partial sums join).
fn core_slots(
    core: &FlatCore,
    extra: &[(u16, u32)],
    seen: &mut [u32],
    stamp: &mut u32,
) -> CoreSlots {
    core_slots_marked(core, extra).unwrap_or_else(|| core_slots_sorted(core, extra, seen, stamp))
}

/// [`core_slots`] by marking each (group, compartment) pair in a table scanned in order, when
/// the table is small beside the synapses (no sorts); `None` otherwise.
fn core_slots_marked(core: &FlatCore, extra: &[(u16, u32)]) -> Option<CoreSlots> {
    let n = core.compartments().len();
    let groups = core
        .axons()
        .map(|a| a.group)
        .chain(extra.iter().map(|e| e.0))
        .max()
        .map_or(0, |g| usize::from(g) + 1);
    let cells = groups.checked_mul(n)?;
    if cells > (4 * (core.n_synapses() + extra.len())).max(1 << 12) {
        return None;
    }
    let mut mark = vec![false; cells];
    // A compartment outside the core (not in a valid configuration) takes the sorting path.
    for a in core.axons() {
        let row = usize::from(a.group) * n;
        for s in a.synapses {
            let k = s.compartment as usize;
            if k >= n {
                return None;
            }
            mark[row + k] = true;
        }
    }
    for &(g, k) in extra {
        let k = k as usize;
        if k >= n {
            return None;
        }
        mark[usize::from(g) * n + k] = true;
    }
    let mut out = Vec::new();
    let mut slots = 0u32;
    for (g, row) in mark.chunks_exact(n.max(1)).enumerate() {
        let comps: Vec<u32> = (0..n as u32).filter(|&k| row[k as usize]).collect();
        if comps.is_empty() {
            continue;
        }
        let len = comps.len() as u32;
        out.push((g as u16, slots, comps));
        slots += len;
    }
    Some(CoreSlots { groups: out, slots })
}

/// [`core_slots`] by sorting the axons by group.
fn core_slots_sorted(
    core: &FlatCore,
    extra: &[(u16, u32)],
    seen: &mut [u32],
    stamp: &mut u32,
) -> CoreSlots {
    let axons: Vec<lifchip_chip::AxonRef> = core.axons().collect();
    let mut order: Vec<usize> = (0..axons.len()).collect();
    order.sort_by_key(|&a| axons[a].group);
    let mut group_ids: Vec<u16> = order
        .iter()
        .map(|&a| axons[a].group)
        .chain(extra.iter().map(|e| e.0))
        .collect();
    group_ids.dedup();
    group_ids.sort_unstable();
    group_ids.dedup();
    let mut groups = Vec::new();
    let mut slots = 0u32;
    let mut i = 0;
    for g in group_ids {
        *stamp = stamp.wrapping_add(1);
        if *stamp == 0 {
            seen.fill(0);
            *stamp = 1;
        }
        let mut comps = Vec::new();
        while i < order.len() && axons[order[i]].group == g {
            for s in axons[order[i]].synapses {
                let k = s.compartment as usize;
                if seen[k] != *stamp {
                    seen[k] = *stamp;
                    comps.push(s.compartment);
                }
            }
            i += 1;
        }
        for &(eg, k) in extra {
            if eg == g && seen.get(k as usize).is_some_and(|s| *s != *stamp) {
                seen[k as usize] = *stamp;
                comps.push(k);
            }
        }
        if comps.is_empty() {
            continue;
        }
        comps.sort_unstable();
        let n = comps.len() as u32;
        groups.push((g, slots, comps));
        slots += n;
    }
    CoreSlots { groups, slots }
}

/// Lays out the accumulator slots and synapse rows of a sum-then-add configuration
/// (`comp_base[c]`: first global compartment of core `c`). Errors name a count that does not
/// fit in 32 bits.
pub(crate) fn sum_layout(
    config: &FlatChip,
    comp_base: &[usize],
    layout: &LayoutOverride,
    csr: bool,
) -> Result<SumLayout, &'static str> {
    let max_comp = config
        .cores()
        .iter()
        .map(|c| c.compartments().len())
        .max()
        .unwrap_or(0);
    let mut seen = vec![0u32; max_comp];
    let mut stamp = 0u32;
    let mut per_core = Vec::with_capacity(config.cores().len());
    let mut core_base = Vec::with_capacity(config.cores().len() + 1);
    let mut total = 0u64;
    // The slots split neurons' partial sums join, which may have no synapse of their own.
    let mut extra: Vec<Vec<(u16, u32)>> = vec![Vec::new(); config.cores().len()];
    for core in config.cores() {
        for comp in core.compartments() {
            if let Some(root) = comp.partial_of
                && let Some(e) = extra.get_mut(root.core as usize)
            {
                e.push((root.group, root.compartment));
            }
        }
    }
    for (core, extra) in config.cores().iter().zip(&extra) {
        let cs = core_slots(core, extra, &mut seen, &mut stamp);
        core_base.push(total as u32);
        total += u64::from(cs.slots);
        if total >= u64::from(NONE) {
            return Err("accumulator slots");
        }
        per_core.push(cs);
    }
    core_base.push(total as u32);

    // Compartment -> slots.
    let nc = *comp_base.last().unwrap_or(&0);
    let mut count = vec![0u32; nc + 1];
    for (c, cs) in per_core.iter().enumerate() {
        for (_, _, comps) in &cs.groups {
            for &k in comps {
                count[comp_base[c] + k as usize] += 1;
            }
        }
    }
    let mut comp_start = Vec::with_capacity(nc + 1);
    let mut acc = 0u32;
    for &n in &count[..nc] {
        comp_start.push(acc);
        acc += n;
    }
    comp_start.push(acc);
    let mut fill: Vec<u32> = comp_start[..nc].to_vec();
    let mut comp_slots = vec![(0u32, 0i32); acc as usize];
    for (c, (cs, core)) in per_core.iter().zip(config.cores()).enumerate() {
        for (g, first, comps) in &cs.groups {
            let e = core
                .group_exponents()
                .get(usize::from(*g))
                .copied()
                .unwrap_or(0);
            for (j, &k) in comps.iter().enumerate() {
                let gk = comp_base[c] + k as usize;
                comp_slots[fill[gk] as usize] = (core_base[c] + first + j as u32, e);
                fill[gk] += 1;
            }
        }
    }

    // The narrowest types: weights divided by the largest power of two dividing them all.
    let (mut ored, mut max_abs) = (0u32, 0i64);
    for core in config.cores() {
        for a in core.axons() {
            for s in a.synapses {
                ored |= s.weight.unsigned_abs();
                max_abs = max_abs.max(i64::from(s.weight).abs());
            }
        }
    }
    let scale = 1i64 << ored.trailing_zeros().min(31);
    let max_abs = match layout.min_weight_bytes {
        2 => (max_abs / scale).max(128),
        4 => (max_abs / scale).max(1 << 15),
        _ => max_abs / scale,
    };
    let u16_ok = !layout.wide_index && per_core.iter().all(|cs| cs.slots as usize <= U16_WINDOW);
    let (store, rows) = match (u16_ok, max_abs) {
        (true, ..=127) => {
            rows_typed::<u16, i8>(config, &per_core, scale, layout, csr, Store::U16I8)
        }
        (true, ..=32767) => {
            rows_typed::<u16, i16>(config, &per_core, scale, layout, csr, Store::U16I16)
        }
        (true, _) => rows_typed::<u16, i32>(config, &per_core, scale, layout, csr, Store::U16I32),
        (false, ..=127) => {
            rows_typed::<u32, i8>(config, &per_core, scale, layout, csr, Store::U32I8)
        }
        (false, ..=32767) => {
            rows_typed::<u32, i16>(config, &per_core, scale, layout, csr, Store::U32I16)
        }
        (false, _) => rows_typed::<u32, i32>(config, &per_core, scale, layout, csr, Store::U32I32),
    };
    let acc_len = total as usize + if u16_ok { U16_WINDOW } else { 0 };
    let log2 = scale.trailing_zeros() as i32;
    let mut blocks = Vec::new();
    let mut slot_comp = vec![0u32; total as usize];
    for (c, (cs, core)) in per_core.iter().zip(config.cores()).enumerate() {
        for (g, first, comps) in &cs.groups {
            let e = core
                .group_exponents()
                .get(usize::from(*g))
                .copied()
                .unwrap_or(0);
            let start = core_base[c] + first;
            blocks.push((start, start + comps.len() as u32, e + log2));
            for (i, &k) in comps.iter().enumerate() {
                slot_comp[start as usize + i] = (comp_base[c] + k as usize) as u32;
            }
        }
    }
    let groups = per_core
        .into_iter()
        .zip(&core_base)
        .map(|(cs, &base)| {
            cs.groups
                .into_iter()
                .map(|(g, first, comps)| (g, base + first, comps))
                .collect()
        })
        .collect();
    Ok(SumLayout {
        blocks,
        slot_comp,
        core_base,
        comp_start,
        comp_slots,
        acc_len,
        scale,
        rows,
        store,
        groups,
    })
}

/// Builds every core's rows into a [`Typed`] store. With `csr`, every row sparse and
/// [`Rows::Csr`] descriptors (the caller checks that the synapses fit in 32 bits).
fn rows_typed<I: Index, W: Weight>(
    config: &FlatChip,
    per_core: &[CoreSlots],
    scale: i64,
    layout: &LayoutOverride,
    csr: bool,
    wrap: fn(Typed<I, W>) -> Store,
) -> (Store, Rows) {
    let mut t = Typed::<I, W> {
        idx: Vec::new(),
        w: Vec::new(),
        dense: Vec::new(),
        fan_start: Vec::new(),
        fan_slot: Vec::new(),
        fan_w: Vec::new(),
        in_start: Vec::new(),
        in_slot: Vec::new(),
        in_w: Vec::new(),
    };
    let axons: usize = config.cores().iter().map(|c| c.n_axons()).sum();
    let mut rows = Vec::with_capacity(if csr { 0 } else { axons });
    let mut starts: Vec<u32> = Vec::with_capacity(if csr { axons + 1 } else { 0 });
    let mut axon_base: Vec<u32> =
        Vec::with_capacity(if csr { config.cores().len() + 1 } else { 0 });
    if csr {
        t.idx
            .reserve_exact(config.cores().iter().map(|c| c.n_synapses()).sum());
        t.w.reserve_exact(t.idx.capacity());
    }
    // Every weight is a multiple of `scale`, a power of two: a shift divides exactly.
    let sh = scale.trailing_zeros();
    // Local slot of (group index, compartment): a table when small, else a binary search.
    let mut table: Vec<u32> = Vec::new();
    let mut gindex = vec![NONE; 1 << 16];
    let mut slots: Vec<u32> = Vec::new();
    let mut cells: Vec<i64> = Vec::new();
    // Dense rows by a hash of their cells: a row whose cells equal an earlier one's (any core,
    // any offset) reads that one's copy. A conv layer repeats one kernel row for every source
    // of a pooling window and every interior position: the paper conv net's 30 MB of rows
    // become a few hundred kB, which stay in the caches.
    let mut dense_at: rustc_hash::FxHashMap<u64, Vec<usize>> = Default::default();
    for (c, (core, cs)) in config.cores().iter().zip(per_core).enumerate() {
        if csr {
            axon_base.push(starts.len() as u32);
        }
        let n = core.compartments().len();
        for (j, (g, ..)) in cs.groups.iter().enumerate() {
            gindex[usize::from(*g)] = j as u32;
        }
        let use_table = cs.groups.len().saturating_mul(n) <= 1 << 24;
        if use_table {
            table.clear();
            table.resize(cs.groups.len() * n, NONE);
            for (j, (_, first, comps)) in cs.groups.iter().enumerate() {
                for (i, &k) in comps.iter().enumerate() {
                    table[j * n + k as usize] = first + i as u32;
                }
            }
        }
        let slot_of = |j: usize, k: u32| -> u32 {
            if use_table {
                table[j * n + k as usize]
            } else {
                let (_, first, comps) = &cs.groups[j];
                first + comps.binary_search(&k).unwrap_or(0) as u32
            }
        };
        for axon in core.axons() {
            let len = axon.synapses.len();
            let j = gindex[usize::from(axon.group)] as usize;
            if csr {
                // Every row sparse: straight into the store (big sparse chips).
                starts.push(t.w.len() as u32);
                for s in axon.synapses {
                    let slot = slot_of(j, s.compartment);
                    t.idx.push(I::narrow(slot).expect("fits the index type"));
                    t.w.push(W::narrow(i64::from(s.weight) >> sh).expect("fits the weight type"));
                }
                continue;
            }
            slots.clear();
            slots.extend(axon.synapses.iter().map(|s| slot_of(j, s.compartment)));
            let (lo, hi) = slots
                .iter()
                .fold((u32::MAX, 0u32), |(lo, hi), &s| (lo.min(s), hi.max(s)));
            let span = if len == 0 { 0 } else { u64::from(hi - lo) + 1 };
            let mut dense = !csr
                && !layout.no_dense
                && len >= DENSE_MIN_LEN
                && span <= DENSE_SPAN_FACTOR * len as u64;
            if dense {
                cells.clear();
                cells.resize(span as usize, 0);
                for (s, &slot) in axon.synapses.iter().zip(&slots) {
                    cells[(slot - lo) as usize] += i64::from(s.weight) >> sh;
                }
                dense = cells.iter().all(|&x| W::narrow(x).is_some());
            }
            if dense {
                let key = {
                    use std::hash::{Hash, Hasher};
                    let mut h = rustc_hash::FxHasher::default();
                    cells.hash(&mut h);
                    h.finish()
                };
                let same = |&at: &usize| {
                    t.dense.get(at..at + cells.len()).is_some_and(|stored| {
                        stored.iter().zip(&cells).all(|(w, &x)| w.wide() == x)
                    })
                };
                let earlier = if layout.unshared_rows {
                    None
                } else {
                    dense_at
                        .get(&key)
                        .and_then(|at| at.iter().copied().find(same))
                };
                let start = match earlier {
                    Some(at) => at,
                    None => {
                        let at = t.dense.len();
                        t.dense
                            .extend(cells.iter().map(|&x| W::narrow(x).expect("checked")));
                        dense_at.entry(key).or_default().push(at);
                        at
                    }
                };
                rows.push(Row {
                    start,
                    span: span as u32,
                    len: len as u32,
                    lo,
                    core: c as u32,
                });
            } else {
                if csr {
                    starts.push(t.w.len() as u32);
                } else {
                    rows.push(Row {
                        start: t.w.len(),
                        span: len as u32,
                        len: len as u32,
                        lo: NONE,
                        core: c as u32,
                    });
                }
                t.idx.extend(
                    slots
                        .iter()
                        .map(|&s| I::narrow(s).expect("fits the index type")),
                );
                t.w.extend(
                    axon.synapses.iter().map(|s| {
                        W::narrow(i64::from(s.weight) >> sh).expect("fits the weight type")
                    }),
                );
            }
        }
        for (g, ..) in &cs.groups {
            gindex[usize::from(*g)] = NONE;
        }
    }
    let rows = if csr {
        starts.push(t.w.len() as u32);
        axon_base.push(starts.len() as u32 - 1);
        Rows::Csr {
            start: starts,
            axon_base,
        }
    } else {
        Rows::Full(rows)
    };
    (wrap(t), rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The staged fan-out lists equal the lists read compartment by compartment (each axon
    /// of its fan-out in ascending order, the axon's row, dense rows without zero cells),
    /// whatever the number of flushes; an axon reached twice gives no lists.
    #[test]
    fn staged_fan_lists_equal_the_lists_read_per_compartment() {
        let mut rng = SmallRng::seed_from_u64(7);
        let (cores, axons_per_core, comps) = (5u32, 60usize, 37usize);
        let axons = cores as usize * axons_per_core;
        let mut t = Typed::<u16, i8>::default();
        let mut rows = Vec::new();
        for a in 0..axons {
            let core = (a / axons_per_core) as u32;
            if rng.random_bool(0.3) {
                let (lo, span) = (rng.random_range(0..20u32), rng.random_range(0..6u32));
                let start = t.dense.len();
                t.dense
                    .extend((0..span).map(|_| rng.random_range(-2i8..=2)));
                let len = t.dense[start..].iter().filter(|&&w| w != 0).count() as u32;
                rows.push(Row {
                    start,
                    span,
                    len,
                    lo,
                    core,
                });
            } else {
                let span = rng.random_range(0..4u32);
                let start = t.idx.len();
                t.idx.extend((0..span).map(|_| rng.random_range(0..50u16)));
                t.w.extend((0..span).map(|_| rng.random_range(-100i8..100)));
                rows.push(Row {
                    start,
                    span,
                    len: span,
                    lo: NONE,
                    core,
                });
            }
        }
        // Each axon goes to at most one compartment; each fan-out ascending.
        let mut fans = vec![Vec::new(); comps];
        for a in 0..axons as u32 {
            if rng.random_bool(0.8) {
                fans[rng.random_range(0..comps)].push(a);
            }
        }
        let mut fan_start = vec![0];
        let mut fan_axon = Vec::new();
        for fan in &fans {
            fan_axon.extend(fan);
            fan_start.push(fan_axon.len());
        }
        let core_base: Vec<u32> = (0..cores).map(|c| 1000 * c).collect();
        let rows = Rows::Full(rows);
        let mut want_start = vec![0usize];
        let (mut want_slot, mut want_w) = (Vec::new(), Vec::new());
        for fan in &fans {
            for &a in fan {
                let r = rows.get(a as usize);
                let (lo, hi) = (r.start, r.start + r.span as usize);
                let base = core_base[r.core as usize];
                if r.lo == NONE {
                    want_slot.extend(t.idx[lo..hi].iter().map(|&i| base + u32::from(i)));
                    want_w.extend(&t.w[lo..hi]);
                } else {
                    for (j, &w) in t.dense[lo..hi].iter().enumerate() {
                        if w != 0 {
                            want_slot.push(base + r.lo + j as u32);
                            want_w.push(w);
                        }
                    }
                }
            }
            want_start.push(want_slot.len());
        }
        let input = |fan_axon| FanInput {
            rows: &rows,
            row_kind: &[],
            core_base: &core_base,
            fan_start: &fan_start,
            fan_axon,
            limit: u64::MAX,
        };
        // One thread writes all lists; more write two halves side by side.
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            for stage in [1, 7, 100, FAN_STAGE] {
                let mut got = t.clone();
                let counts = pool.install(|| got.build_fan(&input(&fan_axon), stage));
                let at = format!("{threads} threads, stage {stage}");
                assert!(counts.is_some(), "{at}");
                assert_eq!(got.fan_start, want_start, "{at}");
                assert_eq!(got.fan_slot, want_slot, "{at}");
                assert_eq!(got.fan_w, want_w, "{at}");
            }
        }
        // An axon in two fan-outs (the last axon of the first non-empty list, again at the
        // end of the last one's).
        let twice = fans.iter().flatten().next().copied().unwrap_or(0);
        let mut shared = fan_axon.clone();
        shared.push(twice);
        let mut shared_start = fan_start.clone();
        if let Some(last) = shared_start.last_mut() {
            *last += 1;
        }
        for stage in [1, FAN_STAGE] {
            let f = FanInput {
                fan_start: &shared_start,
                ..input(&shared)
            };
            assert!(t.clone().build_fan(&f, stage).is_none(), "stage {stage}");
        }
    }

    /// The 4-byte descriptors give each row its start, length and core, cores without axons
    /// included, the same whether looked up one by one or walked in order.
    #[test]
    fn csr_rows_name_their_store_range_and_core() {
        // Cores 0 and 2 have no axons; core 1 has rows of 2, 0 and 3 entries; core 3 one of 1.
        let rows = Rows::Csr {
            start: vec![0, 2, 2, 5, 6],
            axon_base: vec![0, 0, 3, 3, 4],
        };
        let want = [(0, 2, 1), (2, 0, 1), (2, 3, 1), (5, 1, 3)];
        assert_eq!(rows.len(), want.len());
        let walked: Vec<Row> = rows.iter().collect();
        for (a, &(start, len, core)) in want.iter().enumerate() {
            for r in [rows.get(a), walked[a]] {
                assert_eq!(
                    (r.start, r.span, r.len, r.lo, r.core),
                    (start, len, len, NONE, core),
                    "row {a}"
                );
            }
        }
    }
}
