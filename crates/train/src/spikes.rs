//! The fast engine of float spiking evaluation: population by population, image by image,
//! with spikes kept as event lists.
//!
//! The net is feed-forward, so a population's spike train over the whole presentation depends
//! only on the trains of its sources: each population is simulated for every image and step
//! of a chunk before the next one starts. Per image, its state (a few floats per neuron) stays
//! in cache for all steps; dense projections are cut into tiles of [`TILE_BYTES`] of weights
//! (repacked contiguously in register blocks of [`BLOCK`] outputs) that stay in cache while
//! every image of the chunk runs through them, so a large weight matrix is read once per chunk
//! instead of once per step and image. A population's step (synapse filter, bias, LIF) runs
//! 64 neurons at a time without branches; only the few that spike or end a refractory period
//! take a scalar path.
//! Image-driven populations whose constant current can never reach the threshold are not
//! simulated (they never spike).
//!
//! Every neuron sees exactly the floating-point operations of the step-by-step reference
//! (`eval::simulate_chunk`): the same products added in the same order (ascending input
//! index, from 0), the same filter, bias and LIF arithmetic; only which zeros are skipped and
//! where the loops run differ. Results are therefore bit-identical, which
//! `eval::tests::fast_engine_is_bit_identical_to_the_reference` checks.

use ndarray::Array2;

use crate::aligned::Aligned;
use crate::eval::{ChunkResult, SpikingConfig, SpikingNode, Synapse, lif_step};
use crate::graph::{Graph, Source};
use crate::kernels::{ConvGeom, Kernel, PoolGeom};
use crate::model::argmax;

/// Outputs per register block of a dense projection (the accumulators stay in registers).
const BLOCK: usize = 64;

/// Bytes of dense weights per tile: a tile's weights stay in L2 while every image of the
/// chunk runs through it.
const TILE_BYTES: usize = 1024 * 1024;

/// Spikes of one population for every (image, step) slot of a chunk.
struct Events {
    /// Slot `b * steps + t` holds `idx[offsets[slot]..offsets[slot + 1]]`, ascending.
    offsets: Vec<usize>,
    idx: Vec<u32>,
}

impl Events {
    fn new() -> Events {
        Events {
            offsets: vec![0],
            idx: Vec::new(),
        }
    }

    fn slot(&self, slot: usize) -> &[u32] {
        match (self.offsets.get(slot), self.offsets.get(slot + 1)) {
            (Some(&a), Some(&b)) => &self.idx[a..b],
            _ => &[],
        }
    }

    fn close_slot(&mut self) {
        self.offsets.push(self.idx.len());
    }
}

/// The non-zero inputs of a projection's weight op for every slot: index and value.
struct Valued {
    offsets: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Valued {
    fn slot(&self, slot: usize) -> (&[u32], &[f32]) {
        match (self.offsets.get(slot), self.offsets.get(slot + 1)) {
            (Some(&a), Some(&b)) => (&self.idx[a..b], &self.val[a..b]),
            _ => (&[], &[]),
        }
    }
}

/// Average pooling of spikes: which pooled cells each input neuron falls in.
struct PoolMap {
    /// `1 / (kh * kw)`, as the reference computes it.
    scale: f32,
    out_size: usize,
    offsets: Vec<usize>,
    cells: Vec<u32>,
    /// When no input falls in two cells (windows that do not overlap): each input's cell,
    /// or [`NO_CELL`]; else empty.
    single: Vec<u32>,
}

/// [`PoolMap::single`] of an input in no cell.
const NO_CELL: u32 = u32::MAX;

impl PoolMap {
    fn new(g: &PoolGeom) -> PoolMap {
        let mut lists = vec![Vec::new(); g.in_size()];
        for c in 0..g.c {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let cell = ((c * g.oh + oy) * g.ow + ox) as u32;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let i = (c * g.ih + oy * g.sh + ky) * g.iw + ox * g.sw + kx;
                            lists[i].push(cell);
                        }
                    }
                }
            }
        }
        let single = if lists.iter().all(|l| l.len() <= 1) {
            lists
                .iter()
                .map(|l| l.first().copied().unwrap_or(NO_CELL))
                .collect()
        } else {
            Vec::new()
        };
        let mut offsets = vec![0];
        let mut cells = Vec::new();
        for l in lists {
            cells.extend(l);
            offsets.push(cells.len());
        }
        PoolMap {
            scale: 1.0 / (g.kh * g.kw) as f32,
            out_size: g.out_size(),
            offsets,
            cells,
            single,
        }
    }
}

/// The weight op ending a projection.
enum Weights {
    /// Outputs in register blocks of [`BLOCK`] (the last may be narrower); the weights of the
    /// block starting at output `o` are `[inputs, width]` at `o * inputs` in `packed`.
    Dense {
        inputs: usize,
        outputs: usize,
        packed: Aligned,
    },
    /// `wt` is `[ic * kh * kw, oc]`; `taps` lists, for each input pixel `(iy, ix)`, the output
    /// positions it reaches and the weight row `ky * kw + kx` (of its channel) that carries
    /// it there, scaled by `oc`.
    Conv {
        g: ConvGeom,
        wt: Aligned,
        tap_offsets: Vec<usize>,
        taps: Vec<(u32, u32)>,
        /// How [`conv_gather`] runs it, or `None` where it does not apply; then
        /// [`conv_scatter`] runs.
        gather: Option<Gather>,
    },
}

impl Weights {
    fn inputs(&self) -> usize {
        match self {
            Weights::Dense { inputs, .. } => *inputs,
            Weights::Conv { g, .. } => g.in_size(),
        }
    }

    fn outputs(&self) -> usize {
        match self {
            Weights::Dense { outputs, .. } => *outputs,
            Weights::Conv { g, .. } => g.oc * g.positions(),
        }
    }
}

/// A projection from spikes: optional pooling of the spikes, then one dense or conv op.
struct Chain {
    source: usize,
    /// `amplitude / dt` of the source population.
    scale: f32,
    pool: Option<PoolMap>,
    weights: Weights,
}

/// How the fast engine runs a net; `None` from [`Plan::new`] means the reference engine
/// must (a projection it does not handle, such as a sparse synapse list).
pub(crate) struct Plan {
    /// Per node: its projections from other populations.
    chains: Vec<Vec<Chain>>,
    /// Per node: neuron ranges simulated one after the other (whole register blocks).
    tiles: Vec<Vec<(usize, usize)>>,
}

impl Plan {
    pub(crate) fn new(graph: &Graph, nodes: &[SpikingNode], dt: f32) -> Option<Plan> {
        let mut chains = Vec::with_capacity(graph.nodes.len());
        let mut tiles = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let incoming: Vec<(usize, &[Kernel])> = node
                .edges
                .iter()
                .filter_map(|e| match e.source {
                    Source::Node(s) => Some((s, e.kernels.as_slice())),
                    Source::Input => None,
                })
                .collect();
            let mut list = Vec::with_capacity(incoming.len());
            for (s, kernels) in incoming {
                let source = nodes.get(s)?;
                let chain =
                    Chain::new(s, source.amplitude / dt, graph.nodes.get(s)?.size, kernels)?;
                if chain.weights.outputs() != node.size {
                    return None;
                }
                list.push(chain);
            }
            tiles.push(match list.as_slice() {
                // One dense projection: tiles whose weights fit in L2 (whole blocks).
                [
                    Chain {
                        weights:
                            Weights::Dense {
                                inputs, outputs, ..
                            },
                        ..
                    },
                ] => {
                    let width = (TILE_BYTES / (4 * (*inputs).max(1)) / BLOCK * BLOCK).max(BLOCK);
                    (0..*outputs)
                        .step_by(width)
                        .map(|o| (o, width.min(outputs - o)))
                        .collect()
                }
                _ => vec![(0, node.size)],
            });
            chains.push(list);
        }
        Some(Plan { chains, tiles })
    }
}

