//! The fast engine of float spiking evaluation: population by population, image by image,
//! with spikes kept as event lists.
//!
//! The net is feed-forward, so a population's spike train over the whole presentation depends
//! only on the trains of its sources: each population is simulated for every image and step
//! of a chunk before the next one starts. Per image, its state (a few floats per neuron) stays
//! in cache for all steps; dense projections are cut into tiles of [`TILE`] outputs whose
//! weights (repacked contiguously) stay in cache while every image of the chunk runs through
//! them, so a large weight matrix is read once per chunk instead of once per step and image.
//! Image-driven populations whose constant current can never reach the threshold are not
//! simulated (they never spike).
//!
//! Every neuron sees exactly the floating-point operations of the step-by-step reference
//! (`eval::simulate_chunk`): the same products added in the same order (ascending input
//! index, from 0), the same filter, bias and LIF arithmetic; only which zeros are skipped and
//! where the loops run differ. Results are therefore bit-identical, which
//! `eval::tests::fast_engine_is_bit_identical_to_the_reference` checks.

use ndarray::Array2;

use crate::eval::{ChunkResult, SpikingConfig, SpikingNode, Synapse, lif_step};
use crate::graph::{Graph, Source};
use crate::kernels::{ConvGeom, Kernel, PoolGeom};
use crate::model::argmax;

/// Outputs per tile of a dense projection (the accumulators stay in registers).
const TILE: usize = 32;

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
}

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
        }
    }
}

/// The weight op ending a projection.
enum Weights {
    /// Outputs in tiles `(first, width)`; tile weights are `[inputs, width]` at
    /// `first * inputs` in `packed`.
    Dense {
        inputs: usize,
        outputs: usize,
        tiles: Vec<(usize, usize)>,
        packed: Vec<f32>,
    },
    /// `wt` is `[ic * kh * kw, oc]`; `taps` lists, for each input pixel `(iy, ix)`, the output
    /// positions it reaches and the spatial tap `ky * kw + kx` that carries it there.
    Conv {
        g: ConvGeom,
        wt: Vec<f32>,
        tap_offsets: Vec<usize>,
        taps: Vec<(u32, u32)>,
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
    /// Per node: neuron ranges simulated one after the other.
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
            let tiled = incoming.len() == 1
                && incoming[0]
                    .1
                    .iter()
                    .any(|k| matches!(k, Kernel::Dense { .. }));
            let mut list = Vec::with_capacity(incoming.len());
            for (s, kernels) in incoming {
                let source = nodes.get(s)?;
                let chain = Chain::new(
                    s,
                    source.amplitude / dt,
                    graph.nodes.get(s)?.size,
                    kernels,
                    tiled,
                )?;
                if chain.weights.outputs() != node.size {
                    return None;
                }
                list.push(chain);
            }
            tiles.push(match list.first().map(|c| &c.weights) {
                Some(Weights::Dense { tiles, .. }) if tiled => tiles.clone(),
                _ => vec![(0, node.size)],
            });
            chains.push(list);
        }
        Some(Plan { chains, tiles })
    }
}

impl Chain {
    fn new(
        source: usize,
        scale: f32,
        source_size: usize,
        kernels: &[Kernel],
        tiled: bool,
    ) -> Option<Chain> {
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
                    let width = if tiled { TILE } else { outputs.max(1) };
                    let tiles: Vec<(usize, usize)> = (0..outputs)
                        .step_by(width)
                        .map(|o| (o, width.min(outputs - o)))
                        .collect();
                    let mut packed = Vec::with_capacity(inputs * outputs);
                    for &(first, width) in &tiles {
                        for i in 0..inputs {
                            packed.extend((first..first + width).map(|o| w[[o, i]]));
                        }
                    }
                    size = outputs;
                    weights = Some(Weights::Dense {
                        inputs,
                        outputs,
                        tiles,
                        packed,
                    });
                }
                Kernel::Conv { w, g } if weights.is_none() => {
                    if g.in_size() != size || w.dim() != (g.oc, g.patch()) {
                        return None;
                    }
                    let wt = w.t().iter().copied().collect();
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
                                    taps.push((pos as u32, (ky * g.kw + kx) as u32));
                                }
                            }
                            tap_offsets.push(taps.len());
                        }
                    }
                    size = g.oc * g.positions();
                    weights = Some(Weights::Conv {
                        g: *g,
                        wt,
                        tap_offsets,
                        taps,
                    });
                }
                _ => return None,
            }
        }
        let weights = weights?;
        if weights.inputs() != pool.as_ref().map_or(source_size, |p| p.out_size)
            || u32::try_from(weights.inputs().max(source_size)).is_err()
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
            offsets: vec![0],
            idx: Vec::new(),
            val: Vec::new(),
        };
        let mut counts = vec![0u32; self.pool.as_ref().map_or(0, |p| p.out_size)];
        let mut touched: Vec<u32> = Vec::new();
        for slot in 0..slots {
            let events = spikes.slot(slot);
            match &self.pool {
                None => {
                    out.idx.extend_from_slice(events);
                    out.val.extend(events.iter().map(|_| 1.0f32));
                }
                Some(p) => {
                    for &i in events {
                        let i = i as usize;
                        for &cell in &p.cells[p.offsets[i]..p.offsets[i + 1]] {
                            let n = &mut counts[cell as usize];
                            if *n == 0 {
                                touched.push(cell);
                            }
                            *n += 1;
                        }
                    }
                    touched.sort_unstable();
                    for &cell in &touched {
                        let n = &mut counts[cell as usize];
                        out.idx.push(cell);
                        out.val.push(*n as f32 * p.scale);
                        *n = 0;
                    }
                    touched.clear();
                }
            }
            out.offsets.push(out.idx.len());
        }
        out
    }
}