impl Chain {
    fn new(source: usize, scale: f32, source_size: usize, kernels: &[Kernel]) -> Option<Chain> {
        let mut pool = None;
        let mut weights = None;
        let mut size = source_size;
        for k in kernels {
            match k {
                Kernel::Flatten => {}
                Kernel::Pool(g) if pool.is_none() && weights.is_none() => {
                    if g.in_size() != size {
                        return None;
                    }
                    size = g.out_size();
                    pool = Some(PoolMap::new(g));
                }
                Kernel::Dense { w } if weights.is_none() => {
                    if w.ncols() != size {
                        return None;
                    }
                    let (outputs, inputs) = w.dim();
                    let mut packed = Vec::with_capacity(inputs * outputs);
                    for first in (0..outputs).step_by(BLOCK) {
                        let width = BLOCK.min(outputs - first);
                        for i in 0..inputs {
                            packed.extend((first..first + width).map(|o| w[[o, i]]));
                        }
                    }
                    size = outputs;
                    weights = Some(Weights::Dense {
                        inputs,
                        outputs,
                        packed: Aligned::from_slice(&packed),
                    });
                }
                Kernel::Conv { w, g } if weights.is_none() => {
                    // Positions and weight rows are kept as `u32` offsets times `oc`.
                    if g.in_size() != size
                        || w.dim() != (g.oc, g.patch())
                        || u32::try_from(g.kh * g.kw * g.oc).is_err()
                    {
                        return None;
                    }
                    let wt: Vec<f32> = w.t().iter().copied().collect();
                    let wt = Aligned::from_slice(&wt);
                    let mut tap_offsets = vec![0];
                    let mut taps = Vec::new();
                    for iy in 0..g.ih {
                        for ix in 0..g.iw {
                            for ky in 0..g.kh {
                                let Some(ny) = (iy + g.ph).checked_sub(ky) else {
                                    continue;
                                };
                                if ny % g.sh != 0 || ny / g.sh >= g.oh {
                                    continue;
                                }
                                for kx in 0..g.kw {
                                    let Some(nx) = (ix + g.pw).checked_sub(kx) else {
                                        continue;
                                    };
                                    if nx % g.sw != 0 || nx / g.sw >= g.ow {
                                        continue;
                                    }
                                    let pos = (ny / g.sh) * g.ow + nx / g.sw;
                                    let tap = ky * g.kw + kx;
                                    taps.push(((pos * g.oc) as u32, (tap * g.oc) as u32));
                                }
                            }
                            tap_offsets.push(taps.len());
                        }
                    }
                    size = g.oc * g.positions();
                    let gather = Gather::new(g, &tap_offsets, &taps);
                    weights = Some(Weights::Conv {
                        g: *g,
                        wt,
                        tap_offsets,
                        taps,
                        gather,
                    });
                }
                _ => return None,
            }
        }
        let weights = weights?;
        if weights.inputs() != pool.as_ref().map_or(source_size, |p| p.out_size)
            || u32::try_from(weights.inputs().max(source_size).max(weights.outputs())).is_err()
        {
            return None;
        }
        Some(Chain {
            source,
            scale,
            pool,
            weights,
        })
    }

    /// The weight op's non-zero inputs for every slot: the spikes (value 1), or the pooled
    /// spike counts times `1 / (kh * kw)` — exactly the reference's average of 0s and 1s.
    fn inputs(&self, spikes: &Events, slots: usize) -> Valued {
        let mut out = Valued {
            offsets: Vec::with_capacity(slots + 1),
            idx: Vec::with_capacity(spikes.idx.len()),
            val: Vec::with_capacity(spikes.idx.len()),
        };
        out.offsets.push(0);
        let cells = self.pool.as_ref().map_or(0, |p| p.out_size);
        let mut counts = vec![0u32; cells];
        // Touched cells as bits: reading the words back gives them in ascending order
        // without a sort.
        let mut touched = vec![0u64; cells.div_ceil(64)];
        for slot in 0..slots {
            let events = spikes.slot(slot);
            match &self.pool {
                None => {
                    out.idx.extend_from_slice(events);
                    out.val.resize(out.idx.len(), 1.0);
                }
                Some(p) => {
                    let (mut lo, mut hi) = (usize::MAX, 0);
                    let mut add = |cell: usize| {
                        touched[cell / 64] |= 1 << (cell % 64);
                        lo = lo.min(cell / 64);
                        hi = hi.max(cell / 64);
                        counts[cell] += 1;
                    };
                    if p.single.is_empty() {
                        for &i in events {
                            let i = i as usize;
                            for &cell in &p.cells[p.offsets[i]..p.offsets[i + 1]] {
                                add(cell as usize);
                            }
                        }
                    } else {
                        // One cell at most per input: no list to walk.
                        for &i in events {
                            match p.single[i as usize] {
                                NO_CELL => {}
                                cell => add(cell as usize),
                            }
                        }
                    }
                    for w in lo..touched.len().min(hi + 1) {
                        let mut m = std::mem::take(&mut touched[w]);
                        while m != 0 {
                            let cell = w * 64 + m.trailing_zeros() as usize;
                            m &= m - 1;
                            let n = std::mem::take(&mut counts[cell]);
                            out.idx.push(cell as u32);
                            out.val.push(n as f32 * p.scale);
                        }
                    }
                }
            }
            out.offsets.push(out.idx.len());
        }
        out
    }
}

lifchip_simd::multiversion! {
    /// `y = op(inputs)` on outputs `first..first + width` of a dense op (`first` starts a
    /// block; `width` ends at a block's end). Each output is `0 + v_1 w_1 + v_2 w_2 + ...`
    /// over the non-zero inputs in ascending order, as in the reference; a block's
    /// accumulators stay in registers. Compiled for SSE2, AVX2 and AVX-512 (a multiply then
    /// an add per lane at every width, so the same bits).
    fn dense_range<>(
        inputs: usize,
        packed: &[f32],
        first: usize,
        width: usize,
        idx: &[u32],
        val: &[f32],
        y: &mut [f32],
    ) => dense_range_generic
}

#[inline(always)]
fn dense_range_generic(
    inputs: usize,
    packed: &[f32],
    first: usize,
    width: usize,
    idx: &[u32],
    val: &[f32],
    y: &mut [f32],
) {
    let end = first + width;
    let mut o = first;
    while o < end {
        let bw = BLOCK.min(end - o);
        let w = &packed[o * inputs..(o + bw) * inputs];
        let yb = &mut y[o - first..o - first + bw];
        if bw == BLOCK {
            let mut acc = [0.0f32; BLOCK];
            for (&i, &v) in idx.iter().zip(val) {
                let i = i as usize;
                let row = &w[i * BLOCK..(i + 1) * BLOCK];
                for (a, &wk) in acc.iter_mut().zip(row) {
                    *a += v * wk;
                }
            }
            yb.copy_from_slice(&acc);
        } else {
            yb.fill(0.0);
            for (&i, &v) in idx.iter().zip(val) {
                let i = i as usize;
                for (a, &wk) in yb.iter_mut().zip(&w[i * bw..(i + 1) * bw]) {
                    *a += v * wk;
                }
            }
        }
        o += bw;
    }
}

lifchip_simd::multiversion! {
    /// Event-driven convolution into `y`, position-major (`[positions, oc]`): each input, in
    /// ascending order, adds `v * w` to the channel rows of the positions it reaches, so
    /// every output is `0 + v_1 w_1 + v_2 w_2 + ...` over its inputs in ascending order, as
    /// in the reference (an input reaches a position through one tap only). The rows of `y`
    /// stay in L1, and so do the weight rows of one input channel while its inputs (adjacent
    /// in the list) pass. Compiled for SSE2, AVX2 and AVX-512 (the same operations per lane).
    fn conv_scatter<>(
        g: &ConvGeom,
        wt: &[f32],
        tap_offsets: &[usize],
        taps: &[(u32, u32)],
        idx: &[u32],
        val: &[f32],
        y: &mut [f32],
    ) => conv_scatter_generic
}

#[inline(always)]
fn conv_scatter_generic(
    g: &ConvGeom,
    wt: &[f32],
    tap_offsets: &[usize],
    taps: &[(u32, u32)],
    idx: &[u32],
    val: &[f32],
    y: &mut [f32],
) {
    y.fill(0.0);
    // Channel counts of whole vectors get fixed-size rows (no loop or remainder per entry).
    match g.oc {
        16 => scatter_rows::<16>(g, wt, tap_offsets, taps, idx, val, y),
        32 => scatter_rows::<32>(g, wt, tap_offsets, taps, idx, val, y),
        64 => scatter_rows::<64>(g, wt, tap_offsets, taps, idx, val, y),
        128 => scatter_rows::<128>(g, wt, tap_offsets, taps, idx, val, y),
        _ => scatter_rows::<0>(g, wt, tap_offsets, taps, idx, val, y),
    }
}