/// Reusable buffers of the conv gather.
#[derive(Default)]
struct ConvScratch {
    counts: Vec<usize>,
    starts: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

lifchip_simd::multiversion! {
    /// `y = op(inputs)` on the outputs of tile `tile` (`y.len()` is the tile's width). Each
    /// output is `0 + v_1 w_1 + v_2 w_2 + ...` over the non-zero inputs in ascending order,
    /// as in the reference. Compiled for SSE2, AVX2 and AVX-512 (the tile's accumulators are
    /// 32 lanes; a multiply then an add per lane at every width, so the same bits).
    fn apply<>(
        weights: &Weights,
        tile: usize,
        idx: &[u32],
        val: &[f32],
        y: &mut [f32],
        scratch: &mut ConvScratch,
    ) => apply_generic
}

#[inline(always)]
fn apply_generic(
    weights: &Weights,
    tile: usize,
    idx: &[u32],
    val: &[f32],
    y: &mut [f32],
    scratch: &mut ConvScratch,
) {
    match weights {
        Weights::Dense {
            inputs,
            tiles,
            packed,
            ..
        } => {
            let Some(&(first, width)) = tiles.get(tile) else {
                return;
            };
            let w = &packed[first * inputs..(first + width) * inputs];
            if width == TILE {
                let mut acc = [0.0f32; TILE];
                for (&i, &v) in idx.iter().zip(val) {
                    let i = i as usize;
                    let row = &w[i * TILE..(i + 1) * TILE];
                    for (a, &wk) in acc.iter_mut().zip(row) {
                        *a += v * wk;
                    }
                }
                y.copy_from_slice(&acc);
            } else {
                y.fill(0.0);
                for (&i, &v) in idx.iter().zip(val) {
                    let i = i as usize;
                    for (a, &wk) in y.iter_mut().zip(&w[i * width..(i + 1) * width]) {
                        *a += v * wk;
                    }
                }
            }
        }
        Weights::Conv {
            g,
            wt,
            tap_offsets,
            taps,
        } => conv_gather_generic(g, wt, tap_offsets, taps, idx, val, y, scratch),
    }
}

/// Event-driven convolution, gathered per output position: the contributions reaching each
/// position are listed in ascending input order, then summed with the channel accumulators
/// in registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_gather_generic(
    g: &ConvGeom,
    wt: &[f32],
    tap_offsets: &[usize],
    taps: &[(u32, u32)],
    idx: &[u32],
    val: &[f32],
    y: &mut [f32],
    s: &mut ConvScratch,
) {
    let (p, oc, hw, kk) = (g.positions(), g.oc, g.ih * g.iw, g.kh * g.kw);
    s.counts.clear();
    s.counts.resize(p + 1, 0);
    for &i in idx {
        let sp = i as usize % hw;
        for &(pos, _) in &taps[tap_offsets[sp]..tap_offsets[sp + 1]] {
            s.counts[pos as usize + 1] += 1;
        }
    }
    for pos in 0..p {
        s.counts[pos + 1] += s.counts[pos];
    }
    s.starts.clear();
    s.starts.extend_from_slice(&s.counts);
    s.entries.clear();
    s.entries.resize(s.counts[p], (0, 0.0));
    for (&i, &v) in idx.iter().zip(val) {
        let (c, sp) = (i as usize / hw, i as usize % hw);
        for &(pos, tap) in &taps[tap_offsets[sp]..tap_offsets[sp + 1]] {
            let at = &mut s.starts[pos as usize];
            s.entries[*at] = ((c * kk + tap as usize) as u32, v);
            *at += 1;
        }
    }
    for pos in 0..p {
        let list = &s.entries[s.counts[pos]..s.counts[pos + 1]];
        let mut o0 = 0;
        while o0 + TILE <= oc {
            let mut acc = [0.0f32; TILE];
            for &(tap, v) in list {
                let at = tap as usize * oc + o0;
                for (a, &wk) in acc.iter_mut().zip(&wt[at..at + TILE]) {
                    *a += v * wk;
                }
            }
            for (k, a) in acc.iter().enumerate() {
                y[(o0 + k) * p + pos] = *a;
            }
            o0 += TILE;
        }
        for o in o0..oc {
            let mut a = 0.0f32;
            for &(tap, v) in list {
                a += v * wt[tap as usize * oc + o];
            }
            y[o * p + pos] = a;
        }
    }
}