/// The body of [`conv_scatter`] for `OC` channels (`0`: any count, `g.oc`).
#[inline(always)]
fn scatter_rows<const OC: usize>(
    g: &ConvGeom,
    wt: &[f32],
    tap_offsets: &[usize],
    taps: &[(u32, u32)],
    idx: &[u32],
    val: &[f32],
    y: &mut [f32],
) {
    let oc = if OC == 0 { g.oc } else { OC };
    let hw = g.ih * g.iw;
    let channel = g.kh * g.kw * oc;
    for (&i, &v) in idx.iter().zip(val) {
        let (c, sp) = (i as usize / hw, i as usize % hw);
        let w = &wt[c * channel..(c + 1) * channel];
        for &(at, row) in &taps[tap_offsets[sp]..tap_offsets[sp + 1]] {
            let (at, row) = (at as usize, row as usize);
            for (a, &wk) in y[at..at + oc].iter_mut().zip(&w[row..row + oc]) {
                *a += v * wk;
            }
        }
    }
}

/// Bytes of [`conv_gather`]'s entry lists at most (8 per entry, room for every tap of every
/// position of a channel group): input channels are taken in groups that fit.
const LIST_BYTES: usize = 256 * 1024;

/// How [`conv_gather`] runs a conv.
struct Gather {
    /// Input channels per pass.
    group: usize,
    /// `taps[tap_offsets[iy * iw + ix]..]`: the output positions input pixel `(iy, ix)`
    /// reaches and the weight row offset `(ky kw + kx) oc` (of its channel) that carries it
    /// there.
    tap_offsets: Vec<usize>,
    taps: Vec<(u32, u32)>,
}

impl Gather {
    /// `None` when the gather does not apply: the channel count must be a multiple of 16
    /// (whole register blocks).
    fn new(g: &ConvGeom, tap_offsets: &[usize], taps: &[(u32, u32)]) -> Option<Gather> {
        if !g.oc.is_multiple_of(16) || u32::try_from(g.patch() * g.oc).is_err() {
            return None;
        }
        let group = (LIST_BYTES / (8 * g.positions() * g.kh * g.kw)).clamp(1, g.ic);
        let taps = taps
            .iter()
            .map(|&(at, row)| (at / g.oc as u32, row))
            .collect();
        Some(Gather {
            group,
            tap_offsets: tap_offsets.to_vec(),
            taps,
        })
    }
}

/// Per-call buffers of the weight ops.
#[derive(Default)]
struct Scratch {
    /// A conv's outputs position-major, before they are moved to neuron order.
    rows: Vec<f32>,
    /// [`conv_gather`]: where each input channel starts in the input list.
    starts: Vec<usize>,
    /// [`conv_gather`]: where each position's next entry goes in `list`.
    heads: Vec<usize>,
    /// [`conv_gather`]: per position, its entries (weight row offset and value) in
    /// ascending input order.
    list: Vec<u64>,
}

lifchip_simd::multiversion! {
    /// Event-driven convolution into `y`, position-major (`[positions, oc]`), by gathering:
    /// for each group of input channels (ascending), the group's inputs (a run of the
    /// ascending input list) are listed per output position they reach, in ascending order
    /// (8 bytes per entry: the weight row and the value), then each position's `v * w` are
    /// added to its channel row held in registers, loaded (after the first group) and stored
    /// once per group. Every output is therefore `0 + v_1 w_1 + v_2 w_2 + ...` over its
    /// inputs in ascending order, as in [`conv_scatter`] and the reference, with one store
    /// of a row per position and group instead of one per input reaching it: the scatter is
    /// bound by those stores, this by reading the weight rows. Compiled for SSE2, AVX2 and
    /// AVX-512 (the same operations per lane).
    #[allow(clippy::too_many_arguments)]
    fn conv_gather<>(
        g: &ConvGeom,
        wt: &[f32],
        plan: &Gather,
        idx: &[u32],
        val: &[f32],
        s: &mut Scratch,
        y: &mut [f32],
    ) => conv_gather_generic
}

#[inline(always)]
fn conv_gather_generic(
    g: &ConvGeom,
    wt: &[f32],
    plan: &Gather,
    idx: &[u32],
    val: &[f32],
    s: &mut Scratch,
    y: &mut [f32],
) {
    if idx.is_empty() {
        y.fill(0.0);
        return;
    }
    let hw = g.ih * g.iw;
    s.starts.resize(g.ic + 1, 0);
    let mut k = 0;
    for (c, start) in s.starts.iter_mut().enumerate() {
        while k < idx.len() && (idx[k] as usize) < c * hw {
            k += 1;
        }
        *start = k;
    }
    s.heads.resize(g.positions(), 0);
    // Register blocks of 64 channels where they divide the count, else 32 or 16.
    if g.oc.is_multiple_of(64) {
        gather_rows::<64>(g, wt, plan, idx, val, s, y);
    } else if g.oc.is_multiple_of(32) {
        gather_rows::<32>(g, wt, plan, idx, val, s, y);
    } else {
        gather_rows::<16>(g, wt, plan, idx, val, s, y);
    }
}

/// The body of [`conv_gather`], in register blocks of `B` output channels.
#[inline(always)]
fn gather_rows<const B: usize>(
    g: &ConvGeom,
    wt: &[f32],
    plan: &Gather,
    idx: &[u32],
    val: &[f32],
    s: &mut Scratch,
    y: &mut [f32],
) {
    let oc = g.oc;
    let hw = g.ih * g.iw;
    let channel = g.kh * g.kw * oc;
    let Scratch {
        starts,
        heads,
        list,
        ..
    } = s;
    // Until a group has run, `y` holds no sums: rows start from zero, not from `y`.
    let mut first = true;
    for c0 in (0..g.ic).step_by(plan.group) {
        let c1 = (c0 + plan.group).min(g.ic);
        let inputs = starts[c1] - starts[c0];
        if inputs == 0 {
            continue;
        }
        // An input reaches a position through one tap at most.
        let cap = inputs.min((c1 - c0) * g.kh * g.kw);
        // Position `pos`'s entries go to `list[pos * cap..]`, as row offset | value bits << 32.
        list.resize(heads.len() * cap, 0);
        for (pos, head) in heads.iter_mut().enumerate() {
            *head = pos * cap;
        }
        for c in c0..c1 {
            let (a, b) = (starts[c], starts[c + 1]);
            let base = c * channel;
            for (&i, &v) in idx[a..b].iter().zip(&val[a..b]) {
                let sp = i as usize - c * hw;
                let v = u64::from(v.to_bits()) << 32;
                for &(pos, row) in &plan.taps[plan.tap_offsets[sp]..plan.tap_offsets[sp + 1]] {
                    let head = &mut heads[pos as usize];
                    list[*head] = v | (base + row as usize) as u64;
                    *head += 1;
                }
            }
        }
        for (pos, &head) in heads.iter().enumerate() {
            let entries = &list[pos * cap..head];
            let at = pos * oc;
            if entries.is_empty() {
                if first {
                    y[at..at + oc].fill(0.0);
                }
                continue;
            }
            for ob in (0..oc).step_by(B) {
                let row = &mut y[at + ob..at + ob + B];
                let mut acc = [0.0f32; B];
                if !first {
                    acc.copy_from_slice(row);
                }
                for &e in entries {
                    let (w, v) = (e as u32 as usize + ob, f32::from_bits((e >> 32) as u32));
                    for (a, &wk) in acc.iter_mut().zip(&wt[w..w + B]) {
                        *a += v * wk;
                    }
                }
                row.copy_from_slice(&acc);
            }
        }
        first = false;
    }
    if first {
        y.fill(0.0);
    }
}

/// The LIF constants of one population.
#[derive(Clone, Copy)]
struct Lif {
    gain: f32,
    full: f32,
    dt: f32,
    tau_rc: f32,
    tau_ref: f32,
}

impl Lif {
    fn new(p: &SpikingNode, dt: f32) -> Lif {
        Lif {
            gain: p.gain,
            full: p.full_decay,
            dt,
            tau_rc: p.tau_rc,
            tau_ref: p.tau_ref,
        }
    }
}

/// What [`lif_tile`] turns into each neuron's input `x` (`J = gain x + 1`), by `MODE`:
/// [`CONSTANT`]: `x = y`; [`ONE`]: `x = filter(0 + scale y) + bias`; [`MORE`]:
/// `x = filter(pre + scale y) + bias` — the reference's `u` (zeroed, then each projection's
/// `scale y` added in order), its synapse filter and bias.
struct StepIn<'a> {
    pre: &'a [f32],
    y: &'a [f32],
    scale: f32,
    bias: &'a [f32],
    /// The filter's `a` (`ORDER` stages).
    a: f32,
}