lifchip_simd::multiversion! {
    /// One step of a population, as [`crate::eval::lif_population`] computes it (the same
    /// operations on every neuron), appending the index of each neuron that spikes to `out`.
    /// Groups of 8 neurons with none above threshold or ending a refractory period take a
    /// short path. Compiled for SSE2, AVX2 and AVX-512 (the same operations per lane).
    pub(crate) fn lif_events<>(
        p: &SpikingNode,
        dt: f32,
        current: &[f32],
        v: &mut [f32],
        r: &mut [f32],
        out: &mut Vec<u32>,
    ) -> usize => lif_events_generic
}

#[inline(always)]
fn lif_events_generic(
    p: &SpikingNode,
    dt: f32,
    current: &[f32],
    v: &mut [f32],
    r: &mut [f32],
    out: &mut Vec<u32>,
) -> usize {
    let (gain, full) = (p.gain, p.full_decay);
    let before = out.len();
    let n = current.len().min(v.len()).min(r.len());
    let mut start = 0;
    while start < n {
        let end = (start + 8).min(n);
        let (vg, rg, xg) = (&mut v[start..end], &mut r[start..end], &current[start..end]);
        // The common step of every neuron (the reference's first loop), and whether any
        // neuron of the group crosses the threshold or ends a refractory period.
        let mut special = false;
        for ((v, r), &x) in vg.iter_mut().zip(rg.iter_mut()).zip(xg) {
            *r -= dt;
            let j = gain * x + 1.0;
            let factor = if *r <= 0.0 { full } else { 0.0 };
            *v += (j - *v) * factor;
            special |= (*v > 1.0) | ((*r > 0.0) & (*r < dt));
        }
        if !special {
            for v in vg.iter_mut() {
                *v = v.max(0.0);
            }
            start = end;
            continue;
        }
        for (k, ((v, r), &x)) in vg.iter_mut().zip(rg.iter_mut()).zip(xg).enumerate() {
            let partial = *r > 0.0 && *r < dt;
            if *v > 1.0 || partial {
                let j = gain * x + 1.0;
                if partial {
                    *r += dt;
                    if lif_step(v, r, j, dt, p.tau_rc, p.tau_ref, full) {
                        out.push((start + k) as u32);
                    }
                    continue;
                }
                let t_spike = dt + p.tau_rc * (-(*v - 1.0) / (j - 1.0)).ln_1p();
                *v = 0.0;
                *r = p.tau_ref + t_spike;
                out.push((start + k) as u32);
            } else {
                *v = v.max(0.0);
            }
        }
        start = end;
    }
    out.len() - before
}