const CONSTANT: u8 = 0;
const ONE: u8 = 1;
const MORE: u8 = 2;

/// The neuron index reported for tile lane `k`.
#[derive(Clone, Copy)]
enum Ids<'a> {
    Offset(u32),
    Map(&'a [u32]),
}

impl Ids<'_> {
    #[inline(always)]
    fn get(self, k: usize) -> u32 {
        match self {
            Ids::Offset(first) => first + k as u32,
            Ids::Map(m) => m[k],
        }
    }
}

lifchip_simd::multiversion! {
    /// One step of a tile of neurons: the input (`MODE`, see [`StepIn`]) through `ORDER`
    /// filter stages (`s1`, `s2`), then the step of [`crate::eval::lif_population`] (the
    /// same operations on every neuron), appending the index of each neuron that spikes to
    /// `out` (ascending lane order). Lanes run 64 at a time without branches; two bit masks
    /// mark the few above threshold and those ending a refractory period, and only those
    /// take the scalar path (libm's `log1pf`/`expm1f`). Compiled for SSE2, AVX2 and AVX-512 (the
    /// same operations per lane).
    #[allow(clippy::too_many_arguments)]
    fn lif_tile<const MODE: u8, const ORDER: usize>(
        lif: &Lif,
        inp: &StepIn<'_>,
        s1: &mut [f32],
        s2: &mut [f32],
        v: &mut [f32],
        r: &mut [f32],
        ids: Ids<'_>,
        out: &mut Vec<u32>,
    ) -> usize => lif_tile_generic
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lif_tile_generic<const MODE: u8, const ORDER: usize>(
    lif: &Lif,
    inp: &StepIn<'_>,
    s1: &mut [f32],
    s2: &mut [f32],
    v: &mut [f32],
    r: &mut [f32],
    ids: Ids<'_>,
    out: &mut Vec<u32>,
) -> usize {
    let before = out.len();
    let n = v.len().min(r.len()).min(inp.y.len());
    let mut k0 = 0;
    while k0 < n {
        let len = (n - k0).min(64);
        let mut j = [0.0f32; 64];
        // A constant trip count for full groups lets the lanes vectorise completely.
        let (partial, over) = if len == 64 {
            lanes::<MODE, ORDER>(lif, inp, k0, 64, s1, s2, v, r, &mut j)
        } else {
            lanes::<MODE, ORDER>(lif, inp, k0, len, s1, s2, v, r, &mut j)
        };
        // The reference's second loop for the marked neurons, by kind (no branch on the
        // kind per neuron). Above threshold: the spike's exact time and refractory period.
        let mut spiked = over;
        let mut m = over;
        while m != 0 {
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            let (Some(vk), Some(rk), Some(&jk)) = (v.get_mut(k0 + b), r.get_mut(k0 + b), j.get(b))
            else {
                continue;
            };
            let t_spike = lif.dt + lif.tau_rc * (-(*vk - 1.0) / (jk - 1.0)).ln_1p();
            *vk = 0.0;
            *rk = lif.tau_ref + t_spike;
        }
        // Ending a refractory period: the step rerun exactly (partial decay, maybe a spike).
        let mut m = partial;
        while m != 0 {
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            let (Some(vk), Some(rk), Some(&jk)) = (v.get_mut(k0 + b), r.get_mut(k0 + b), j.get(b))
            else {
                continue;
            };
            *rk += lif.dt;
            let s = lif_step(vk, rk, jk, lif.dt, lif.tau_rc, lif.tau_ref, lif.full);
            spiked |= u64::from(s) << b;
        }
        while spiked != 0 {
            out.push(ids.get(k0 + spiked.trailing_zeros() as usize));
            spiked &= spiked - 1;
        }
        k0 += len;
    }
    out.len() - before
}

/// Lanes `k0..k0 + len` (`len <= 64`) of [`lif_tile`]: the common step of every neuron (the
/// reference's first loop, and the second loop's `max(v, 0)` for the neurons that take no
/// scalar path). Returns the masks (bit `b` for lane `k0 + b`) of the neurons ending a
/// refractory period and of the others above threshold, and leaves their `J` in `j`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lanes<const MODE: u8, const ORDER: usize>(
    lif: &Lif,
    inp: &StepIn<'_>,
    k0: usize,
    len: usize,
    s1: &mut [f32],
    s2: &mut [f32],
    v: &mut [f32],
    r: &mut [f32],
    j: &mut [f32; 64],
) -> (u64, u64) {
    let (gain, full, dt, a) = (lif.gain, lif.full, lif.dt, inp.a);
    let range = k0..k0 + len;
    let (v, r, y) = (
        &mut v[range.clone()],
        &mut r[range.clone()],
        &inp.y[range.clone()],
    );
    let pre = if MODE == MORE {
        &inp.pre[range.clone()]
    } else {
        &[][..]
    };
    let bias = if MODE == CONSTANT {
        &[][..]
    } else {
        &inp.bias[range.clone()]
    };
    let s1 = if ORDER >= 1 {
        &mut s1[range.clone()]
    } else {
        &mut [][..]
    };
    let s2 = if ORDER >= 2 {
        &mut s2[range]
    } else {
        &mut [][..]
    };
    // Masks built 16 lanes at a time in `u32`s: with `u64` mask lanes LLVM ran the whole
    // loop 8 wide (8 `i64` per zmm) even at AVX-512; `i32` lanes let it run 16 wide.
    let (mut partial, mut over) = (0u64, 0u64);
    for c in (0..len).step_by(16) {
        let (mut pm, mut om) = (0u32, 0u32);
        for b in c..(c + 16).min(len) {
            let mut x = match MODE {
                CONSTANT => y[b],
                ONE => 0.0 + inp.scale * y[b],
                _ => pre[b] + inp.scale * y[b],
            };
            if MODE != CONSTANT {
                if ORDER >= 1 {
                    s1[b] = a * s1[b] + (1.0 - a) * x;
                    x = s1[b];
                }
                if ORDER >= 2 {
                    s2[b] = a * s2[b] + (1.0 - a) * x;
                    x = s2[b];
                }
                x += bias[b];
            }
            let rb = r[b] - dt;
            r[b] = rb;
            let jb = gain * x + 1.0;
            let factor = if rb <= 0.0 { full } else { 0.0 };
            let vb = v[b] + (jb - v[b]) * factor;
            let p = (rb > 0.0) & (rb < dt);
            let o = (vb > 1.0) & !p;
            v[b] = if p | o { vb } else { vb.max(0.0) };
            j[b] = jb;
            pm |= u32::from(p) << (b - c);
            om |= u32::from(o) << (b - c);
        }
        partial |= u64::from(pm) << c;
        over |= u64::from(om) << c;
    }
    (partial, over)
}

/// [`lif_tile`] with `MODE` and `ORDER` chosen at run time.
#[allow(clippy::too_many_arguments)]
fn step_tile(
    mode: u8,
    order: usize,
    lif: &Lif,
    inp: &StepIn<'_>,
    s1: &mut [f32],
    s2: &mut [f32],
    v: &mut [f32],
    r: &mut [f32],
    ids: Ids<'_>,
    out: &mut Vec<u32>,
) -> usize {
    match (mode, order) {
        (CONSTANT, _) => lif_tile::<CONSTANT, 0>(lif, inp, s1, s2, v, r, ids, out),
        (ONE, 0) => lif_tile::<ONE, 0>(lif, inp, s1, s2, v, r, ids, out),
        (ONE, 1) => lif_tile::<ONE, 1>(lif, inp, s1, s2, v, r, ids, out),
        (ONE, _) => lif_tile::<ONE, 2>(lif, inp, s1, s2, v, r, ids, out),
        (_, 0) => lif_tile::<MORE, 0>(lif, inp, s1, s2, v, r, ids, out),
        (_, 1) => lif_tile::<MORE, 1>(lif, inp, s1, s2, v, r, ids, out),
        _ => lif_tile::<MORE, 2>(lif, inp, s1, s2, v, r, ids, out),
    }
}

/// Indices of the distinct values (bit for bit) of a row: open addressing on the bits.
struct Distinct {
    /// Index into the distinct values, or `u32::MAX` for an empty slot.
    slots: Vec<u32>,
}

impl Distinct {
    /// Clears the table for up to `n` values.
    fn reset(&mut self, n: usize) {
        let cap = (2 * n).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(cap, u32::MAX);
    }

    /// The index of `x` among `values`, appending it when new.
    fn id(&mut self, x: f32, values: &mut Vec<f32>) -> u32 {
        let mask = self.slots.len() - 1;
        let bits = x.to_bits();
        let mut h = (bits.wrapping_mul(0x9E37_79B1) >> 7) as usize & mask;
        loop {
            match self.slots[h] {
                u32::MAX => {
                    let id = values.len() as u32;
                    values.push(x);
                    self.slots[h] = id;
                    return id;
                }
                id if values[id as usize].to_bits() == bits => return id,
                _ => h = (h + 1) & mask,
            }
        }
    }
}

/// Buffers of [`Spread::run`].
#[derive(Default)]
struct Spread {
    /// The neurons of distinct current `id` are `members[offsets[id]..offsets[id + 1]]`,
    /// ascending.
    offsets: Vec<usize>,
    members: Vec<u32>,
    fill: Vec<usize>,
    /// One bit per neuron, for steps whose neurons need sorting.
    bits: Vec<u64>,
}

impl Spread {
    /// Appends one slot per step to `events`: the neurons (of `n`; `active[k]` has distinct
    /// current `which[k]`, of `ids`) whose current spiked in that step (`spikes[offsets[t]..
    /// offsets[t + 1]]`), ascending. Returns how many.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        spikes: &[u32],
        offsets: &[usize],
        active: &[u32],
        which: &[u32],
        ids: usize,
        n: usize,
        events: &mut Events,
    ) -> u64 {
        // Members by current: a counting sort (`active` is ascending, so each list is too).
        self.offsets.clear();
        self.offsets.resize(ids + 1, 0);
        for &id in which {
            self.offsets[id as usize + 1] += 1;
        }
        for k in 0..ids {
            self.offsets[k + 1] += self.offsets[k];
        }
        self.fill.clear();
        self.fill.extend_from_slice(&self.offsets[..ids]);
        self.members.clear();
        self.members.resize(which.len(), 0);
        for (&i, &id) in active.iter().zip(which) {
            let at = &mut self.fill[id as usize];
            self.members[*at] = i;
            *at += 1;
        }
        self.bits.clear();
        self.bits.resize(n.div_ceil(64), 0);
        let before = events.idx.len();
        for w in offsets.windows(2) {
            let step = &spikes[w[0]..w[1]];
            let at = events.idx.len();
            // Mostly each current is one neuron's and the currents come in the order of their
            // first neurons: the neurons are then ascending as they come.
            let mut sorted = true;
            for &id in step {
                let list = &self.members[self.offsets[id as usize]..self.offsets[id as usize + 1]];
                match (list, events.idx[at..].last()) {
                    ([i], None) => events.idx.push(*i),
                    ([i], Some(&last)) if *i > last => events.idx.push(*i),
                    _ => {
                        sorted = false;
                        break;
                    }
                }
            }
            if !sorted {
                // Otherwise by a bit per neuron, read back in order.
                events.idx.truncate(at);
                let (mut lo, mut hi) = (usize::MAX, 0);
                for &id in step {
                    let id = id as usize;
                    for &i in &self.members[self.offsets[id]..self.offsets[id + 1]] {
                        let i = i as usize;
                        self.bits[i / 64] |= 1 << (i % 64);
                        lo = lo.min(i / 64);
                        hi = hi.max(i / 64);
                    }
                }
                for wd in lo..self.bits.len().min(hi + 1) {
                    let mut m = std::mem::take(&mut self.bits[wd]);
                    while m != 0 {
                        events.idx.push((wd * 64) as u32 + m.trailing_zeros());
                        m &= m - 1;
                    }
                }
            }
            events.close_slot();
        }
        (events.idx.len() - before) as u64
    }
}

/// Simulates an image-driven population (constant current `base`, `[batch, n]`). Neurons
/// with the same current (bit for bit) have the same spike train: each distinct current is
/// simulated once.
fn run_constant(p: &SpikingNode, base: &Array2<f32>, steps: usize, dt: f32) -> (Events, u64) {
    let mut events = Events::new();
    let mut fired = 0u64;
    let lif = Lif::new(p, dt);
    // With J <= 1 and a decay factor of at most 1/2, v never exceeds J (the argument is in
    // docs/ARCHITECTURE.md, the `train` section): such a neuron never spikes.
    let can_skip = p.full_decay <= 0.5;
    let mut distinct = Distinct { slots: Vec::new() };
    let (mut active, mut which, mut current) = (Vec::new(), Vec::new(), Vec::new());
    let (mut v, mut r) = (Vec::new(), Vec::new());
    let (mut spikes, mut spike_offsets) = (Vec::new(), Vec::new());
    let mut spread = Spread::default();
    for row in base.rows() {
        active.clear();
        which.clear();
        current.clear();
        distinct.reset(row.len());
        for (i, &x) in row.iter().enumerate() {
            let j = p.gain * x + 1.0;
            if can_skip && j <= 1.0 {
                continue;
            }
            active.push(i as u32);
            which.push(distinct.id(x, &mut current));
        }
        for buf in [&mut v, &mut r] {
            buf.clear();
            buf.resize(current.len(), 0.0f32);
        }
        let inp = StepIn {
            pre: &[],
            y: &current,
            scale: 0.0,
            bias: &[],
            a: 0.0,
        };
        // Spikes of every step (ids of distinct currents), then spread to their neurons.
        spikes.clear();
        spike_offsets.clear();
        spike_offsets.push(0);
        for _ in 0..steps {
            lif_tile::<CONSTANT, 0>(
                &lif,
                &inp,
                &mut [],
                &mut [],
                &mut v,
                &mut r,
                Ids::Offset(0),
                &mut spikes,
            );
            spike_offsets.push(spikes.len());
        }
        fired += spread.run(
            &spikes,
            &spike_offsets,
            &active,
            &which,
            current.len(),
            row.len(),
            &mut events,
        );
    }
    (events, fired)
}

/// `y = op(inputs)` for tile `first..first + y.len()` of a projection's outputs, in neuron
/// order, or position-major when `pos_major` (a conv's own order).
#[allow(clippy::too_many_arguments)]
fn weight_op(
    weights: &Weights,
    first: usize,
    idx: &[u32],
    val: &[f32],
    y: &mut [f32],
    scratch: &mut Scratch,
    pos_major: bool,
) {
    match weights {
        Weights::Dense { inputs, packed, .. } => {
            dense_range(*inputs, packed.as_ref(), first, y.len(), idx, val, y);
        }
        Weights::Conv {
            g,
            wt,
            tap_offsets,
            taps,
            gather,
        } => {
            let wt = wt.as_ref();
            let mut rows = std::mem::take(&mut scratch.rows);
            let out: &mut [f32] = if pos_major {
                y
            } else {
                rows.resize(y.len(), 0.0);
                &mut rows
            };
            // The gather's passes over every position cost more than they save when the
            // inputs reach fewer entries than there are positions.
            match gather {
                Some(plan) if idx.len() * g.kh * g.kw >= g.positions() * g.sh * g.sw => {
                    conv_gather(g, wt, plan, idx, val, scratch, out);
                }
                _ => conv_scatter(g, wt, tap_offsets, taps, idx, val, out),
            }
            if !pos_major {
                let (oc, np) = (g.oc, g.positions());
                for (pos, row) in rows.chunks_exact(oc.max(1)).take(np).enumerate() {
                    for (o, &x) in row.iter().enumerate() {
                        y[o * np + pos] = x;
                    }
                }
            }
            scratch.rows = rows;
        }
    }
}