/// Simulates an image-driven population (constant current `base`, `[batch, n]`). Neurons
/// with the same current (bit for bit) have the same spike train: each distinct current is
/// simulated once.
fn run_constant(p: &SpikingNode, base: &Array2<f32>, steps: usize, dt: f32) -> (Events, u64) {
    let mut events = Events::new();
    let mut fired = 0u64;
    // With J <= 1 and a decay factor of at most 1/2, v never exceeds J (the argument is in
    // docs/ARCHITECTURE.md, the `train` section): such a neuron never spikes.
    let can_skip = p.full_decay <= 0.5;
    let mut distinct: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let (mut active, mut which, mut current) = (Vec::new(), Vec::new(), Vec::new());
    let (mut v, mut r) = (Vec::new(), Vec::new());
    let (mut spikes, mut trains, mut train_offsets) = (Vec::new(), Vec::new(), Vec::new());
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); steps];
    for row in base.rows() {
        active.clear();
        which.clear();
        current.clear();
        distinct.clear();
        for (i, &x) in row.iter().enumerate() {
            let j = p.gain * x + 1.0;
            if can_skip && j <= 1.0 {
                continue;
            }
            let next = current.len() as u32;
            let id = *distinct.entry(x.to_bits()).or_insert(next);
            if id == next {
                current.push(x);
            }
            active.push(i as u32);
            which.push(id);
        }
        for buf in [&mut v, &mut r] {
            buf.clear();
            buf.resize(current.len(), 0.0f32);
        }
        // Spike steps of each distinct current.
        let mut per_current: Vec<Vec<u32>> = vec![Vec::new(); current.len()];
        for t in 0..steps {
            spikes.clear();
            lif_events(p, dt, &current, &mut v, &mut r, &mut spikes);
            for &id in &spikes {
                per_current[id as usize].push(t as u32);
            }
        }
        trains.clear();
        train_offsets.clear();
        train_offsets.push(0);
        for train in &per_current {
            trains.extend_from_slice(train);
            train_offsets.push(trains.len());
        }
        for (&i, &id) in active.iter().zip(&which) {
            let id = id as usize;
            for &t in &trains[train_offsets[id]..train_offsets[id + 1]] {
                buckets[t as usize].push(i);
            }
        }
        for bucket in &mut buckets {
            fired += bucket.len() as u64;
            events.idx.extend_from_slice(bucket);
            bucket.clear();
            events.close_slot();
        }
    }
    (events, fired)
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
    let inputs: Vec<Valued> = chains
        .iter()
        .map(|c| c.inputs(&sources[c.source], slots))
        .collect();
    let (order, a) = match cfg.synapse {
        Synapse::Alpha => (2, (-dt / cfg.tau_s).exp()),
        Synapse::Lowpass => (1, (-dt / cfg.tau_s).exp()),
        Synapse::None => (0, 0.0),
    };
    let mut scratch = ConvScratch::default();
    let mut fired = 0u64;
    let mut per_tile = Vec::with_capacity(tiles.len());
    for (t_index, &(first, width)) in tiles.iter().enumerate() {
        let mut events = Events::new();
        let mut u = vec![0.0f32; width];
        let mut y = vec![0.0f32; width];
        let mut stages = vec![vec![0.0f32; width]; order];
        let (mut v, mut r) = (vec![0.0; width], vec![0.0; width]);
        for (b, row) in base.rows().into_iter().enumerate() {
            let row = row.as_slice().unwrap_or(&[]);
            let bias = &row[first..first + width];
            for buf in [&mut v, &mut r] {
                buf.fill(0.0);
            }
            for stage in &mut stages {
                stage.fill(0.0);
            }
            for t in 0..steps {
                let slot = b * steps + t;
                u.fill(0.0);
                for (chain, input) in chains.iter().zip(&inputs) {
                    let (idx, val) = input.slot(slot);
                    apply(&chain.weights, t_index, idx, val, &mut y, &mut scratch);
                    let scale = chain.scale;
                    for (u, &y) in u.iter_mut().zip(&y) {
                        *u += scale * y;
                    }
                }
                for stage in &mut stages {
                    for (st, u) in stage.iter_mut().zip(u.iter_mut()) {
                        *st = a * *st + (1.0 - a) * *u;
                        *u = *st;
                    }
                }
                for (u, &b) in u.iter_mut().zip(bias) {
                    *u += b;
                }
                let at = events.idx.len();
                fired += lif_events(p, dt, &u, &mut v, &mut r, &mut events.idx) as u64;
                for i in &mut events.idx[at..] {
                    *i += first as u32;
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

    #[test]
    fn lif_events_equals_the_reference_population_step() {
        let p = node();
        let n = 501;
        let current: Vec<f32> = (0..n)
            .map(|k| (k as f32 * 0.37).sin() * 3.0 + 0.5)
            .collect();
        let (mut v, mut r, mut s) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let (mut v2, mut r2) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut total = 0;
        for _ in 0..300 {
            let want = lif_population(&p, 0.001, &current, &mut v, &mut r, &mut s);
            let mut got = Vec::new();
            assert_eq!(
                lif_events(&p, 0.001, &current, &mut v2, &mut r2, &mut got),
                want
            );
            let spiking: Vec<u32> = (0..n as u32).filter(|&k| s[k as usize] == 1.0).collect();
            assert_eq!(got, spiking);
            assert_eq!(
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                v2.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(r, r2);
            total += want;
        }
        assert!(total > 1000, "{total} spikes");
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