/// Simulates a population driven by spikes, tile by tile, image by image.
#[allow(clippy::too_many_arguments)]
fn run_driven(
    p: &SpikingNode,
    chains: &[Chain],
    tiles: &[(usize, usize)],
    sources: &[Events],
    base: &Array2<f32>,
    cfg: &SpikingConfig,
    steps: usize,
) -> (Events, u64) {
    let batch = base.nrows();
    let slots = batch * steps;
    let dt = cfg.dt;
    let lif = Lif::new(p, dt);
    let inputs: Vec<Valued> = chains
        .iter()
        .map(|c| c.inputs(&sources[c.source], slots))
        .collect();
    let (order, a) = match cfg.synapse {
        Synapse::Alpha => (2, (-dt / cfg.tau_s).exp()),
        Synapse::Lowpass => (1, (-dt / cfg.tau_s).exp()),
        Synapse::None => (0, 0.0),
    };
    let Some((last, rest)) = chains.split_last() else {
        return (Events::new(), 0);
    };
    let mode = if rest.is_empty() { ONE } else { MORE };
    // A population fed by one conv keeps its state position-major (`[positions, oc]`, the
    // order the conv writes whole channel rows in); lane `k` is neuron `perm[k]`, and each
    // step's spikes are sorted back into neuron order.
    let pos_major = match chains {
        [
            Chain {
                weights: Weights::Conv { g, .. },
                ..
            },
        ] => Some((g.oc, g.positions())),
        _ => None,
    };
    let mut scratch = Scratch::default();
    let mut fired = 0u64;
    let mut per_tile = Vec::with_capacity(tiles.len());
    for &(first, width) in tiles {
        let perm: Vec<u32> = match pos_major {
            Some((oc, np)) => (0..width)
                .map(|k| ((k % oc) * np + k / oc) as u32)
                .collect(),
            None => Vec::new(),
        };
        let ids = match pos_major {
            Some(_) => Ids::Map(&perm),
            None => Ids::Offset(first as u32),
        };
        let mut events = Events::new();
        events.offsets.reserve(slots);
        let mut y = Aligned::zeros(width);
        let mut pre = Aligned::zeros(width);
        let mut bias = Aligned::zeros(width);
        let mut s1 = Aligned::zeros(if order >= 1 { width } else { 0 });
        let mut s2 = Aligned::zeros(if order >= 2 { width } else { 0 });
        let (mut v, mut r) = (Aligned::zeros(width), Aligned::zeros(width));
        let pm = pos_major.is_some();
        for (b, row) in base.rows().into_iter().enumerate() {
            let bias = bias.as_mut();
            if pm {
                for (x, &i) in bias.iter_mut().zip(&perm) {
                    *x = row[i as usize];
                }
            } else {
                for (x, k) in bias.iter_mut().zip(first..) {
                    *x = row[k];
                }
            }
            for buf in [&mut v, &mut r, &mut s1, &mut s2] {
                buf.as_mut().fill(0.0);
            }
            for t in 0..steps {
                let slot = b * steps + t;
                let y = y.as_mut();
                // The reference's `u`: zero, plus each projection's `scale y` in order; all
                // but the last projection are summed here, the last in `lif_tile`.
                for (c, (chain, input)) in rest.iter().zip(&inputs).enumerate() {
                    let (idx, val) = input.slot(slot);
                    weight_op(&chain.weights, first, idx, val, y, &mut scratch, false);
                    let scale = chain.scale;
                    if c == 0 {
                        for (u, &y) in pre.as_mut().iter_mut().zip(&*y) {
                            *u = 0.0 + scale * y;
                        }
                    } else {
                        for (u, &y) in pre.as_mut().iter_mut().zip(&*y) {
                            *u += scale * y;
                        }
                    }
                }
                let (idx, val) = inputs.last().map_or((&[][..], &[][..]), |i| i.slot(slot));
                weight_op(&last.weights, first, idx, val, y, &mut scratch, pm);
                let inp = StepIn {
                    pre: pre.as_ref(),
                    y,
                    scale: last.scale,
                    bias,
                    a,
                };
                let at = events.idx.len();
                fired += step_tile(
                    mode,
                    order,
                    &lif,
                    &inp,
                    s1.as_mut(),
                    s2.as_mut(),
                    v.as_mut(),
                    r.as_mut(),
                    ids,
                    &mut events.idx,
                ) as u64;
                if pm {
                    events.idx[at..].sort_unstable();
                }
                events.close_slot();
            }
        }
        per_tile.push(events);
    }
    if per_tile.len() == 1 {
        return (per_tile.pop().unwrap_or_else(Events::new), fired);
    }
    // Tiles cover ascending neuron ranges: concatenating them per slot keeps the order.
    let mut merged = Events::new();
    merged.offsets.reserve(slots);
    for slot in 0..slots {
        for tile in &per_tile {
            merged.idx.extend_from_slice(tile.slot(slot));
        }
        merged.close_slot();
    }
    (merged, fired)
}

/// Simulates one chunk of images with the fast engine; same result as the reference.
pub(crate) fn simulate_chunk_fast(
    plan: &Plan,
    graph: &Graph,
    nodes: &[SpikingNode],
    base: &[Array2<f32>],
    cfg: &SpikingConfig,
    steps: usize,
    window: usize,
) -> ChunkResult {
    let dt = cfg.dt;
    let batch = base.first().map_or(0, |b| b.nrows());
    let mut events: Vec<Events> = Vec::with_capacity(nodes.len());
    let mut counts = vec![0f64; nodes.len()];
    for (k, p) in nodes.iter().enumerate() {
        let (ev, fired) = if plan.chains[k].is_empty() {
            run_constant(p, &base[k], steps, dt)
        } else {
            run_driven(
                p,
                &plan.chains[k],
                &plan.tiles[k],
                &events,
                &base[k],
                cfg,
                steps,
            )
        };
        counts[k] = fired as f64;
        events.push(ev);
    }
    // The readout: the output population's spikes through the synapse, averaged over the
    // window (the reference's `readout` filter and `score`).
    let out = graph.output;
    let n_out = graph.nodes.get(out).map_or(0, |n| n.size);
    let amp = nodes.get(out).map_or(0.0, |n| n.amplitude) / dt;
    let (order, a) = match cfg.synapse {
        Synapse::Alpha => (2, (-dt / cfg.tau_s).exp()),
        Synapse::Lowpass => (1, (-dt / cfg.tau_s).exp()),
        Synapse::None => (0, 0.0),
    };
    let mut predictions = Vec::with_capacity(batch);
    let mut silent = 0;
    let mut stages = vec![vec![0.0f32; n_out]; order];
    let mut o = vec![0.0f32; n_out];
    let mut score = vec![0.0f32; n_out];
    for b in 0..batch {
        for stage in &mut stages {
            stage.fill(0.0);
        }
        score.fill(0.0);
        for t in 0..steps {
            o.fill(0.0);
            for &i in events.get(out).map_or(&[][..], |e| e.slot(b * steps + t)) {
                o[i as usize] = 1.0;
            }
            for x in o.iter_mut() {
                *x *= amp;
            }
            for stage in &mut stages {
                for (st, u) in stage.iter_mut().zip(o.iter_mut()) {
                    *st = a * *st + (1.0 - a) * *u;
                    *u = *st;
                }
            }
            if t + window >= steps {
                for (s, &x) in score.iter_mut().zip(&o) {
                    *s += x;
                }
            }
        }
        if score.iter().all(|v| *v == 0.0) {
            silent += 1;
        }
        predictions.push(argmax(score.iter().copied()));
    }
    ChunkResult {
        predictions,
        spikes: counts,
        silent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::lif_population;

    fn node() -> SpikingNode {
        SpikingNode {
            gain: 0.9,
            tau_rc: 0.02,
            tau_ref: 0.002,
            amplitude: 0.063,
            full_decay: -(-0.001f32 / 0.02).exp_m1(),
            chains: Vec::new(),
        }
    }

    /// `lif_tile` on a constant input (`run_constant`'s use) against the reference step,
    /// bit for bit, over 300 steps (501 neurons: full groups of 64 and a tail).
    #[test]
    fn lif_tile_equals_the_reference_population_step() {
        let p = node();
        let lif = Lif::new(&p, 0.001);
        let n = 501;
        let current: Vec<f32> = (0..n)
            .map(|k| (k as f32 * 0.37).sin() * 3.0 + 0.5)
            .collect();
        let (mut v, mut r, mut s) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let (mut v2, mut r2) = (vec![0.0f32; n], vec![0.0f32; n]);
        let inp = StepIn {
            pre: &[],
            y: &current,
            scale: 0.0,
            bias: &[],
            a: 0.0,
        };
        let mut total = 0;
        for _ in 0..300 {
            let want = lif_population(&p, 0.001, &current, &mut v, &mut r, &mut s);
            let mut got = Vec::new();
            let fired = lif_tile::<CONSTANT, 0>(
                &lif,
                &inp,
                &mut [],
                &mut [],
                &mut v2,
                &mut r2,
                Ids::Offset(7),
                &mut got,
            );
            assert_eq!(fired, want);
            let spiking: Vec<u32> = (0..n as u32)
                .filter(|&k| s[k as usize] == 1.0)
                .map(|k| k + 7)
                .collect();
            assert_eq!(got, spiking);
            assert_eq!(bits(&v), bits(&v2));
            assert_eq!(bits(&r), bits(&r2));
            total += want;
        }
        assert!(total > 1000, "{total} spikes");
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|x| x.to_bits()).collect()
    }

    /// `lif_tile` with spike input (one and two projections, every filter order, a lane
    /// permutation) against the reference's operations: `u` zeroed, each projection's
    /// `scale y` added in order, the filter stages, the bias, `lif_population`.
    #[test]
    fn lif_tile_with_filters_equals_the_reference_operations() {
        let p = node();
        let lif = Lif::new(&p, 0.001);
        let n = 203;
        let a = (-0.001f32 / 0.005).exp();
        let bias: Vec<f32> = (0..n).map(|k| (k as f32 * 0.11).cos() * 0.4).collect();
        let perm: Vec<u32> = (0..n as u32).map(|k| (k * 7) % n as u32).collect();
        for order in 0..3 {
            for mode in [ONE, MORE] {
                let mut stages = vec![vec![0.0f32; n]; order];
                let (mut v, mut r, mut s) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
                let mut s1 = vec![0.0f32; if order >= 1 { n } else { 0 }];
                let mut s2 = vec![0.0f32; if order >= 2 { n } else { 0 }];
                let (mut v2, mut r2) = (vec![0.0f32; n], vec![0.0f32; n]);
                let mut total = 0;
                for t in 0..300 {
                    // Sparse-ish spike input of two projections.
                    let y0: Vec<f32> = (0..n)
                        .map(|k| ((k * 13 + t * 7) % 11) as f32 * 0.9 - 3.0)
                        .collect();
                    let y1: Vec<f32> = (0..n)
                        .map(|k| {
                            if (k + t) % 5 == 0 {
                                (k as f32 * 0.3).sin()
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let (s0, sl) = (63.0f32, 41.0f32);
                    let mut u = vec![0.0f32; n];
                    if mode == MORE {
                        for (u, &y) in u.iter_mut().zip(&y0) {
                            *u += s0 * y;
                        }
                    }
                    for (u, &y) in u.iter_mut().zip(&y1) {
                        *u += sl * y;
                    }
                    for stage in &mut stages {
                        for (st, u) in stage.iter_mut().zip(u.iter_mut()) {
                            *st = a * *st + (1.0 - a) * *u;
                            *u = *st;
                        }
                    }
                    for (u, &b) in u.iter_mut().zip(&bias) {
                        *u += b;
                    }
                    let want = lif_population(&p, 0.001, &u, &mut v, &mut r, &mut s);
                    let pre: Vec<f32> = y0.iter().map(|&y| 0.0 + s0 * y).collect();
                    let inp = StepIn {
                        pre: &pre,
                        y: &y1,
                        scale: sl,
                        bias: &bias,
                        a,
                    };
                    let mut got = Vec::new();
                    let fired = step_tile(
                        mode,
                        order,
                        &lif,
                        &inp,
                        &mut s1,
                        &mut s2,
                        &mut v2,
                        &mut r2,
                        Ids::Map(&perm),
                        &mut got,
                    );
                    assert_eq!(fired, want);
                    let spiking: Vec<u32> =
                        (0..n).filter(|&k| s[k] == 1.0).map(|k| perm[k]).collect();
                    assert_eq!(got, spiking, "order {order}, mode {mode}, step {t}");
                    assert_eq!(bits(&v), bits(&v2));
                    assert_eq!(bits(&r), bits(&r2));
                    total += want;
                }
                assert!(total > 500, "{total} spikes");
            }
        }
    }

    /// Sparse ascending inputs with values like pooled spike counts.
    fn sparse_inputs(n: usize, seed: usize) -> (Vec<u32>, Vec<f32>) {
        let idx: Vec<u32> = (0..n as u32)
            .filter(|&i| (i as usize * 31 + seed * 17) % 7 < 2)
            .collect();
        let val = idx.iter().map(|&i| (1 + i % 4) as f32 * 0.25).collect();
        (idx, val)
    }

    /// The dense and conv kernels against each output summed plainly: `0`, then `v w` of its
    /// non-zero inputs in ascending order (a multiply then an add), bit for bit.
    #[test]
    fn weight_ops_equal_the_plain_ascending_sums() {
        use crate::kernels::tests::array;
        // Dense: 150 outputs (two full blocks and a narrower one), tiles of one and two blocks.
        let (outputs, inputs) = (150, 97);
        let w = array(outputs, inputs, 3);
        let chain = Chain::new(0, 1.0, inputs, &[Kernel::Dense { w: w.clone() }]);
        let Some(chain) = chain else {
            panic!("dense chain");
        };
        for seed in 0..5 {
            let (idx, val) = sparse_inputs(inputs, seed);
            let want: Vec<f32> = (0..outputs)
                .map(|o| {
                    let mut a = 0.0f32;
                    for (&i, &v) in idx.iter().zip(&val) {
                        a += v * w[[o, i as usize]];
                    }
                    a
                })
                .collect();
            for (first, width) in [(0, outputs), (0, 64), (64, 86), (128, 22)] {
                let mut y = vec![f32::NAN; width];
                weight_op(
                    &chain.weights,
                    first,
                    &idx,
                    &val,
                    &mut y,
                    &mut Scratch::default(),
                    false,
                );
                assert_eq!(bits(&y), bits(&want[first..first + width]), "{first}");
            }
        }
        // Conv, strided and padded, 40, 64 and 70 channels (any count, and a fixed one);
        // neuron order and position-major.
        for oc in [40, 64, 70] {
            let g = ConvGeom::new([3, 9, 8], oc, [3, 4], [2, 1], [1, 2]).unwrap();
            let w = array(g.oc, g.patch(), 4);
            let Some(chain) = Chain::new(0, 1.0, g.in_size(), &[Kernel::Conv { w: w.clone(), g }])
            else {
                panic!("conv chain");
            };
            let np = g.positions();
            for seed in 0..5 {
                let (idx, val) = sparse_inputs(g.in_size(), seed);
                let mut want = vec![0.0f32; g.oc * np];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        for o in 0..g.oc {
                            let mut a = 0.0f32;
                            for (&i, &v) in idx.iter().zip(&val) {
                                let i = i as usize;
                                let (c, iy, ix) = (i / (g.ih * g.iw), i / g.iw % g.ih, i % g.iw);
                                let (ky, kx) = (
                                    (iy + g.ph) as isize - (oy * g.sh) as isize,
                                    (ix + g.pw) as isize - (ox * g.sw) as isize,
                                );
                                if (0..g.kh as isize).contains(&ky)
                                    && (0..g.kw as isize).contains(&kx)
                                {
                                    let tap = (c * g.kh + ky as usize) * g.kw + kx as usize;
                                    a += v * w[[o, tap]];
                                }
                            }
                            want[o * np + oy * g.ow + ox] = a;
                        }
                    }
                }
                let mut y = vec![f32::NAN; want.len()];
                weight_op(
                    &chain.weights,
                    0,
                    &idx,
                    &val,
                    &mut y,
                    &mut Scratch::default(),
                    false,
                );
                assert_eq!(bits(&y), bits(&want));
                weight_op(
                    &chain.weights,
                    0,
                    &idx,
                    &val,
                    &mut y,
                    &mut Scratch::default(),
                    true,
                );
                let moved: Vec<f32> = (0..want.len())
                    .map(|k| want[(k % g.oc) * np + k / g.oc])
                    .collect();
                assert_eq!(bits(&y), bits(&moved));
            }
        }
    }

    /// A conv's outputs summed plainly, in neuron order: `0`, then `v w` of each non-zero
    /// input in ascending order (a multiply then an add).
    fn plain_conv(g: &ConvGeom, w: &Array2<f32>, idx: &[u32], val: &[f32]) -> Vec<f32> {
        let np = g.positions();
        let mut want = vec![0.0f32; g.oc * np];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for o in 0..g.oc {
                    let mut a = 0.0f32;
                    for (&i, &v) in idx.iter().zip(val) {
                        let i = i as usize;
                        let (c, iy, ix) = (i / (g.ih * g.iw), i / g.iw % g.ih, i % g.iw);
                        let (ky, kx) = (
                            (iy + g.ph) as isize - (oy * g.sh) as isize,
                            (ix + g.pw) as isize - (ox * g.sw) as isize,
                        );
                        if (0..g.kh as isize).contains(&ky) && (0..g.kw as isize).contains(&kx) {
                            let tap = (c * g.kh + ky as usize) * g.kw + kx as usize;
                            a += v * w[[o, tap]];
                        }
                    }
                    want[o * np + oy * g.ow + ox] = a;
                }
            }
        }
        want
    }

    /// The conv gather (and the scatter it falls back to) against each output summed
    /// plainly, bit for bit: strided and padded geometries, channel counts that are and are
    /// not multiples of 16, input channels in one group and in groups of one and two,
    /// inputs in every channel, in the last only, a few (scatter) and none.
    #[test]
    fn conv_gather_equals_the_plain_ascending_sums() {
        use crate::kernels::tests::array;
        let geoms = [
            ([3, 9, 8], [3, 4], [2, 1], [1, 2]),
            ([4, 7, 11], [2, 3], [1, 3], [0, 1]),
            ([5, 6, 6], [5, 5], [1, 1], [2, 2]),
        ];
        let mut gathered = 0;
        for (input, kernel, stride, padding) in geoms {
            for oc in [16, 40, 48, 64, 70, 96, 128] {
                let g = ConvGeom::new(input, oc, kernel, stride, padding).unwrap();
                let w = array(g.oc, g.patch(), 5);
                let Some(mut chain) =
                    Chain::new(0, 1.0, g.in_size(), &[Kernel::Conv { w: w.clone(), g }])
                else {
                    panic!("conv chain");
                };
                let np = g.positions();
                let n = g.in_size();
                let mut cases: Vec<(Vec<u32>, Vec<f32>)> =
                    (0..4).map(|seed| sparse_inputs(n, seed)).collect();
                let (idx, val) = sparse_inputs(n, 1);
                let last = (g.ic - 1) * g.ih * g.iw;
                let keep: Vec<usize> = (0..idx.len())
                    .filter(|&k| idx[k] as usize >= last)
                    .collect();
                cases.push((
                    keep.iter().map(|&k| idx[k]).collect(),
                    keep.iter().map(|&k| val[k]).collect(),
                ));
                cases.push((idx[..2].to_vec(), val[..2].to_vec()));
                cases.push((Vec::new(), Vec::new()));
                for group in [0, 1, 2] {
                    if let Weights::Conv {
                        gather: Some(plan), ..
                    } = &mut chain.weights
                        && group > 0
                    {
                        plan.group = group;
                    }
                    for (idx, val) in &cases {
                        let want = plain_conv(&g, &w, idx, val);
                        let moved: Vec<f32> = (0..want.len())
                            .map(|k| want[(k % oc) * np + k / oc])
                            .collect();
                        let mut s = Scratch::default();
                        let mut y = vec![f32::NAN; want.len()];
                        weight_op(&chain.weights, 0, idx, val, &mut y, &mut s, false);
                        assert_eq!(bits(&y), bits(&want), "{g:?} {group}");
                        y.fill(f32::NAN);
                        weight_op(&chain.weights, 0, idx, val, &mut y, &mut s, true);
                        assert_eq!(bits(&y), bits(&moved), "{g:?} {group}");
                        // The gather itself, whatever the input count.
                        if let Weights::Conv {
                            wt,
                            gather: Some(plan),
                            ..
                        } = &chain.weights
                        {
                            y.fill(f32::NAN);
                            conv_gather(&g, wt.as_ref(), plan, idx, val, &mut s, &mut y);
                            assert_eq!(bits(&y), bits(&moved), "{g:?} {group}");
                            gathered += 1;
                        } else {
                            assert!(!oc.is_multiple_of(16), "{g:?}");
                        }
                    }
                }
            }
        }
        assert_eq!(gathered, 3 * 5 * 3 * 7);
    }

    /// Pooled inputs against counting each cell's spikes plainly.
    #[test]
    fn pooled_inputs_equal_the_plain_counts() {
        // Overlapping windows (the cell lists), then windows that do not overlap and leave
        // the last row and column out (one cell or none per input).
        for (g, single) in [
            (PoolGeom::new([3, 9, 10], [3, 2], [2, 2]).unwrap(), false),
            (PoolGeom::new([3, 9, 11], [2, 2], [2, 2]).unwrap(), true),
        ] {
            pooled_inputs_case(&g, single);
        }
    }

    fn pooled_inputs_case(g: &PoolGeom, single: bool) {
        let pool = PoolMap::new(g);
        assert_eq!(pool.single.is_empty(), !single);
        let scale = pool.scale;
        let chain = Chain {
            source: 0,
            scale: 1.0,
            pool: Some(pool),
            weights: Weights::Dense {
                inputs: g.out_size(),
                outputs: 0,
                packed: Aligned::zeros(0),
            },
        };
        let mut spikes = Events::new();
        for slot in 0..20 {
            spikes
                .idx
                .extend((0..g.in_size() as u32).filter(|&i| (i as usize * 7 + slot * 5) % 13 < 3));
            spikes.close_slot();
        }
        let got = chain.inputs(&spikes, 20);
        for slot in 0..20 {
            let mut counts = vec![0u32; g.out_size()];
            for c in 0..g.c {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let i = (c * g.ih + oy * g.sh + ky) * g.iw + ox * g.sw + kx;
                                if spikes.slot(slot).contains(&(i as u32)) {
                                    counts[(c * g.oh + oy) * g.ow + ox] += 1;
                                }
                            }
                        }
                    }
                }
            }
            let want: Vec<(u32, u32)> = (0..g.out_size())
                .filter(|&c| counts[c] > 0)
                .map(|c| (c as u32, (counts[c] as f32 * scale).to_bits()))
                .collect();
            let (idx, val) = got.slot(slot);
            let have: Vec<(u32, u32)> = idx
                .iter()
                .zip(val)
                .map(|(&i, &v)| (i, v.to_bits()))
                .collect();
            assert_eq!(have, want, "slot {slot}");
        }
    }

    /// `Spread::run` against listing each step's neurons plainly (every neuron whose current
    /// spiked, ascending): currents of one neuron in first-neuron order (the fast path), of
    /// several neurons, in any order within a step, neurons past 64 and skipped ones, steps
    /// with no spike; twice in a row (the bits must be clean for the next image).
    #[test]
    fn spread_equals_the_plain_lists() {
        let n = 300;
        // Neurons not divisible by 7 are active; their currents: `k / 3` for the first 90
        // (three neurons each), then one each.
        let active: Vec<u32> = (0..n as u32).filter(|i| i % 7 != 0).collect();
        let which: Vec<u32> = (0..active.len() as u32)
            .map(|k| if k < 90 { k / 3 } else { k - 60 })
            .collect();
        let ids = *which.iter().max().unwrap() as usize + 1;
        let single: Vec<u32> = (30..ids as u32).collect();
        let steps: Vec<Vec<u32>> = vec![
            vec![],
            single.iter().copied().filter(|id| id % 5 == 1).collect(),
            vec![31, 30],
            vec![2, 40, 41, 190],
            vec![29, 0, 150],
            single.clone(),
            (0..ids as u32).collect(),
            vec![ids as u32 - 1],
        ];
        let spikes: Vec<u32> = steps.iter().flatten().copied().collect();
        let mut offsets = vec![0];
        for s in &steps {
            offsets.push(offsets.last().unwrap() + s.len());
        }
        let mut spread = Spread::default();
        let mut events = Events::new();
        for _ in 0..2 {
            let fired = spread.run(&spikes, &offsets, &active, &which, ids, n, &mut events);
            let want: u64 = steps
                .iter()
                .map(|s| which.iter().filter(|id| s.contains(id)).count() as u64)
                .sum();
            assert_eq!(fired, want);
        }
        for (slot, s) in steps.iter().chain(&steps).enumerate() {
            let want: Vec<u32> = active
                .iter()
                .zip(&which)
                .filter(|(_, id)| s.contains(id))
                .map(|(&i, _)| i)
                .collect();
            assert_eq!(events.slot(slot), &want[..], "slot {slot}");
        }
    }

    /// The skip rule of `run_constant`: a constant J <= 1 never spikes (decay factor <= 1/2).
    #[test]
    fn constant_currents_at_most_one_never_spike() {
        for tau_rc in [0.002f32, 0.005, 0.02, 0.1] {
            let full = -(-0.001f32 / tau_rc).exp_m1();
            assert!(full <= 0.5);
            let mut j = 1.0f32;
            for k in 0..2000 {
                let (mut v, mut r) = (0.0f32, 0.0f32);
                for _ in 0..400 {
                    assert!(!crate::eval::lif_step(
                        &mut v, &mut r, j, 0.001, tau_rc, 0.002, full
                    ));
                }
                j = if k < 1000 {
                    f32::from_bits(j.to_bits() - 1)
                } else {
                    j - 0.001
                };
            }
        }
    }
}
