//! The emulator's immutable program: a validated [`ChipConfig`] flattened into dense arrays
//! (compartment parameters, CSR synapse rows, fan-out lists, multicast trees), plus the target
//! numbers the tick needs.

use rustc_hash::FxHashMap as HashMap;

use lifchip_chip::{FlatChip, weight_format, xy_route};
use lifchip_target::{Accumulate, DecayKind, Overflow, Reset, Target, UpdateOrder, VoltageUpdate};

use crate::shapes::{AnyShapes, on_shapes};
use crate::{
    EmuError,
    synapses::{LayoutOverride, Row, Rows, Store, sum_layout},
};

/// "No tree" / "no node" / "no router".
pub(crate) const NONE: u32 = u32::MAX;

/// Largest supported values of the target's numbers (see docs/core-model.md, "Supported range").
const MAX_STATE_BITS: u32 = 32;
const MAX_SHIFT: u32 = 24;
const MAX_DELAY: u32 = 4096;
const MAX_SPIKES: u32 = 1024;
const MAX_MESH_CELLS: u64 = 1 << 24;
/// Synapse stores larger than this (about the L2 cache of a core) are read with the rows'
/// cache lines loaded one row ahead (see `engine::deliver_sum`), or than half the last-level
/// cache where the system reports it ([`touch_above_bytes`]).
const TOUCH_ABOVE_BYTES: usize = 4 << 20;

/// The store size above which rows are loaded ahead (and deliveries sorted by address):
/// [`TOUCH_ABOVE_BYTES`], or half the last-level cache when that is larger. A store that
/// fits the shared cache is read faster without: the paper conv net's 7.9 MB store (16 MB L3)
/// ran 1.3e9 synaptic events/s without, 1.1e9 with; a 180 MB one 3.7e8 without, 4.9e8 with.
/// Either way gives the same results (sums are wrapping).
fn touch_above_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        last_level_cache_bytes().map_or(TOUCH_ABOVE_BYTES, |b| TOUCH_ABOVE_BYTES.max(b / 2))
    })
}

/// The largest data cache Linux reports for CPU 0 (`/sys/devices/system/cpu/cpu0/cache`), in
/// bytes; `None` elsewhere or when unreadable.
fn last_level_cache_bytes() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(|entry| {
        let path = entry.ok()?.path();
        let kind = std::fs::read_to_string(path.join("type")).ok()?;
        if kind.trim() == "Instruction" {
            return None;
        }
        parse_cache_size(&std::fs::read_to_string(path.join("size")).ok()?)
    })
    .max()
}

/// A sysfs cache size (`"16384K"`, `"32M"`, `"512"`) in bytes.
fn parse_cache_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: usize = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// The target numbers the tick reads, copied out of [`Target`].
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub decay: DecayKind,
    pub decay_bits: u32,
    pub min_step: bool,
    pub order: UpdateOrder,
    pub reset: Reset,
    pub current_bits: u32,
    pub current_overflow: Overflow,
    pub voltage_bits: u32,
    pub voltage_overflow: Overflow,
    pub input_shift: u32,
    pub accumulator_bits: u32,
    pub synaptic_delay: u32,
    pub input_delay: u32,
    /// `neuron.synaptic_currents: 2`: a second current `u2` per compartment (per-event only).
    pub two_currents: bool,
    /// `neuron.voltage_update: saturated_delta` (Xylo v2).
    pub saturated_delta: bool,
}

/// One node of a multicast tree: a router the packet visits (the tests' materialised trees;
/// the emulator walks [`Shapes`]).
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    /// Dense index of the router.
    pub router: u32,
    /// Child node reached over the link in direction `d` (+x, -x, +y, -y), or [`NONE`].
    pub child: [u32; 4],
    /// The packet is delivered to this router's core.
    pub eject: bool,
}

/// Materialised multicast trees: a node per router of each tree (the network tests' form,
/// and the oracle of [`Shapes`]).
#[cfg(test)]
#[derive(Clone, Debug, Default)]
pub(crate) struct Topology {
    /// Routers any tree touches.
    pub routers: usize,
    pub nodes: Vec<Node>,
    /// Root node of each tree.
    pub roots: Vec<u32>,
    /// Links of each tree.
    pub hops: Vec<u32>,
    /// The y links among them.
    pub hops_y: Vec<u32>,
}

/// How a row's synaptic operations are priced (`timing.cycles_per_*synop`, `energy.*synop_joules`).
pub(crate) const ROW_SPARSE: u8 = 0;
pub(crate) const ROW_DENSE: u8 = 1;
pub(crate) const ROW_SHARED: u8 = 2;

/// The synapse count's bits in a [`Program::cycle_fan`] entry; the price class is above.
pub(crate) const CYCLE_FAN_LEN: u32 = (1 << 30) - 1;

/// [`Program::cycle_fan`]'s entries, per compartment, each built on its compartment's first
/// spike: about half the compartments of the 40k CUBA chip never spike in 10,000 ticks, and
/// the table for all of them (30.7 M entries) cost the first cycle-accurate run about 0.35 s
/// to build and fault in.
#[derive(Debug)]
pub(crate) struct CycleFan {
    /// The price classes packed four to a byte (see [`Program::packed_kinds`]), built when
    /// a compartment's entries are walked (not read off its list's runs).
    kinds: std::sync::OnceLock<Vec<u8>>,
    pub entries: CycleFanEntries,
    /// A bit per compartment (`k / 64`, bit `k % 64`) whose spikes are counted from its
    /// fan-out list's runs, with no entries (see [`Program::run_classes`]).
    by_runs: Vec<u64>,
    /// [`Program::slot_core`] in 16 bits (half the cache lines for the runs' counts), when
    /// some compartment is counted by runs and every core number fits; else empty.
    pub slot_core16: Vec<u16>,
}

/// Per compartment: its fan-out's entries once built.
pub(crate) type FanCells<E> = Vec<std::sync::OnceLock<Box<[E]>>>;

/// What the rows of each input channel's axons count, for the channels' lists (see
/// [`Program::input_lists`]): a spike of channel `c` adds `synops[c]` synaptic operations
/// (`dense[c]` and `shared[c]` of them in dense and shared rows) and a delivery per axon.
#[derive(Clone, Debug, Default)]
pub(crate) struct InputLists {
    pub synops: Vec<u64>,
    pub dense: Vec<u64>,
    pub shared: Vec<u64>,
    /// Per axon of `in_axon` (the same order): its row's core and `synapses | class << 30`,
    /// what the cycle model prices per delivery.
    pub entries: Vec<(u32, u32)>,
}

/// The input channels' lists hold at most this many synapses (see [`InputLists`]).
const INPUT_LISTS_MAX: usize = 1 << 22;

/// [`CycleFan`]'s entries in one of two forms.
#[derive(Debug)]
pub(crate) enum CycleFanEntries {
    /// `core | synapses << 16 | class << 30`, when every core number fits 16 bits and every
    /// fan-out row's synapses [`NARROW_LEN`]: half the bytes of `Wide` to fault in and write
    /// on the first cycle-accurate run and to read per spike.
    Narrow(FanCells<u32>),
    /// `(core, synapses | class << 30)`.
    Wide(FanCells<(u32, u32)>),
}

/// The synapse count's bits in a [`CycleFan::Narrow`] entry (above the core's 16).
const NARROW_LEN: u32 = (1 << 14) - 1;

/// An entry of [`CycleFan`]: made of and read as a core and `synapses | class << 30`.
pub(crate) trait FanEntry: Copy + Default + Send + Sync {
    fn new(core: u32, synapses_class: u32) -> Self;
    /// [`FanEntry::new`] of `synapses | class` with `class` already shifted into place: fewer
    /// operations in [`FanRuns::entries`]' loop, where `class` is the same for every slot.
    fn with_class(core: u32, synapses: u32, class: u32) -> Self;
    fn core(self) -> u32;
    fn synapses_class(self) -> u32;
}

impl FanEntry for u32 {
    #[inline(always)]
    fn new(core: u32, lk: u32) -> u32 {
        core | (lk & NARROW_LEN) << 16 | (lk >> 30) << 30
    }
    #[inline(always)]
    fn with_class(core: u32, len: u32, class: u32) -> u32 {
        core | (len & NARROW_LEN) << 16 | class
    }
    #[inline(always)]
    fn core(self) -> u32 {
        self & 0xffff
    }
    #[inline(always)]
    fn synapses_class(self) -> u32 {
        (self >> 16 & NARROW_LEN) | (self >> 30) << 30
    }
}

impl FanEntry for (u32, u32) {
    #[inline(always)]
    fn new(core: u32, lk: u32) -> (u32, u32) {
        (core, lk)
    }
    #[inline(always)]
    fn with_class(core: u32, len: u32, class: u32) -> (u32, u32) {
        (core, len | class)
    }
    #[inline(always)]
    fn core(self) -> u32 {
        self.0
    }
    #[inline(always)]
    fn synapses_class(self) -> u32 {
        self.1
    }
}

#[derive(Debug)]
pub(crate) struct Program {
    pub params: Params,
    pub target: Target,
    pub n_cores: usize,
    /// Per core: compartments.
    pub core_neurons: Vec<u64>,
    // Compartments (global index: cores in order, then compartment index).
    pub comp_core: Vec<u32>,
    pub comp_pop: Vec<u32>,
    /// Multiplicative: the factor `2^decay_bits - d - offset` (at least 0); shift: `d`.
    pub u_decay: Vec<i64>,
    /// The second current's decay (empty with one current).
    pub u2_decay: Vec<i64>,
    pub v_decay: Vec<i64>,
    /// `threshold << threshold_shift`.
    pub vth: Vec<i64>,
    /// The spike test is `v > vth_test`: `vth`, or `vth - 1` with `spike_test: greater_equal`.
    pub vth_test: Vec<i64>,
    /// `bias << bias_exp`.
    pub bias: Vec<i64>,
    /// `u` and `v` after loading and reset.
    pub initial_u: Vec<i64>,
    pub initial_v: Vec<i64>,
    pub refractory: Vec<u32>,
    /// Some compartment has a refractory period.
    pub any_refractory: bool,
    pub max_spikes: Vec<u32>,
    /// Accumulator slots of compartment `k` (sum-then-add): `comp_slots[comp_slot_start[k]..
    /// comp_slot_start[k + 1]]`, each `(global slot, group exponent)`.
    pub comp_slot_start: Vec<u32>,
    pub comp_slots: Vec<(u32, i32)>,
    /// First accumulator slot of each core, and one more entry: the total.
    pub core_slot_base: Vec<u32>,
    /// Length of the accumulator array (slots plus the padding of [`crate::synapses::U16_WINDOW`]).
    pub acc_len: usize,
    /// Stored weights are the true weights divided by this (a power of two).
    pub w_scale: i64,
    /// Slot blocks `(first slot, end, group exponent + log2(w_scale))`, one per run of
    /// consecutive (core, group) blocks of the same shift, and the compartment of each slot.
    pub slot_blocks: Vec<(u32, u32, i32)>,
    pub slot_comp: Vec<u32>,
    /// With `sparse_gather`: the shift of each slot (its block's), for gathering only the
    /// slots this tick's deliveries touched.
    pub slot_shift: Vec<i8>,
    /// Gather the inputs from the slots this tick's deliveries touched when they are few
    /// (sum-then-add without accumulator wrap or partial sums; see `engine::gather_sparse`).
    pub sparse_gather: bool,
    /// When every accumulator is at most `2^gather_bits` in magnitude, no value of the
    /// block-wise input gathering can leave 64 bits (0: always gather exactly).
    pub gather_bits: u32,
    /// Fan-out of compartment `k`: global axons `fan_axon[fan_start[k]..fan_start[k + 1]]`.
    pub fan_start: Vec<usize>,
    pub fan_axon: Vec<u32>,
    /// Every compartment's fan-out is in ascending axon order (as the compiler writes them):
    /// its [`FanRuns`] are then its axons' rows, in order, with no check per compartment.
    pub fan_ascending: bool,
    /// Functional runs deliver a compartment's spikes through the store's per-compartment
    /// fan-out lists ([`crate::synapses::Typed::fan_slot`]) instead of axon by axon.
    pub fan_lists: bool,
    /// With `fan_lists`: the fan-out lists' synapses may add straight into the compartments'
    /// inputs, `inp[slot_comp[slot]] += w << shift`, instead of into the accumulators and
    /// through the gather (see `engine::deliver_fan`). `Some((shift, entries))` when every
    /// slot has the same left shift `shift`; a tick does so when its spikes' lists hold fewer
    /// than `entries` entries (by `fan_synops`, at least a list's length): then no
    /// compartment's sum from them, at most (entries) × (largest weight) << shift, reaches
    /// 2^40, and with the gathered rows' terms (below 2^62) no input leaves 64 bits: the
    /// gather's result, bit for bit.
    pub direct_fan: Option<(u32, u64)>,
    /// Per compartment with `fan_lists`: the synaptic operations of one spike (its rows'
    /// synapses), and among them those of dense and of shared rows (empty when the target
    /// prices every row alike).
    pub fan_synops: Vec<u64>,
    pub fan_dense: Vec<u64>,
    pub fan_shared: Vec<u64>,
    /// The price classes of the fan-out rows per compartment, when few rows differ from
    /// their compartment's usual class (see [`crate::synapses::FanKinds`]).
    pub fan_kinds: Option<crate::synapses::FanKinds>,
    /// With `fan_lists`: a bit per compartment whose fan-out has a row without synapses
    /// (see [`crate::synapses::FanCounts::empty_rows`]).
    pub fan_empty_rows: Vec<u64>,
    /// With `fan_lists`: the input channels' spikes go through per-channel lists too (the
    /// store's [`crate::synapses::Typed::in_slot`]), with what their rows would count.
    pub input_lists: Option<InputLists>,
    /// Multicast tree of compartment `k`'s packets, or [`NONE`] without fan-out.
    pub comp_tree: Vec<u32>,
    // Axons (global index: cores in order, then axon index).
    /// Row of each axon.
    pub rows: Rows,
    /// Sum-then-add: the synapse store the rows point into.
    pub store: Option<Store>,
    /// Per-event: `(compartment, (weight shifted by its exponent) << input_shift)`.
    pub ev: Vec<(u32, i64)>,
    /// Synapses on all cores.
    pub synapses: u64,
    /// Load each row's cache lines ahead of its use: the store is larger than the caches.
    pub touch_rows: bool,
    // External inputs.
    pub in_start: Vec<usize>,
    pub in_axon: Vec<u32>,
    pub in_tree: Vec<u32>,
    // Populations.
    pub pop_names: Vec<String>,
    pub pop_is_input: Vec<bool>,
    /// Global compartment of each neuron of each population (empty for inputs).
    pub pop_comps: Vec<Vec<u32>>,
    pub readout: u32,
    /// Links and y links of each multicast tree (what functional runs count).
    pub hops: Vec<u32>,
    pub hops_y: Vec<u32>,
    /// The packet each tree was first built for; [`Program::shapes`] rebuilds the trees
    /// from them.
    pub tree_recipes: Vec<Recipe>,
    /// Mesh position of each core, and the first global axon of each core (one more entry:
    /// the total).
    pub core_xy: Vec<(u32, u32)>,
    /// Per core: its router's bit in [`TreeSrc::route`]'s bitmap of the mesh (x-major), or
    /// [`NONE`] for a router outside the mesh (see [`router_bits`]).
    pub core_bit: Vec<u32>,
    pub axon_base: Vec<usize>,
    /// Finds the core of a global axon without a binary search (see [`AxonCores`]).
    pub axon_cores: AxonCores,
    /// The trees' shapes, built on first use: only the cycle model walks them (see
    /// [`Program::with_shapes`]).
    pub shapes: std::sync::RwLock<Option<ShapesCell>>,
    /// With `cycle_fan_lists`: the core, synapses and price class of each axon of `fan_axon`
    /// (same order), built on the first cycle-accurate run (see [`Program::cycle_fan`]).
    pub cycle_fan: std::sync::OnceLock<CycleFan>,
    /// Cycle-accurate runs deliver through the fan-out lists too: `fan_lists`, and every
    /// row's synapse count fits [`CYCLE_FAN_LEN`] (beside its price class).
    pub cycle_fan_lists: bool,
    /// With `cycle_fan_lists` and [`Rows::Csr`]: the core of each accumulator slot, so that
    /// a compartment's destination cores come from its store list (see [`FanRuns`]); empty
    /// otherwise.
    pub slot_core: Vec<u32>,
    /// Partial sums of split neurons, applied each tick between delivery and update.
    pub partials: Vec<PartialMove>,
    /// Messages of compartment `k`'s packet: its distinct destination cores.
    pub comp_msgs: Vec<u32>,
    /// Messages of input channel `c`'s packet: its distinct destination cores.
    pub in_msgs: Vec<u32>,
    /// Price class of each axon's row ([`ROW_SPARSE`], [`ROW_DENSE`], [`ROW_SHARED`]); empty
    /// when the target prices every row alike.
    pub row_kind: Vec<u8>,
    /// The target prices active neurons (`cycles_per_active_neuron`, `active_neuron_joules`).
    pub price_active: bool,
    /// End-of-tick barrier for the tiles this configuration uses.
    pub barrier_cycles: u64,
}

/// Price class of each row of `config` (see [`Program::row_kind`]): shared when the target
/// stores kernels once, prices shared rows, and another row of the same group on the core is
/// identical up to a compartment offset; else dense when the target allows dense rows, prices
/// them, and the dense form is the smaller; else sparse.
fn row_kinds(config: &FlatChip) -> Vec<u8> {
    let t = config.target();
    let (tm, e) = (&t.timing, &t.energy);
    let price_shared = tm.cycles_per_shared_synop != 0 || e.shared_synop_joules != 0.0;
    let price_dense = tm.cycles_per_dense_synop != 0 || e.dense_synop_joules != 0.0;
    if !(price_shared || price_dense) {
        return Vec::new();
    }
    let (dense_rows, index_bits) = match t.core.synapse_cost {
        lifchip_target::SynapseCost::Sparse {
            dense_rows,
            index_bits,
            ..
        } => (dense_rows, u64::from(index_bits)),
        lifchip_target::SynapseCost::Crossbar => (true, 0),
    };
    let w = u64::from(t.precision.weight_bits);
    let mut kinds = Vec::with_capacity(config.cores().iter().map(|c| c.n_axons()).sum());
    let shared_on = price_shared && t.core.shared_kernels;
    // Per core: rows identical up to a compartment offset, by (group, relative content), as
    // class numbers with their count of rows. Rows of at most one synapse by their exact key;
    // longer ones by a hash, then an exact comparison with each class of that hash (axon of
    // the class, class number).
    let mut short: HashMap<u64, u32> = HashMap::default();
    let mut classes: HashMap<u64, Vec<(u32, u32)>> = HashMap::default();
    let mut users: Vec<u32> = Vec::new();
    let mut class_of: Vec<u32> = Vec::new();
    for core in config.cores() {
        short.clear();
        classes.clear();
        users.clear();
        class_of.clear();
        for (k, a) in core.axons().enumerate() {
            if !shared_on || a.synapses.is_empty() {
                class_of.push(NONE);
                continue;
            }
            let next = users.len() as u32;
            let class = match a.short_key() {
                Some(key) => *short.entry(key).or_insert(next),
                None => {
                    let list = classes.entry(a.relative_hash()).or_default();
                    match list
                        .iter()
                        .find(|&&(j, _)| core.axon(j as usize).is_some_and(|b| b.same_relative(&a)))
                    {
                        Some(&(_, class)) => class,
                        None => {
                            list.push((k as u32, next));
                            next
                        }
                    }
                }
            };
            if class == next {
                users.push(0);
            }
            users[class as usize] += 1;
            class_of.push(class);
        }
        for (a, &class) in core.axons().zip(&class_of) {
            let n = a.synapses.len() as u64;
            let shared = users.get(class as usize).is_some_and(|&u| u > 1);
            let kind = if shared {
                ROW_SHARED
            } else if price_dense
                && dense_rows
                && n > 0
                && a.span() * w + index_bits < n * (w + index_bits)
            {
                ROW_DENSE
            } else {
                ROW_SPARSE
            };
            kinds.push(kind);
        }
    }
    kinds
}

/// [`Program::direct_fan`]: the one left shift of every slot, and the entries a tick's lists
/// may hold, when the fan-out lists may add straight into the inputs. Only where the sparse
/// gather applies (no accumulator wrap, no partial sums), whose inputs the direct sums equal:
/// wrapping adds commute with a left shift, and bounded below 2^63 they are the exact sums.
fn direct_fan(p: &Program, overrides: &LayoutOverride) -> Option<(u32, u64)> {
    let store = p.store.as_ref()?;
    if !p.fan_lists || !p.sparse_gather || overrides.no_direct_fan {
        return None;
    }
    let shift = u32::try_from(p.slot_blocks.first()?.2).ok()?;
    if p.slot_blocks.iter().any(|b| b.2 != shift as i32) {
        return None;
    }
    // Sums of `entries` weights below 2^weight_bits, shifted, stay below 2^40.
    let room = 40u32.checked_sub(store.weight_bits() + shift)?;
    Some((shift, 1u64 << room))
}

/// Per core, per group: `(group, first global slot, compartments ascending)` (from the
/// sum-then-add layout), to find the slot a partial sum joins.
struct SlotOf(Vec<Vec<(u16, u32, Vec<u32>)>>);

impl SlotOf {
    fn get(&self, core: usize, group: u16, comp: u32) -> Option<u32> {
        let (_, first, comps) = self.0.get(core)?.iter().find(|g| g.0 == group)?;
        let j = comps.binary_search(&comp).ok()?;
        Some(first + j as u32)
    }
}

/// The configuration [`Program::build`] reads: borrowed, or owned and then partly dropped.
enum ConfigSrc<'a> {
    Borrowed(&'a FlatChip),
    Owned(Box<FlatChip>),
}

impl ConfigSrc<'_> {
    fn get(&self) -> &FlatChip {
        match self {
            ConfigSrc::Borrowed(c) => c,
            ConfigSrc::Owned(c) => c,
        }
    }

    /// Drops an owned configuration's axons and synapses ([`FlatChip::drop_axons`]).
    fn release(&mut self) {
        if let ConfigSrc::Owned(c) = self {
            c.drop_axons();
        }
    }
}

/// One partial-sum compartment's link to its neuron: each tick, accumulator slot `from` is
/// added into slot `to` and cleared (a graded packet along `tree` to core `core` when
/// nonzero).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PartialMove {
    pub from: u32,
    pub to: u32,
    pub tree: u32,
    pub core: u32,
}

fn unsupported(target: &Target, field: &str, value: impl ToString, expected: &str) -> EmuError {
    EmuError::Unsupported {
        target: target.name.clone(),
        field: field.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn check_target(t: &Target) -> Result<(), EmuError> {
    let p = &t.precision;
    let n = &t.neuron;
    let range = |field: &str, value: u32, lo: u32, hi: u32| {
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(unsupported(t, field, value, &format!("{lo}..={hi}")))
        }
    };
    range("precision.current_bits", p.current_bits, 2, MAX_STATE_BITS)?;
    range("precision.voltage_bits", p.voltage_bits, 2, MAX_STATE_BITS)?;
    range("precision.input_shift", p.input_shift, 0, MAX_SHIFT)?;
    range("precision.threshold_shift", p.threshold_shift, 0, MAX_SHIFT)?;
    range("precision.bias_exp_max", p.bias_exp_max, 0, MAX_SHIFT)?;
    range("precision.accumulator_bits", p.accumulator_bits, 0, 62)?;
    if n.decay == DecayKind::Multiplicative {
        range("neuron.decay_bits", n.decay_bits, 1, 30)?;
    }
    range("neuron.synaptic_delay", n.synaptic_delay, 1, MAX_DELAY)?;
    range("neuron.input_delay", n.input_delay, 0, MAX_DELAY)?;
    range(
        "neuron.max_spikes_per_tick",
        n.max_spikes_per_tick,
        0,
        MAX_SPIKES,
    )?;
    range(
        "neuron.readout_max_spikes_per_tick",
        n.readout_max_spikes_per_tick,
        0,
        MAX_SPIKES,
    )?;
    range(
        "mesh.link_packets_per_cycle",
        t.mesh.link_packets_per_cycle,
        1,
        u32::MAX,
    )?;
    range("mesh.fifo_depth", t.mesh.fifo_depth, 1, u32::MAX)?;
    range("neuron.synaptic_currents", n.synaptic_currents, 1, 2)?;
    if n.synaptic_currents > 1 && n.accumulate != Accumulate::PerEventSaturating {
        return Err(unsupported(
            t,
            "neuron.synaptic_currents",
            n.synaptic_currents,
            "1 with sum_then_add accumulation",
        ));
    }
    if t.num_cores() > MAX_MESH_CELLS {
        return Err(unsupported(
            t,
            "mesh.width * mesh.height",
            t.num_cores(),
            "at most 2^24 routers",
        ));
    }
    if !(t.timing.clock_hz.is_finite() && t.timing.clock_hz > 0.0) {
        return Err(unsupported(
            t,
            "timing.clock_hz",
            t.timing.clock_hz,
            "a positive number",
        ));
    }
    let e = &t.energy;
    for (field, value) in [
        ("energy.synop_joules", e.synop_joules),
        ("energy.neuron_update_joules", e.neuron_update_joules),
        ("energy.spike_out_joules", e.spike_out_joules),
        ("energy.hop_joules", e.hop_joules),
        ("energy.static_watts_per_core", e.static_watts_per_core),
        ("energy.dense_synop_joules", e.dense_synop_joules),
        ("energy.shared_synop_joules", e.shared_synop_joules),
        ("energy.active_neuron_joules", e.active_neuron_joules),
        ("energy.spike_joules", e.spike_joules),
        ("energy.message_joules", e.message_joules),
        ("energy.hop_y_joules", e.hop_y_joules),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(unsupported(t, field, value, "a finite number >= 0"));
        }
    }
    Ok(())
}

/// Distinct values of `cores`.
fn distinct(cores: &[u32]) -> u32 {
    let mut c = cores.to_vec();
    c.sort_unstable();
    c.dedup();
    c.len() as u32
}

/// Joins consecutive slot blocks of the same shift (the blocks tile the slots in order), so
/// that gathering the inputs of many small cores is one loop, not one per (core, group).
fn merge_blocks(blocks: Vec<(u32, u32, i32)>) -> Vec<(u32, u32, i32)> {
    let mut out: Vec<(u32, u32, i32)> = Vec::with_capacity(blocks.len().min(1024));
    for b in blocks {
        match out.last_mut() {
            Some(last) if last.1 == b.0 && last.2 == b.2 => last.1 = b.1,
            _ => out.push(b),
        }
    }
    out
}

fn shift(x: i64, e: i32) -> i64 {
    if e >= 0 { x << e } else { x >> (-e).min(63) }
}

impl Program {
    pub fn new(config: &FlatChip, overrides: &LayoutOverride) -> Result<Program, EmuError> {
        Program::build(ConfigSrc::Borrowed(config), overrides)
    }

    /// [`Program::new`] from a configuration it may consume: its axons and synapses are
    /// dropped once laid out, before the fan-out lists are built (a big chip's peak memory).
    pub fn new_owned(config: FlatChip, overrides: &LayoutOverride) -> Result<Program, EmuError> {
        Program::build(ConfigSrc::Owned(Box::new(config)), overrides)
    }

    fn build(mut src: ConfigSrc, overrides: &LayoutOverride) -> Result<Program, EmuError> {
        let config = src.get();
        config.validate()?;
        let target = config.target().clone();
        let t = &target;
        check_target(t)?;
        let weights = weight_format(t)?;
        let n = &t.neuron;
        let p = &t.precision;
        let params = Params {
            decay: n.decay,
            decay_bits: n.decay_bits,
            min_step: n.shift_min_step,
            order: n.order,
            reset: n.reset,
            current_bits: p.current_bits,
            current_overflow: p.current_overflow,
            voltage_bits: p.voltage_bits,
            voltage_overflow: p.voltage_overflow,
            input_shift: p.input_shift,
            accumulator_bits: p.accumulator_bits,
            synaptic_delay: n.synaptic_delay,
            input_delay: n.input_delay,
            two_currents: n.synaptic_currents > 1,
            saturated_delta: n.voltage_update == VoltageUpdate::SaturatedDelta,
        };
        let too_big =
            |what: &str| unsupported(t, what, "more than 2^32 - 1", "fewer (indices are 32-bit)");
        let mut comp_base = Vec::with_capacity(config.cores().len() + 1);
        let mut axon_base = Vec::with_capacity(config.cores().len() + 1);
        let (mut nc, mut na) = (0usize, 0usize);
        for core in config.cores() {
            comp_base.push(nc);
            axon_base.push(na);
            nc += core.compartments().len();
            na += core.n_axons();
        }
        comp_base.push(nc);
        axon_base.push(na);
        // With two currents, per-event synapses name `nc + k` for compartment `k`'s second one.
        let comp_limit = if t.neuron.synaptic_currents > 1 {
            NONE as usize / 2
        } else {
            NONE as usize
        };
        if nc >= comp_limit {
            return Err(too_big("compartments"));
        }
        if na >= NONE as usize {
            return Err(too_big("axons"));
        }
        let global_axon = |core: u32, axon: u32| (axon_base[core as usize] + axon as usize) as u32;

        // Compartments.
        let unity = 1i64 << n.decay_bits.min(30);
        let factor = |d: u32, offset: u32| match n.decay {
            DecayKind::Multiplicative => (unity - i64::from(d) - i64::from(offset)).max(0),
            DecayKind::Shift => i64::from(d),
        };
        let mut prog = Program {
            params,
            target: t.clone(),
            n_cores: config.cores().len(),
            core_neurons: config
                .cores()
                .iter()
                .map(|c| c.compartments().len() as u64)
                .collect(),
            comp_core: Vec::with_capacity(nc),
            comp_pop: Vec::with_capacity(nc),
            u_decay: Vec::with_capacity(nc),
            u2_decay: Vec::new(),
            v_decay: Vec::with_capacity(nc),
            vth: Vec::with_capacity(nc),
            bias: Vec::with_capacity(nc),
            initial_u: Vec::with_capacity(nc),
            initial_v: Vec::with_capacity(nc),
            vth_test: Vec::new(),
            refractory: Vec::with_capacity(nc),
            any_refractory: false,
            max_spikes: Vec::with_capacity(nc),
            comp_slot_start: Vec::new(),
            comp_slots: Vec::new(),
            core_slot_base: Vec::new(),
            acc_len: 0,
            w_scale: 1,
            slot_blocks: Vec::new(),
            slot_comp: Vec::new(),
            slot_shift: Vec::new(),
            sparse_gather: false,
            gather_bits: 0,
            fan_start: Vec::with_capacity(nc + 1),
            fan_axon: Vec::new(),
            fan_ascending: true,
            fan_lists: false,
            direct_fan: None,
            fan_synops: Vec::new(),
            fan_dense: Vec::new(),
            fan_shared: Vec::new(),
            fan_kinds: None,
            fan_empty_rows: Vec::new(),
            input_lists: None,
            comp_tree: Vec::with_capacity(nc),
            rows: Rows::default(),
            store: None,
            ev: Vec::new(),
            synapses: 0,
            touch_rows: false,
            in_start: Vec::with_capacity(config.inputs().len() + 1),
            in_axon: Vec::new(),
            in_tree: Vec::with_capacity(config.inputs().len()),
            pop_names: config
                .populations()
                .iter()
                .map(|p| p.name.clone())
                .collect(),
            pop_is_input: config.populations().iter().map(|p| p.is_input).collect(),
            pop_comps: Vec::with_capacity(config.populations().len()),
            readout: config.readout(),
            hops: Vec::new(),
            hops_y: Vec::new(),
            tree_recipes: Vec::new(),
            core_xy: config.cores().iter().map(|c| (c.x(), c.y())).collect(),
            core_bit: router_bits(t, config.cores().iter().map(|c| (c.x(), c.y()))),
            axon_cores: AxonCores::new(&axon_base),
            axon_base: axon_base.clone(),
            shapes: std::sync::RwLock::new(None),
            cycle_fan: std::sync::OnceLock::new(),
            cycle_fan_lists: false,
            slot_core: Vec::new(),
            partials: Vec::new(),
            comp_msgs: Vec::with_capacity(nc),
            in_msgs: Vec::with_capacity(config.inputs().len()),
            // Computed below, beside the synapse layout.
            row_kind: Vec::new(),
            price_active: t.timing.cycles_per_active_neuron != 0
                || t.energy.active_neuron_joules != 0.0,
            barrier_cycles: {
                let mut tiles: Vec<(u32, u32)> = config
                    .cores()
                    .iter()
                    .map(|c| t.router_of((c.x(), c.y())))
                    .collect();
                tiles.sort_unstable();
                tiles.dedup();
                t.barrier_cycles(tiles.len() as u64)
            },
        };
        for core in config.cores() {
            if let Some(comp) = core.compartments().iter().find(|k| k.bias_exp > MAX_SHIFT) {
                return Err(unsupported(
                    t,
                    "compartment bias_exp",
                    comp.bias_exp,
                    "0..=24",
                ));
            }
        }
        let exponents = config
            .cores()
            .iter()
            .flat_map(|c| c.group_exponents().iter().copied());
        if let Some(e) = exponents.clone().find(|e| e.unsigned_abs() > 31) {
            return Err(unsupported(t, "group exponent", e, "-31..=31"));
        }

        // Axons and synapses.
        let mut slot_of: Option<SlotOf> = None;
        let per_event = n.accumulate == Accumulate::PerEventSaturating;
        if per_event {
            let max_exp = exponents.max().unwrap_or(0).max(0) as u32;
            if weights.field_bits + max_exp + p.input_shift > 62 {
                return Err(unsupported(
                    t,
                    "weight bits + group exponent + input_shift",
                    weights.field_bits + max_exp + p.input_shift,
                    "at most 62 with per_event_saturating accumulation",
                ));
            }
        }
        prog.synapses = config.cores().iter().map(|c| c.n_synapses() as u64).sum();
        if per_event {
            let mut rows = Vec::with_capacity(na);
            for (c, core) in config.cores().iter().enumerate() {
                for axon in core.axons() {
                    let e = core
                        .group_exponents()
                        .get(usize::from(axon.group))
                        .copied()
                        .unwrap_or(0);
                    rows.push(Row {
                        start: prog.ev.len(),
                        span: axon.synapses.len() as u32,
                        len: axon.synapses.len() as u32,
                        lo: NONE,
                        core: c as u32,
                    });
                    // The second current of compartment `k` is addressed as `nc + k`.
                    let second = if axon.current == 2 { nc } else { 0 };
                    prog.ev.extend(axon.synapses.iter().map(|s| {
                        let k = second + comp_base[c] + s.compartment as usize;
                        (k as u32, shift(i64::from(s.weight), e) << p.input_shift)
                    }));
                }
            }
            prog.rows = Rows::Full(rows);
            prog.row_kind = row_kinds(config);
        } else {
            // Chips whose spikes will go through fan-out lists keep every row sparse, with
            // 4-byte descriptors (`Rows::Csr`): the lists, not the rows, serve the functional
            // mode there, and big sparse chips have one short row per synapse.
            let any_destination = config
                .cores()
                .iter()
                .any(|c| c.compartments().iter().any(|k| !k.destinations.is_empty()));
            let csr = crate::synapses::fan_wanted(
                prog.synapses,
                na as u64,
                any_destination,
                overrides.fanout,
            ) && prog.synapses < u64::from(u32::MAX);
            // Both read the configuration only: side by side on two threads.
            let (layout, kinds) = rayon::join(
                || sum_layout(config, &comp_base, overrides, csr),
                || row_kinds(config),
            );
            let layout = layout.map_err(too_big)?;
            prog.row_kind = kinds;
            slot_of = Some(SlotOf(layout.groups));
            prog.comp_slot_start = layout.comp_start;
            prog.comp_slots = layout.comp_slots;
            prog.core_slot_base = layout.core_base;
            prog.acc_len = layout.acc_len;
            prog.w_scale = layout.scale;
            prog.slot_blocks = merge_blocks(layout.blocks);
            prog.slot_comp = layout.slot_comp;
            // Terms are at most 2^(bits + max shift), a compartment sums at most 2^l of them.
            let max_shift = prog
                .slot_blocks
                .iter()
                .map(|b| b.2)
                .max()
                .unwrap_or(0)
                .max(prog.w_scale.trailing_zeros() as i32)
                .max(0) as u32;
            let max_slots = prog
                .comp_slot_start
                .windows(2)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or(1)
                .max(1);
            let l = u32::BITS - (max_slots - 1).leading_zeros();
            prog.gather_bits = if overrides.exact_gather {
                0
            } else {
                62u32.saturating_sub(max_shift + l)
            };
            prog.rows = layout.rows;
            prog.touch_rows = layout.store.bytes() > touch_above_bytes();
            if let Some(touch) = overrides.touch {
                prog.touch_rows = touch;
            }
            prog.store = Some(layout.store);
        }

        // The axons and synapses are laid out: a consumed configuration lets them go.
        src.release();
        let config = src.get();

        let mut trees = TreeIndex::default();
        let n_dest = config
            .cores()
            .iter()
            .flat_map(|c| c.compartments())
            .map(|k| k.destinations.len())
            .sum();
        prog.fan_axon.reserve_exact(n_dest);
        let mut mark = vec![NONE; config.cores().len()];
        for (c, core) in config.cores().iter().enumerate() {
            for comp in core.compartments() {
                prog.comp_core.push(c as u32);
                prog.comp_pop.push(comp.population);
                prog.u_decay
                    .push(factor(comp.current_decay, n.current_decay_offset));
                if prog.params.two_currents {
                    prog.u2_decay
                        .push(factor(comp.current_decay_2, n.current_decay_offset));
                }
                prog.v_decay
                    .push(factor(comp.voltage_decay, n.voltage_decay_offset));
                prog.vth
                    .push(i64::from(comp.threshold) << p.threshold_shift);
                if comp.bias_exp > MAX_SHIFT {
                    return Err(unsupported(
                        t,
                        "compartment bias_exp",
                        comp.bias_exp,
                        "0..=24",
                    ));
                }
                prog.bias.push(i64::from(comp.bias) << comp.bias_exp);
                prog.initial_u.push(i64::from(comp.initial_u));
                prog.initial_v.push(i64::from(comp.initial_v));
                prog.refractory.push(comp.refractory);
                prog.max_spikes.push(comp.max_spikes);
                let first = prog.fan_axon.len();
                prog.fan_start.push(first);
                prog.fan_axon.extend(
                    comp.destinations
                        .iter()
                        .map(|d| global_axon(d.core, d.axon)),
                );
                // Read while in the cache: each first spike's entries then skip the check.
                prog.fan_ascending &= prog.fan_axon[first..].is_sorted_by(|a, b| a < b);
                // Distinct destination cores: a mark per core, stamped with the compartment.
                let stamp = prog.comp_msgs.len() as u32;
                let mut msgs = 0u32;
                for d in &comp.destinations {
                    match mark.get_mut(d.core as usize) {
                        Some(m) if *m == stamp => {}
                        Some(m) => {
                            *m = stamp;
                            msgs += 1;
                        }
                        // Not a core (not in a valid configuration): counted by sorting.
                        None => {
                            let cores: Vec<u32> =
                                comp.destinations.iter().map(|d| d.core).collect();
                            msgs = distinct(&cores);
                            break;
                        }
                    }
                }
                prog.comp_msgs.push(msgs);
            }
        }
        prog.fan_start.push(prog.fan_axon.len());
        drop(mark);
        // The compartments' multicast trees and the fan-out lists read the same tables and
        // write different ones: side by side on two threads. The trees do not see the lists
        // (`fan_runs` needs `slot_core`, set only below), as when they were built first.
        let mut store = prog.store.take();
        let (comp_tree, counts) = {
            let prog = &prog;
            let trees = &mut trees;
            rayon::join(
                || -> Result<Vec<u32>, EmuError> {
                    let src = prog.tree_src();
                    (0..nc)
                        .map(|k| trees.tree(&src, Recipe::Comp(k as u32)))
                        .collect()
                },
                || {
                    store.as_mut().map(|store| {
                        crate::synapses::fan_lists(
                            store,
                            &prog.rows,
                            &prog.row_kind,
                            &prog.core_slot_base,
                            &prog.fan_start,
                            &prog.fan_axon,
                            overrides.fanout,
                        )
                    })
                },
            )
        };
        prog.store = store;
        prog.comp_tree = comp_tree?;
        // `None`: no store (per-event synapses); `Some(None)`: no lists.
        match counts {
            Some(Some(counts)) => {
                prog.fan_lists = true;
                prog.cycle_fan_lists = prog.rows.iter().all(|r| r.len <= CYCLE_FAN_LEN);
                if prog.cycle_fan_lists && matches!(prog.rows, Rows::Csr { .. }) {
                    prog.slot_core = slot_cores(&prog.core_slot_base);
                }
                prog.fan_synops = counts.synops;
                prog.fan_dense = counts.dense;
                prog.fan_shared = counts.shared;
                prog.fan_kinds = counts.kinds;
                prog.fan_empty_rows = counts.empty_rows;
            }
            Some(None) if matches!(prog.rows, Rows::Csr { .. }) => {
                // No lists after all (an axon reached from several compartments): the rows
                // serve every delivery, without a core search each.
                prog.rows = Rows::Full(prog.rows.iter().collect());
            }
            _ => {}
        }

        // External inputs enter at the host router, at core 0's position (see `TreeSrc`).
        for dests in config.inputs() {
            prog.in_start.push(prog.in_axon.len());
            prog.in_axon
                .extend(dests.iter().map(|d| global_axon(d.core, d.axon)));
            let cores: Vec<u32> = dests.iter().map(|d| d.core).collect();
            prog.in_msgs.push(distinct(&cores));
        }
        prog.in_start.push(prog.in_axon.len());
        if prog.fan_lists {
            prog.input_lists = prog.build_input_lists();
        }
        for c in 0..config.inputs().len() {
            let tree = trees.tree(&prog.tree_src(), Recipe::Input(c as u32))?;
            prog.in_tree.push(tree);
        }

        // Partial sums: the one slot of each partial-sum compartment feeds the slot of its
        // neuron's compartment in the group it names (the chip's validation guarantees one
        // group on the partial sum, of the same exponent as the one it joins).
        for (c, core) in config.cores().iter().enumerate() {
            for (k, comp) in core.compartments().iter().enumerate() {
                let Some(root) = comp.partial_of else {
                    continue;
                };
                if per_event {
                    return Err(unsupported(
                        t,
                        "partial-sum compartments",
                        "present",
                        "none with per_event_saturating accumulation",
                    ));
                }
                let own_slot = |g: usize| -> Option<u32> {
                    let (a, b) = (
                        *prog.comp_slot_start.get(g)? as usize,
                        *prog.comp_slot_start.get(g + 1)? as usize,
                    );
                    (b == a + 1).then(|| prog.comp_slots[a].0)
                };
                let from = own_slot(comp_base[c] + k);
                let to = slot_of
                    .as_ref()
                    .and_then(|s| s.get(root.core as usize, root.group, root.compartment));
                let (Some(from_slot), Some(to_slot)) = (from, to) else {
                    return Err(unsupported(
                        t,
                        "partial-sum compartment",
                        format!("core {c} compartment {k}"),
                        "one accumulator group on the partial sum and on its neuron",
                    ));
                };
                let recipe = Recipe::Partial {
                    from: c as u32,
                    to: root.core,
                };
                let tree = trees.tree(&prog.tree_src(), recipe)?;
                prog.partials.push(PartialMove {
                    from: from_slot,
                    to: to_slot,
                    tree,
                    core: root.core,
                });
            }
        }

        // Populations.
        for pop in config.populations() {
            prog.pop_comps.push(
                pop.placement
                    .iter()
                    .map(|&(core, slot)| (comp_base[core as usize] + slot as usize) as u32)
                    .collect(),
            );
        }
        prog.hops = trees.hops;
        prog.hops_y = trees.hops_y;
        prog.tree_recipes = trees.recipes;
        let ge = i64::from(n.spike_test == lifchip_target::SpikeTest::GreaterEqual);
        // `v > vth_test` is the spike test: v > vth, or v >= vth (vth >= 0).
        prog.vth_test = prog.vth.iter().map(|&v| v - ge).collect();
        prog.any_refractory = prog.refractory.iter().any(|&r| r > 0);
        let shifts_fit = prog.slot_blocks.iter().all(|b| i8::try_from(b.2).is_ok());
        prog.sparse_gather = prog.store.is_some()
            && prog.partials.is_empty()
            && prog.params.accumulator_bits == 0
            && prog.gather_bits > 0
            && shifts_fit
            && !overrides.dense_gather;
        prog.direct_fan = direct_fan(&prog, overrides);
        if prog.sparse_gather {
            prog.slot_shift = vec![0; prog.acc_len];
            for &(s0, s1, sh) in &prog.slot_blocks {
                // `shifts_fit`: every block's shift is an i8.
                prog.slot_shift[s0 as usize..s1 as usize].fill(sh as i8);
            }
        }
        Ok(prog)
    }

    /// Calls `f` with the multicast trees' shapes, from [`Program::tree_recipes`] (the same
    /// trees, in the same order, as at load), with `trees` among those built. On meshes of
    /// at most [`LAZY_CELLS`] routers each tree is built when first asked for
    /// ([`Shapes::lazy`]): a run builds only the trees its packets take. On bigger ones all
    /// are built on first use ([`Shapes::build`]: its routers are only those the trees
    /// touch).
    pub fn with_shapes<R>(&self, trees: &[u32], f: impl FnOnce(&AnyShapes) -> R) -> R {
        // Shared when every tree asked for is built (nearly always after the first ticks):
        // runs of one program on several threads (a batch of images) drain side by side.
        {
            let guard = self
                .shapes
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(cell) = guard.as_ref()
                && (!cell.lazy || trees.iter().all(|&t| cell.shapes.is_built(t)))
            {
                return f(&cell.shapes);
            }
        }
        let mut guard = self
            .shapes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cell = guard.get_or_insert_with(|| self.new_shapes());
        if cell.lazy && !trees.is_empty() {
            let src = self.tree_src();
            let ShapesCell {
                shapes,
                positions,
                seen,
                ..
            } = cell;
            on_shapes!(shapes, shapes => for &t in trees {
                if shapes.is_built(t) {
                    continue;
                }
                if let Some(&Recipe::Comp(k)) = self.tree_recipes.get(t as usize)
                    && let Some(from) = self.mark_by_cycle_fan(&src, k, seen)
                {
                    shapes.ensure_bits(t, from, seen);
                    continue;
                }
                shapes.ensure(t, positions, |i, out| match self.tree_recipes.get(i) {
                    Some(&Recipe::Comp(k)) => self
                        .route_by_cycle_fan(&src, k, out, seen)
                        .unwrap_or_else(|| src.route(Recipe::Comp(k), out, seen)),
                    Some(&r) => src.route(r, out, seen),
                    None => {
                        out.clear();
                        (0, 0)
                    }
                });
            });
            // Built (trees are never taken out): drained under the shared lock, so that a
            // drain on another thread (a cycle-accurate run's cycle thread) is not held up by it.
            if trees.iter().all(|&t| cell.shapes.is_built(t)) {
                drop(guard);
                // The shared path at the top finds them built.
                return self.with_shapes(trees, f);
            }
        }
        f(&cell.shapes)
    }

    /// The input channels' lists in the store and [`InputLists`], when every input row's
    /// synapses fit [`CYCLE_FAN_LEN`] and the lists [`INPUT_LISTS_MAX`] entries.
    fn build_input_lists(&mut self) -> Option<InputLists> {
        let channels = self.in_start.len().checked_sub(1)?;
        if channels == 0 {
            return None;
        }
        let mut lists = InputLists {
            synops: vec![0; channels],
            dense: vec![0; channels],
            shared: vec![0; channels],
            entries: Vec::with_capacity(self.in_axon.len()),
        };
        for c in 0..channels {
            for &a in self.in_axon.get(self.in_start[c]..self.in_start[c + 1])? {
                let r = self.rows.get(a as usize);
                if r.len > CYCLE_FAN_LEN {
                    return None;
                }
                let kind = self.row_kind.get(a as usize).copied().unwrap_or(ROW_SPARSE);
                let len = u64::from(r.len);
                lists.synops[c] += len;
                match kind {
                    ROW_DENSE => lists.dense[c] += len,
                    ROW_SHARED => lists.shared[c] += len,
                    _ => {}
                }
                lists.entries.push((r.core, r.len | u32::from(kind) << 30));
            }
        }
        let store = self.store.as_mut()?;
        let src = crate::synapses::InputAxons {
            rows: &self.rows,
            core_base: &self.core_slot_base,
            start: &self.in_start,
            axon: &self.in_axon,
        };
        store
            .build_input_lists(&src, INPUT_LISTS_MAX)
            .then_some(lists)
    }

    /// [`TreeSrc::route`] for compartment `k`'s packet from its [`Program::cycle_fan`]
    /// entries (built here if they are not yet), when cycle-accurate runs count spikes by
    /// them: its destination cores are the entries' cores. A compartment's tree is built on
    /// its first spike and its entries at the spike's delivery, the next tick: one walk of its
    /// fan-out list instead of two (each a table look-up per destination).
    fn route_by_cycle_fan(
        &self,
        src: &TreeSrc,
        k: u32,
        out: &mut Vec<(u32, u32)>,
        seen: &mut Vec<u64>,
    ) -> Option<(u32, u32)> {
        if !self.cycle_fan_lists {
            return None;
        }
        let from = *self.comp_core.get(k as usize)?;
        let cf = self.cycle_fan();
        if let Some(cores) = self.run_cores(cf, k as usize) {
            return Some(src.route_from(from, cores, out, seen));
        }
        Some(match &cf.entries {
            CycleFanEntries::Narrow(cells) => {
                let entries = self.cycle_fan_of(cf, cells, k as usize);
                src.route_from(from, entries.iter().map(|e| e.core()), out, seen)
            }
            CycleFanEntries::Wide(cells) => {
                let entries = self.cycle_fan_of(cf, cells, k as usize);
                src.route_from(from, entries.iter().map(|e| e.core()), out, seen)
            }
        })
    }

    /// [`Program::route_by_cycle_fan`]'s destination routers as a bitmap in `seen` (see
    /// [`TreeSrc::mark_cores`]), with the source router; `None` when the entries are not
    /// used or the bitmap does not serve.
    fn mark_by_cycle_fan(&self, src: &TreeSrc, k: u32, seen: &mut Vec<u64>) -> Option<(u32, u32)> {
        if !self.cycle_fan_lists {
            return None;
        }
        let from = *self.comp_core.get(k as usize)?;
        let cf = self.cycle_fan();
        if self.by_runs(cf, k as usize)
            && let Some(list) = self.fan_runs().and_then(|r| r.list(k as usize))
        {
            // Every slot's core (a run's repeats set the same bit), from the narrower table
            // where there is one.
            let n = self.fan_start[k as usize + 1] - self.fan_start[k as usize];
            let c16 = &cf.slot_core16;
            return src.mark_cores(from, n, seen, |bits| {
                if c16.is_empty() {
                    let sc = &self.slot_core;
                    list.iter()
                        .all(|&s| sc.get(s as usize).is_some_and(|&c| bits.set(c)))
                } else {
                    list.iter()
                        .all(|&s| c16.get(s as usize).is_some_and(|&c| bits.set(u32::from(c))))
                }
            });
        }
        match &cf.entries {
            CycleFanEntries::Narrow(cells) => {
                let entries = self.cycle_fan_of(cf, cells, k as usize);
                src.mark_cores(from, entries.len(), seen, |bits| {
                    entries.iter().all(|e| bits.set(e.core()))
                })
            }
            CycleFanEntries::Wide(cells) => {
                let entries = self.cycle_fan_of(cf, cells, k as usize);
                src.mark_cores(from, entries.len(), seen, |bits| {
                    entries.iter().all(|e| bits.set(e.core()))
                })
            }
        }
    }

    /// The routers of the trees' shapes when they are built, else 0.
    pub fn shape_routers(&self) -> usize {
        let guard = self
            .shapes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.as_ref().map_or(0, |c| c.shapes.routers())
    }

    /// The cycles of a hop along x and along y, at least one each (as the network
    /// simulation counts them; `cycles_per_hop_y` 0 is `cycles_per_hop`).
    pub(crate) fn hop(&self) -> [u64; 2] {
        let tm = &self.target.timing;
        let y = match tm.cycles_per_hop_y {
            0 => tm.cycles_per_hop,
            y => y,
        };
        [u64::from(tm.cycles_per_hop).max(1), u64::from(y).max(1)]
    }

    /// [`Program::with_shapes`]'s shapes on first use.
    fn new_shapes(&self) -> ShapesCell {
        let mesh = &self.target.mesh;
        let columns = mesh.width.div_ceil(mesh.cores_per_tile.max(1));
        // A tree has at most a router per destination, and at most the mesh's routers.
        let cells = (columns as usize).saturating_mul(mesh.height as usize);
        let len = |start: &[usize], i: u32| match (start.get(i as usize), start.get(i as usize + 1))
        {
            (Some(&a), Some(&b)) => b.saturating_sub(a),
            _ => 0,
        };
        let routers = self
            .tree_recipes
            .iter()
            .map(|&r| match r {
                Recipe::Comp(k) => len(&self.fan_start, k),
                Recipe::Input(c) => len(&self.in_start, c),
                Recipe::Partial { .. } => 1,
            })
            .map(|n| n.min(cells))
            .fold(0usize, usize::saturating_add);
        if cells <= LAZY_CELLS {
            return ShapesCell {
                shapes: AnyShapes::lazy((columns, mesh.height), self.tree_recipes.len(), routers)
                    .with_hop(self.hop()),
                lazy: true,
                ..ShapesCell::default()
            };
        }
        let src = self.tree_src();
        let mut seen = Vec::new();
        ShapesCell {
            shapes: AnyShapes::build(
                (columns, mesh.height),
                self.tree_recipes.len(),
                routers,
                |i, positions| src.route(self.tree_recipes[i], positions, &mut seen),
            )
            .with_hop(self.hop()),
            ..ShapesCell::default()
        }
    }

    /// Per axon of `fan_axon`, in its order: its core, and its synapses with its price class
    /// ([`ROW_SPARSE`] when rows are priced alike) above [`CYCLE_FAN_LEN`] — what the cycle
    /// model counts per core for a spike, read as one contiguous run per compartment instead
    /// of a row look-up per axon. Each compartment's entries are built on first use (see
    /// [`Program::cycle_fan_of`]), with [`Program::cycle_fan_lists`].
    pub fn cycle_fan(&self) -> &CycleFan {
        self.cycle_fan.get_or_init(|| {
            let n_comp = self.fan_start.len().saturating_sub(1);
            // A row's synapses are at most its compartment's spike's.
            let narrow = self.n_cores <= 1 << 16
                && self.fan_synops.iter().all(|&n| n <= u64::from(NARROW_LEN))
                && self.fan_synops.len() == n_comp;
            fn cells<T>(n: usize) -> Vec<std::sync::OnceLock<T>> {
                (0..n).map(|_| std::sync::OnceLock::new()).collect()
            }
            let by_runs = self.counted_by_runs(n_comp);
            let slot_core16 = if by_runs.iter().any(|&w| w != 0) && self.n_cores <= 1 << 16 {
                self.slot_core.iter().map(|&c| c as u16).collect()
            } else {
                Vec::new()
            };
            CycleFan {
                kinds: std::sync::OnceLock::new(),
                entries: if narrow {
                    CycleFanEntries::Narrow(cells(n_comp))
                } else {
                    CycleFanEntries::Wide(cells(n_comp))
                },
                by_runs,
                slot_core16,
            }
        })
    }

    /// [`CycleFan`]'s bits of the compartments counted from their lists' runs: with
    /// [`Rows::Csr`] (every row sparse, its slots listed one for one) and the lists' runs
    /// known, those whose rows are on distinct cores (`comp_msgs`, counted at load), each
    /// with synapses, and whose price classes are known per compartment. Their lists hold
    /// each row's slots back to back, and two rows of one compartment never share a core, so
    /// run `i` of the list is row `i`: its core, and its synapses as the run's slots.
    fn counted_by_runs(&self, n_comp: usize) -> Vec<u64> {
        let mut bits = vec![0u64; n_comp.div_ceil(64)];
        if !matches!(self.rows, Rows::Csr { .. }) || self.fan_runs().is_none() {
            return bits;
        }
        for k in 0..n_comp {
            let axons = self.fan_start[k + 1] - self.fan_start[k];
            let filled = self
                .fan_empty_rows
                .get(k / 64)
                .is_some_and(|w| w >> (k % 64) & 1 == 0);
            let distinct = self.comp_msgs.get(k).is_some_and(|&m| m as usize == axons);
            let classes = self.uniform_kind(k).is_some()
                || self.fan_kinds.as_ref().and_then(|f| f.of(k)).is_some();
            if filled && distinct && classes {
                bits[k / 64] |= 1 << (k % 64);
            }
        }
        bits
    }

    /// Whether the cycle model counts compartment `k`'s spikes, and builds its tree, from its
    /// fan-out list's runs (see [`Program::counted_by_runs`]) instead of its entries.
    #[inline]
    pub(crate) fn by_runs(&self, cf: &CycleFan, k: usize) -> bool {
        cf.by_runs
            .get(k / 64)
            .is_some_and(|w| w >> (k % 64) & 1 != 0)
    }

    /// Compartment `k`'s usual price class and its rows of another class (`(axon, class)`)
    /// when its spikes are counted from its list's runs ([`Program::by_runs`]).
    #[inline]
    pub(crate) fn run_classes(&self, cf: &CycleFan, k: usize) -> Option<(u8, &[(u32, u8)])> {
        if !self.by_runs(cf, k) {
            return None;
        }
        match self.uniform_kind(k) {
            Some(kind) => Some((kind, &[])),
            None => self.fan_kinds.as_ref()?.of(k),
        }
    }

    /// Compartment `k`'s entries of [`Program::cycle_fan`], built on its first call.
    #[inline]
    pub(crate) fn cycle_fan_of<'a, E: FanEntry>(
        &self,
        cf: &'a CycleFan,
        cells: &'a [std::sync::OnceLock<Box<[E]>>],
        k: usize,
    ) -> &'a [E] {
        let Some(cell) = cells.get(k) else {
            return &[];
        };
        cell.get_or_init(|| {
            let len = match (self.fan_start.get(k), self.fan_start.get(k + 1)) {
                (Some(&lo), Some(&hi)) => hi.saturating_sub(lo),
                _ => 0,
            };
            let mut out = vec![E::default(); len];
            self.cycle_fan_part(k..k + 1, &mut out, &cf.kinds);
            out.into_boxed_slice()
        })
    }

    /// The price classes packed four to a byte when some compartment's rows are not all of
    /// one class and the walk reads them (see [`Program::build_cycle_fan`]); else empty.
    fn packed_kinds(&self) -> Vec<u8> {
        let n_comp = self.fan_start.len().saturating_sub(1);
        let mixed = (0..n_comp).any(|k| self.uniform_kind(k).is_none());
        if mixed && matches!(self.rows, Rows::Csr { .. }) {
            self.row_kind
                .chunks(4)
                .map(|q| q.iter().rev().fold(0u8, |b, &k| b << 2 | (k & 3)))
                .collect()
        } else {
            Vec::new()
        }
    }

    /// [`Program::cycle_fan`]'s entry of global axon `a`.
    #[inline(always)]
    pub(crate) fn cycle_fan_entry(&self, a: u32) -> (u32, u32) {
        let (core, len) = match &self.rows {
            // The core from the axon table instead of `Rows::get`'s binary search over the
            // cores.
            Rows::Csr { start, .. } => (
                self.axon_cores.core_of(&self.axon_base, a),
                start[a as usize + 1] - start[a as usize],
            ),
            Rows::Full(rows) => (rows[a as usize].core, rows[a as usize].len),
        };
        let kind = self.row_kind.get(a as usize).copied().unwrap_or(ROW_SPARSE);
        (core, len | u32::from(kind) << 30)
    }

    /// All of [`Program::cycle_fan`]'s entries at once (the tests' check of the entries built
    /// per compartment). `parts`: ranges of compartments built in parallel on the pool (each
    /// entry is its axon's alone: any split gives the same list).
    ///
    /// The price classes are the one table still read at random, for compartments whose
    /// rows are not all of one class: packed four to a byte (a quarter of the cache lines and
    /// pages), a sequential pass.
    #[cfg(test)]
    pub(crate) fn build_cycle_fan<E: FanEntry>(&self, parts: usize) -> Vec<E> {
        let n_comp = self.fan_start.len().saturating_sub(1);
        let total = self.fan_axon.len();
        let mut out = vec![E::default(); total];
        let kinds = std::sync::OnceLock::new();
        let parts = parts.clamp(1, n_comp.max(1));
        // Compartment ranges of about equal entries, each with its part of `out`.
        let mut jobs = Vec::with_capacity(parts);
        let mut rest: &mut [E] = &mut out;
        let mut k0 = 0usize;
        for j in 1..=parts {
            let k1 = if j == parts {
                n_comp
            } else {
                let goal = total / parts * j;
                self.fan_start
                    .partition_point(|&s| s < goal)
                    .clamp(k0, n_comp)
            };
            let len = self.fan_start[k1] - self.fan_start[k0];
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            jobs.push((k0..k1, mine));
            k0 = k1;
        }
        if jobs.len() == 1 {
            for (comps, mine) in jobs {
                self.cycle_fan_part(comps, mine, &kinds);
            }
        } else {
            use rayon::prelude::*;
            jobs.into_par_iter()
                .for_each(|(comps, mine)| self.cycle_fan_part(comps, mine, &kinds));
        }
        out
    }

    /// [`Program::build_cycle_fan`] for compartments `comps`, into `out` (their entries).
    ///
    /// A fan-out's axons lie all over the row table (one per core on a random net): looking
    /// each one's row up missed the caches and the TLB on almost every axon (32 M on the 40k
    /// CUBA chip). With [`Rows::Csr`] the synapse counts are read from the store's fan-out
    /// list instead, alongside: it holds compartment `k`'s rows in ascending axon order, so
    /// when `k`'s fan-out is ascending too, each axon's synapses are the next entries of the
    /// list, and they are the ones in its core's slot range (the next axon's core comes
    /// later, its slots above). Only axons sharing a core with the next one read their row's
    /// length. A compartment the walk does not fit (a fan-out out of order, a list not used
    /// up) is looked up axon by axon.
    fn cycle_fan_part<E: FanEntry>(
        &self,
        comps: std::ops::Range<usize>,
        out: &mut [E],
        kinds: &std::sync::OnceLock<Vec<u8>>,
    ) {
        let Some(&base) = self.fan_start.get(comps.start) else {
            return;
        };
        let lists = match (&self.rows, &self.store) {
            (Rows::Csr { start, .. }, Some(store)) => {
                let (list_start, slots) = store.fan_slots();
                (list_start.len() == self.fan_start.len()).then_some((start, list_start, slots))
            }
            _ => None,
        };
        let runs = self.fan_runs();
        for k in comps {
            let (lo, hi) = (self.fan_start[k], self.fan_start[k + 1]);
            let axons = &self.fan_axon[lo..hi];
            let out = &mut out[lo - base..hi - base];
            if runs.is_some_and(|r| self.cycle_fan_runs(r, k, axons, out)) {
                continue;
            }
            let walked = lists.is_some_and(|(start, list_start, slots)| {
                let list = &slots[list_start[k]..list_start[k + 1]];
                let kinds = kinds.get_or_init(|| self.packed_kinds());
                self.cycle_fan_walk(axons, list, start, self.uniform_kind(k), kinds, out)
            });
            if !walked {
                for (e, &a) in out.iter_mut().zip(axons) {
                    let (core, lk) = self.cycle_fan_entry(a);
                    *e = E::new(core, lk);
                }
            }
        }
    }

    /// Compartment `k`'s entries from its list's runs (see [`FanRuns`]): each run's core and
    /// synapses, with its axon's price class; `false` when the runs are not its axons (`out`
    /// is then partly written) or its fan-out is not ascending (the list is: run `i` would
    /// not be axon `i`).
    #[inline]
    fn cycle_fan_runs<E: FanEntry>(
        &self,
        runs: FanRuns,
        k: usize,
        axons: &[u32],
        out: &mut [E],
    ) -> bool {
        if !self.fan_ascending && !axons.is_sorted_by(|a, b| a < b) {
            return false;
        }
        if let Some(kind) = self.uniform_kind(k) {
            return runs.entries(k, u32::from(kind) << 30, out);
        }
        // Else the compartment's usual class, then its few rows of another class (when
        // known) found among its axons: the same branch-free pass as a uniform class.
        if let Some((usual, other)) = self.fan_kinds.as_ref().and_then(|f| f.of(k)) {
            if !runs.entries(k, u32::from(usual) << 30, out) {
                return false;
            }
            for &(b, kind) in other {
                // `axons` ascends (checked above): run `j` is axon `j`'s row.
                if let Ok(j) = axons.binary_search(&b)
                    && let Some(e) = out.get_mut(j)
                {
                    let len = e.synapses_class() & CYCLE_FAN_LEN;
                    *e = E::new(e.core(), len | u32::from(kind) << 30);
                }
            }
            return true;
        }
        let mut j = 0usize;
        let n = runs.each(k, |core, len| {
            let a = axons.get(j).copied().unwrap_or(NONE);
            // The price classes are the one table read at random: requested early (as they
            // are, not packed: a compartment's entries are built on its first spike, and
            // packing the whole table first cost more than it saved).
            let kinds = &self.row_kind;
            if let Some(x) = axons.get(j + 16).and_then(|&b| kinds.get(b as usize)) {
                lifchip_simd::prefetch(x);
            }
            let kind = kinds.get(a as usize).copied().unwrap_or(ROW_SPARSE);
            if let Some(e) = out.get_mut(j) {
                *e = E::new(core, len | u32::from(kind) << 30);
            }
            j += 1;
        });
        n == Some(axons.len())
    }

    /// One compartment's entries from its fan-out `axons` and its store list `list` (see
    /// [`Program::cycle_fan_part`]); `false` when they do not fit the walk (`out` is then
    /// partly written).
    #[inline]
    fn cycle_fan_walk<E: FanEntry>(
        &self,
        axons: &[u32],
        list: &[u32],
        start: &[u32],
        uniform: Option<u8>,
        kinds: &[u8],
        out: &mut [E],
    ) -> bool {
        let core = |a: u32| self.axon_cores.core_of(&self.axon_base, a);
        let Some(&first) = axons.first() else {
            return list.is_empty();
        };
        let mut c = core(first);
        let mut at = 0usize;
        for (j, e) in out.iter_mut().enumerate() {
            let a = axons[j];
            // The price classes are the one table still read at random: requested early.
            if uniform.is_none()
                && let Some(x) = axons.get(j + 16).and_then(|&b| kinds.get(b as usize / 4))
            {
                lifchip_simd::prefetch(x);
            }
            let next = axons.get(j + 1).copied();
            let c_next = match next {
                Some(b) if b <= a => return false,
                Some(b) => core(b),
                None => NONE,
            };
            let len = if c_next == c {
                start[a as usize + 1] - start[a as usize]
            } else {
                let end = self.core_slot_base[c as usize + 1];
                list[at.min(list.len())..]
                    .iter()
                    .take_while(|&&s| s < end)
                    .count() as u32
            };
            at += len as usize;
            let kind = match uniform {
                // Rows without synapses are sparse.
                Some(_) if len == 0 => ROW_SPARSE,
                Some(u) => u,
                None => kinds
                    .get(a as usize / 4)
                    .map_or(ROW_SPARSE, |b| b >> (a % 4 * 2) & 3),
            };
            *e = E::new(c, len | u32::from(kind) << 30);
            c = c_next;
        }
        at == list.len()
    }

    /// The price class of every row with synapses in compartment `k`'s fan-out when they
    /// all have one (rows without synapses are sparse), from its spike's synapses by class
    /// ([`Program::fan_synops`]); `None` when they differ.
    fn uniform_kind(&self, k: usize) -> Option<u8> {
        if self.row_kind.is_empty() {
            return Some(ROW_SPARSE);
        }
        let all = *self.fan_synops.get(k)?;
        let (dense, shared) = (*self.fan_dense.get(k)?, *self.fan_shared.get(k)?);
        if dense == 0 && shared == 0 {
            Some(ROW_SPARSE)
        } else if dense == all {
            Some(ROW_DENSE)
        } else if shared == all {
            Some(ROW_SHARED)
        } else {
            None
        }
    }

    /// Compartment `k`'s destination cores, a core per row, from its list's runs when it is
    /// counted by them ([`Program::by_runs`]).
    fn run_cores(&self, cf: &CycleFan, k: usize) -> Option<RunCores<'_>> {
        if !self.by_runs(cf, k) {
            return None;
        }
        let runs = self.fan_runs()?;
        Some(RunCores {
            slots: runs.list(k)?.iter(),
            slot_core: runs.slot_core,
            prev: NONE,
            left: self.fan_start[k + 1] - self.fan_start[k],
        })
    }

    /// The store's fan-out lists as runs of slots per core (see [`FanRuns`]), with
    /// [`Program::slot_core`].
    #[inline]
    pub(crate) fn fan_runs(&self) -> Option<FanRuns<'_>> {
        let store = self.store.as_ref()?;
        let (start, slots) = store.fan_slots();
        (!self.slot_core.is_empty() && start.len() == self.fan_start.len()).then_some(FanRuns {
            start,
            slots,
            slot_core: &self.slot_core,
        })
    }

    /// What [`TreeSrc::route`] reads.
    fn tree_src(&self) -> TreeSrc<'_> {
        TreeSrc {
            target: &self.target,
            core_xy: &self.core_xy,
            core_bit: &self.core_bit,
            axon_base: &self.axon_base,
            axon_cores: &self.axon_cores,
            comp_core: &self.comp_core,
            fan_start: &self.fan_start,
            fan_axon: &self.fan_axon,
            in_start: &self.in_start,
            in_axon: &self.in_axon,
            runs: self.fan_runs(),
        }
    }

    pub fn n_comp(&self) -> usize {
        self.comp_core.len()
    }

    /// Global compartment indices of the readout population's neurons.
    pub fn readout_comps(&self) -> &[u32] {
        self.pop_comps
            .get(self.readout as usize)
            .map_or(&[], |v| v.as_slice())
    }
}

/// Meshes of at most this many routers get their trees' shapes built tree by tree (see
/// [`Program::with_shapes`]); the network simulation's tables then take every router of the
/// mesh.
const LAZY_CELLS: usize = 1 << 16;

/// [`Program::with_shapes`]'s shapes, and the scratch space of building a tree.
#[derive(Debug, Default)]
pub(crate) struct ShapesCell {
    shapes: AnyShapes,
    /// Trees are built when first asked for ([`Shapes::lazy`]).
    lazy: bool,
    positions: Vec<(u32, u32)>,
    seen: Vec<u64>,
}

/// The packet a multicast tree was first built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recipe {
    /// The spikes of global compartment `k`: from its core to the cores of its fan-out.
    Comp(u32),
    /// External input channel `c`: from the host (core 0's router) to the cores of its fan-out.
    Input(u32),
    /// A partial sum: from core `from` to core `to`.
    Partial { from: u32, to: u32 },
}

/// The program's tables a tree's routers are read from.
pub(crate) struct TreeSrc<'a> {
    target: &'a Target,
    core_xy: &'a [(u32, u32)],
    core_bit: &'a [u32],
    axon_base: &'a [usize],
    axon_cores: &'a AxonCores,
    comp_core: &'a [u32],
    fan_start: &'a [usize],
    fan_axon: &'a [u32],
    in_start: &'a [usize],
    in_axon: &'a [u32],
    /// The fan-out lists as runs, when built: a compartment's destination cores without a
    /// core search per axon.
    runs: Option<FanRuns<'a>>,
}

/// The core of each slot below `core_base`'s last entry (see [`Program::slot_core`]).
fn slot_cores(core_base: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(core_base.last().map_or(0, |&s| s as usize));
    for (c, w) in core_base.windows(2).enumerate() {
        out.resize(w[1] as usize, c as u32);
    }
    out
}

/// The store's fan-out lists ([`crate::synapses::Store::fan_slots`]) read per core. With
/// [`Rows::Csr`] a compartment's list holds its fan-out's rows back to back in ascending axon
/// order, each row's slots in its core's slot range, so the list falls into runs of one core,
/// in the order of the fan-out's cores. When there are as many runs as axons, the axons are
/// on distinct cores (a run per core with synapses, at most a core per axon) and run `i` is
/// axon `i`'s row: its core read off a sequential list and a small table instead of a core
/// search per axon.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FanRuns<'a> {
    start: &'a [usize],
    slots: &'a [u32],
    slot_core: &'a [u32],
}

impl<'a> FanRuns<'a> {
    /// Compartment `k`'s list of slots.
    #[inline]
    pub fn list(&self, k: usize) -> Option<&'a [u32]> {
        self.slots.get(*self.start.get(k)?..*self.start.get(k + 1)?)
    }

    /// Calls `f(core, slots)` for each run of compartment `k`'s list, in order, and returns
    /// how many there were; `None` (after some calls) for a slot without a core or a
    /// compartment without a list.
    #[inline(always)]
    pub fn each(&self, k: usize, mut f: impl FnMut(u32, u32)) -> Option<usize> {
        let (lo, hi) = (*self.start.get(k)?, *self.start.get(k + 1)?);
        let list = self.slots.get(lo..hi)?;
        let Some((&first, rest)) = list.split_first() else {
            return Some(0);
        };
        let mut c = *self.slot_core.get(first as usize)?;
        let (mut len, mut n) = (1u32, 1usize);
        for &slot in rest {
            let d = *self.slot_core.get(slot as usize)?;
            if d == c {
                len += 1;
            } else {
                f(c, len);
                (c, len, n) = (d, 1, n + 1);
            }
        }
        f(c, len);
        Some(n)
    }

    /// Compartment `k`'s entries of one price class `class` (shifted into place): run `i`'s
    /// core and slots, or `E::new(core, len | class)`, into `out[i]`; whether there were
    /// `out.len()` runs (else `out` is partly written).
    ///
    /// Without [`FanRuns::each`]'s branch per slot (a run's end is seldom predicted): each
    /// slot rewrites its run's entry, the run and its length advanced by a flag. Out of line:
    /// inlined into [`Program::cycle_fan_part`], the loop reloaded five of its values from the
    /// stack on every slot.
    #[inline(never)]
    pub fn entries<E: FanEntry>(&self, k: usize, class: u32, out: &mut [E]) -> bool {
        let (Some(&lo), Some(&hi)) = (self.start.get(k), self.start.get(k + 1)) else {
            return false;
        };
        let Some(list) = self.slots.get(lo..hi) else {
            return false;
        };
        // `runs`: the runs so far (the current one is `runs - 1`); no slot's core is NONE.
        let (mut prev, mut runs, mut len) = (NONE, 0usize, 0u32);
        for &slot in list {
            let Some(&d) = self.slot_core.get(slot as usize) else {
                return false;
            };
            let new = d != prev;
            runs += usize::from(new);
            len = if new { 1 } else { len + 1 };
            prev = d;
            match out.get_mut(runs.wrapping_sub(1)) {
                Some(e) => *e = E::with_class(d, len, class),
                None => return false,
            }
        }
        runs == out.len()
    }
}

/// The cores of a compartment's list's runs, in order ([`Program::run_cores`]); `left`: the
/// runs not yet given (its rows).
#[derive(Clone, Debug)]
pub(crate) struct RunCores<'a> {
    slots: std::slice::Iter<'a, u32>,
    slot_core: &'a [u32],
    prev: u32,
    left: usize,
}

impl Iterator for RunCores<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        for &slot in self.slots.by_ref() {
            let d = *self.slot_core.get(slot as usize)?;
            if d != self.prev {
                self.prev = d;
                self.left = self.left.saturating_sub(1);
                return Some(d);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The core of a global axon, found by a short walk along `axon_base` from a table entry
/// instead of a binary search (tree building looks up every destination of a big chip).
#[derive(Clone, Debug, Default)]
pub(crate) struct AxonCores {
    /// The core of axon `b << shift` (the last core whose first axon is at most it).
    first: Vec<u32>,
    shift: u32,
}

impl AxonCores {
    fn new(axon_base: &[usize]) -> AxonCores {
        let total = axon_base.last().copied().unwrap_or(0);
        let cores = axon_base.len().saturating_sub(1).max(1);
        // Buckets of at most half a core's axons on average: about one step of walk.
        let per = (total / cores / 2).max(1);
        let shift = per.ilog2();
        let mut first = Vec::with_capacity((total >> shift) + 1);
        let mut c = 0usize;
        for b in 0..=(total >> shift) {
            let a = b << shift;
            while axon_base.get(c + 1).is_some_and(|&x| x <= a) {
                c += 1;
            }
            first.push(c as u32);
        }
        AxonCores { first, shift }
    }

    /// `axon_base.partition_point(|&b| b <= a).saturating_sub(1)`: the last core whose first
    /// axon is at most `a` (cores without axons share their first axon with the next one).
    #[inline]
    fn core_of(&self, axon_base: &[usize], a: u32) -> u32 {
        let a = a as usize;
        let from = self.first.get(a >> self.shift).or(self.first.last());
        let mut c = from.copied().unwrap_or(0) as usize;
        // A bucket holds about half a core's axons: the first step, taken or not about
        // equally often, is a flag added (no branch to mispredict); more are rare.
        c += usize::from(axon_base.get(c + 1).is_some_and(|&x| x <= a));
        while axon_base.get(c + 1).is_some_and(|&x| x <= a) {
            c += 1;
        }
        c as u32
    }
}

impl<'a> TreeSrc<'a> {
    /// The source router of `r`'s packet; its destination routers, sorted and distinct, into
    /// `out` (empty: no packet). `seen`: scratch space.
    fn route(&self, r: Recipe, out: &mut Vec<(u32, u32)>, seen: &mut Vec<u64>) -> (u32, u32) {
        out.clear();
        let axons = |start: &[usize], axon: &'a [u32], i: usize| -> &'a [u32] {
            match (start.get(i), start.get(i + 1)) {
                (Some(&a), Some(&b)) => axon.get(a..b).unwrap_or(&[]),
                _ => &[],
            }
        };
        let (src, dests) = match r {
            Recipe::Comp(k) => (
                self.comp_core.get(k as usize).copied().unwrap_or(0),
                axons(self.fan_start, self.fan_axon, k as usize),
            ),
            Recipe::Input(c) => (0, axons(self.in_start, self.in_axon, c as usize)),
            Recipe::Partial { from, to } => {
                out.extend(self.router(to));
                return self.router(from).unwrap_or((0, 0));
            }
        };
        // A compartment's cores from its store list when its runs are its axons (see
        // [`FanRuns`]): no core search per axon.
        if let (Recipe::Comp(k), Some(runs)) = (r, &self.runs)
            && let Some(from) = self.route_cores(src, dests.len(), out, seen, |bits| {
                let mut inside = true;
                let n = runs.each(k as usize, |core, _| inside &= bits.set(core));
                inside && n == Some(dests.len())
            })
        {
            return from;
        }
        let cores = dests
            .iter()
            .map(|&ga| self.axon_cores.core_of(self.axon_base, ga));
        self.route_from(src, cores, out, seen)
    }

    /// [`TreeSrc::route`]'s sorted and distinct destination routers of a packet from core
    /// `src` to `cores` (with repeats), and its source router.
    fn route_from(
        &self,
        src: u32,
        cores: impl Iterator<Item = u32> + Clone,
        out: &mut Vec<(u32, u32)>,
        seen: &mut Vec<u64>,
    ) -> (u32, u32) {
        out.clear();
        let n = cores.size_hint().0;
        // A core outside the mesh (an invalid position) or not a core: the sort below.
        let by_bits = self.route_cores(src, n, out, seen, |bits| {
            cores.clone().all(|core| bits.set(core))
        });
        if let Some(from) = by_bits {
            return from;
        }
        out.clear();
        out.extend(cores.filter_map(|core| self.router(core)));
        out.sort_unstable();
        out.dedup();
        self.router(src).unwrap_or((0, 0))
    }

    /// The sorted destination routers into `out` by a bitmap of the mesh's routers (x-major,
    /// as the sort orders them), and the source router of core `src`, when the bitmap is
    /// small beside the `n` destinations and `mark` sets every destination core's bit
    /// (returning whether every core was inside the mesh); else `None`, with `out` cleared.
    fn route_cores(
        &self,
        src: u32,
        n: usize,
        out: &mut Vec<(u32, u32)>,
        seen: &mut Vec<u64>,
        mark: impl FnOnce(&mut RouterBits) -> bool,
    ) -> Option<(u32, u32)> {
        out.clear();
        let from = self.mark_cores(src, n, seen, mark)?;
        let height = self.target.mesh.height as usize;
        // The bits come in ascending order: the column advances with them (no division per
        // destination router).
        let (mut x, mut first) = (0u32, 0usize);
        for (w, &bits) in seen.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                while i >= first + height {
                    first += height;
                    x += 1;
                }
                out.push((x, (i - first) as u32));
                bits &= bits - 1;
            }
        }
        Some(from)
    }

    /// [`TreeSrc::route_cores`]' bitmap alone, in `seen` (bit `x * height + y`), and the
    /// source router; `None` as there.
    fn mark_cores(
        &self,
        src: u32,
        n: usize,
        seen: &mut Vec<u64>,
        mark: impl FnOnce(&mut RouterBits) -> bool,
    ) -> Option<(u32, u32)> {
        let mesh = &self.target.mesh;
        let (columns, height) = (
            mesh.width.div_ceil(mesh.cores_per_tile.max(1)) as usize,
            mesh.height as usize,
        );
        let words = (columns * height).div_ceil(64);
        if words > n.max(16) {
            return None;
        }
        seen.clear();
        seen.resize(words, 0);
        let mut bits = RouterBits {
            core_bit: self.core_bit,
            seen,
        };
        if !mark(&mut bits) {
            return None;
        }
        Some(self.router(src).unwrap_or((0, 0)))
    }

    /// The router of `core`, `None` for a number that is not a core.
    #[inline]
    fn router(&self, core: u32) -> Option<(u32, u32)> {
        self.core_xy
            .get(core as usize)
            .map(|&xy| self.target.router_of(xy))
    }
}

/// The bitmap of [`TreeSrc::route_cores`]: each core's bit from a table, no router computed
/// per destination (32 M on the 40k CUBA chip).
struct RouterBits<'a> {
    core_bit: &'a [u32],
    seen: &'a mut [u64],
}

impl RouterBits<'_> {
    /// Sets `core`'s router's bit; `false` (setting nothing) for a core outside the mesh or
    /// a number that is not a core.
    #[inline(always)]
    fn set(&mut self, core: u32) -> bool {
        match self.core_bit.get(core as usize) {
            Some(&i) if i != NONE => {
                if let Some(w) = self.seen.get_mut(i as usize / 64) {
                    *w |= 1 << (i % 64);
                }
                true
            }
            _ => false,
        }
    }
}

/// Per core at `positions`: its router's bit in [`TreeSrc::route`]'s bitmap (`x * height +
/// y` over the mesh's router columns and rows), [`NONE`] when outside the mesh.
fn router_bits(t: &Target, positions: impl Iterator<Item = (u32, u32)>) -> Vec<u32> {
    let mesh = &t.mesh;
    let (columns, height) = (
        mesh.width.div_ceil(mesh.cores_per_tile.max(1)) as usize,
        mesh.height as usize,
    );
    positions
        .map(|xy| {
            let (x, y) = t.router_of(xy);
            let (x, y) = (x as usize, y as usize);
            if x < columns && y < height {
                u32::try_from(x * height + y).unwrap_or(NONE)
            } else {
                NONE
            }
        })
        .collect()
}

/// Links and y links of [`xy_route`]'s tree from `src` to `positions` (sorted by x, then y;
/// not empty), without building it: the x leg along `src`'s row to the westmost and eastmost
/// columns, then in each column the y legs to its lowest and highest destination.
fn xy_hops((sx, sy): (u32, u32), positions: &[(u32, u32)]) -> (u32, u32) {
    let (west, east) = match (positions.first(), positions.last()) {
        (Some(w), Some(e)) => (w.0, e.0),
        _ => return (0, 0),
    };
    let hops_x = east.saturating_sub(sx) + sx.saturating_sub(west);
    let mut hops_y = 0u32;
    for col in positions.chunk_by(|a, b| a.0 == b.0) {
        let (lo, hi) = (col[0].1, col[col.len() - 1].1);
        hops_y += hi.saturating_sub(sy) + sy.saturating_sub(lo);
    }
    (hops_x + hops_y, hops_y)
}

/// The distinct multicast trees of a configuration at load: their hop counts and the packet
/// each was first built for ([`Recipe`]); identical trees (same source and destination
/// routers) are one.
#[derive(Default)]
struct TreeIndex {
    /// Trees by a hash of `(source, destinations)`; equal hashes are compared in full.
    by_hash: HashMap<u64, Vec<u32>>,
    recipes: Vec<Recipe>,
    hops: Vec<u32>,
    hops_y: Vec<u32>,
    /// Scratch space of [`TreeSrc::route`].
    seen: Vec<u64>,
}

impl TreeIndex {
    /// The tree of `r`'s packet, or [`NONE`] without destinations.
    fn tree(&mut self, src: &TreeSrc, r: Recipe) -> Result<u32, EmuError> {
        use std::hash::{Hash, Hasher};
        let mut positions = Vec::new();
        let from = src.route(r, &mut positions, &mut self.seen);
        if positions.is_empty() {
            return Ok(NONE);
        }
        // The mesh check of `lifchip_chip::xy_route`.
        xy_route(src.target, from, &[])?;
        if let Some(&(x, y)) = positions.iter().find(|&&p| !src.target.mesh.contains(p)) {
            xy_route(src.target, (x, y), &[])?;
        }
        let mut h = rustc_hash::FxHasher::default();
        (from, &positions).hash(&mut h);
        let list = self.by_hash.entry(h.finish()).or_default();
        let mut other = Vec::new();
        for &t in list.iter() {
            let again = src.route(self.recipes[t as usize], &mut other, &mut self.seen);
            if again == from && other == positions {
                return Ok(t);
            }
        }
        let t = self.recipes.len() as u32;
        list.push(t);
        self.recipes.push(r);
        let (hops, hops_y) = xy_hops(from, &positions);
        self.hops.push(hops);
        self.hops_y.push(hops_y);
        Ok(t)
    }
}

/// A multicast tree's source router and sorted destination routers.
#[cfg(test)]
type TreeKey = ((u32, u32), Vec<(u32, u32)>);

/// Builds multicast trees from [`xy_route`]'s links; identical trees are shared.
#[cfg(test)]
pub(crate) struct TreeBuilder {
    width: u32,
    /// Dense router index of each mesh position, or [`NONE`].
    router_of: Vec<u32>,
    /// Node of the tree being built at each mesh position, or [`NONE`].
    node_of: Vec<u32>,
    touched: Vec<usize>,
    routers: usize,
    topology: Topology,
    #[cfg(test)]
    cache: HashMap<TreeKey, u32>,
    #[cfg(test)]
    target: Target,
}

#[cfg(test)]
impl TreeBuilder {
    pub(crate) fn new(t: &Target) -> Self {
        let cells = (t.mesh.width as usize).saturating_mul(t.mesh.height as usize);
        TreeBuilder {
            width: t.mesh.width,
            router_of: vec![NONE; cells],
            node_of: vec![NONE; cells],
            touched: Vec::new(),
            routers: 0,
            topology: Topology::default(),
            #[cfg(test)]
            cache: HashMap::default(),
            #[cfg(test)]
            target: t.clone(),
        }
    }

    /// The node of the current tree at `pos`, created on first use.
    fn node_at(&mut self, (x, y): (u32, u32)) -> u32 {
        let cell = y as usize * self.width as usize + x as usize;
        if self.node_of[cell] != NONE {
            return self.node_of[cell];
        }
        if self.router_of[cell] == NONE {
            self.router_of[cell] = self.routers as u32;
            self.routers += 1;
        }
        let id = self.topology.nodes.len() as u32;
        self.topology.nodes.push(Node {
            router: self.router_of[cell],
            child: [NONE; 4],
            eject: false,
        });
        self.node_of[cell] = id;
        self.touched.push(cell);
        id
    }

    /// The tree from router `src` to the routers `positions`, or [`NONE`] if empty.
    #[cfg(test)]
    pub(crate) fn tree_to(
        &mut self,
        src: (u32, u32),
        mut positions: Vec<(u32, u32)>,
    ) -> Result<u32, EmuError> {
        if positions.is_empty() {
            return Ok(NONE);
        }
        positions.sort_unstable();
        positions.dedup();
        let key = (src, positions);
        if let Some(&tree) = self.cache.get(&key) {
            return Ok(tree);
        }
        let (src, positions) = key;
        xy_route(&self.target, src, &positions)?;
        let tree = self.add(src, &positions);
        self.cache.insert((src, positions), tree);
        Ok(tree)
    }

    /// Adds the tree from router `src` to the routers `positions` (sorted, distinct, not
    /// empty, on the mesh) without looking for an identical one.
    pub(crate) fn add(&mut self, src: (u32, u32), positions: &[(u32, u32)]) -> u32 {
        let links = lifchip_target::xy_route(src, positions.iter().copied());
        let root = self.node_at(src);
        let mut hops_y = 0u32;
        for l in &links {
            let from = self.node_at(l.from);
            let to = self.node_at(l.to);
            let dir = if l.to.0 > l.from.0 {
                0
            } else if l.to.0 < l.from.0 {
                1
            } else if l.to.1 > l.from.1 {
                2
            } else {
                3
            };
            hops_y += u32::from(dir >= 2);
            self.topology.nodes[from as usize].child[dir] = to;
        }
        for &pos in positions {
            let id = self.node_at(pos);
            self.topology.nodes[id as usize].eject = true;
        }
        for cell in self.touched.drain(..) {
            self.node_of[cell] = NONE;
        }
        let tree = self.topology.roots.len() as u32;
        self.topology.roots.push(root);
        self.topology.hops.push(links.len() as u32);
        self.topology.hops_y.push(hops_y);
        tree
    }

    pub(crate) fn finish(mut self) -> Topology {
        self.topology.routers = self.routers;
        self.topology
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A chip whose compartments reach several cores each, in ascending and in shuffled
    /// order, sometimes two axons of one core, through rows of 0 to 6 synapses that are
    /// sparse, dense (contiguous) or shared (copies on one core), served by fan-out lists.
    pub(crate) fn fan_program() -> Program {
        let layout = LayoutOverride {
            fanout: Some(true),
            ..LayoutOverride::default()
        };
        Program::new(&FlatChip::from_config(&fan_config()), &layout).expect("valid")
    }

    /// [`fan_program`]'s chip. Its input channels 0, 1 and 2 reach, on every core, a dense,
    /// a shared (as channel 3 does) and a sparse row.
    fn fan_config() -> lifchip_chip::ChipConfig {
        use lifchip_chip::{Destination, Synapse};
        let spec = crate::bench_chips::Spec {
            cores: 5,
            mesh_width: 2,
            compartments: 16,
            input_axons: 8,
            recurrent_axons: 40,
            row: 4,
            recurrent_row: 4,
            active: 4,
            ticks: 1,
        };
        let mut config = crate::bench_chips::chip(&spec);
        let mut seed = 0x0bad_5eed_1234_5678u64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let n = spec.compartments as u64;
        let mut recurrent = Vec::new();
        for (c, core) in config.cores.iter_mut().enumerate() {
            for a in spec.input_axons..spec.input_axons + spec.recurrent_axons {
                let len = rand(7);
                let row = match rand(3) {
                    // Contiguous: the dense form is the smaller.
                    0 => {
                        let lo = rand(n - len);
                        (lo..lo + len)
                            .map(|k| Synapse {
                                compartment: k as u32,
                                weight: 2 * (rand(100) as i32 - 50),
                            })
                            .collect()
                    }
                    // Spread out: sparse.
                    1 => {
                        let mut ks: Vec<u32> = (0..len).map(|_| rand(n) as u32).collect();
                        ks.sort_unstable();
                        ks.dedup();
                        ks.into_iter()
                            .map(|k| Synapse {
                                compartment: k,
                                weight: 2 * (rand(100) as i32 - 50),
                            })
                            .collect()
                    }
                    // A copy of the core's first recurrent row: shared.
                    _ => core.axons[spec.input_axons as usize].synapses.clone(),
                };
                core.axons[a as usize].synapses = row;
                recurrent.push(Destination {
                    core: c as u32,
                    axon: a,
                });
            }
        }
        // Deal the recurrent axons out to the compartments, each to one.
        for i in (1..recurrent.len()).rev() {
            recurrent.swap(i, rand(i as u64 + 1) as usize);
        }
        let comps = config.cores.len() * spec.compartments as usize;
        let mut lists = vec![Vec::new(); comps];
        for (i, d) in recurrent.into_iter().enumerate() {
            lists[if i % 3 == 0 {
                rand(4) as usize
            } else {
                rand(comps as u64) as usize
            }]
            .push(d);
        }
        for (k, mut list) in lists.into_iter().enumerate() {
            if k % 5 != 0 {
                list.sort_unstable_by_key(|d| (d.core, d.axon));
            }
            let (c, j) = (
                k / spec.compartments as usize,
                k % spec.compartments as usize,
            );
            config.cores[c].compartments[j].destinations = list;
        }
        for core in &mut config.cores {
            let syn = |k: u32, weight: i32| Synapse {
                compartment: k,
                weight,
            };
            core.axons[0].synapses = (3..9).map(|k| syn(k, 2 * k as i32 - 7)).collect();
            // Two identical rows: shared.
            let shared = vec![syn(2, 10), syn(5, -6), syn(11, 8)];
            core.axons[1].synapses = shared.clone();
            core.axons[3].synapses = shared;
            core.axons[2].synapses = vec![syn(1, 40), syn(9, -64)];
        }
        let t = &mut config.target;
        t.core.shared_kernels = true;
        t.timing.cycles_per_dense_synop = 3;
        t.timing.cycles_per_shared_synop = 2;
        config
    }

    /// The input channels' lists give what their rows give: the same results, counts and
    /// per-core cycles, in both modes, with every kind of row priced its own way.
    #[test]
    fn input_lists_give_the_rows_results() {
        use crate::{CycleDetail, Emulator, Mode, ProbeSet, Probes, RunOptions};
        let config = fan_config();
        let lists = fan_program();
        let rows = Program::new(
            &FlatChip::from_config(&config),
            &LayoutOverride {
                fanout: Some(false),
                ..LayoutOverride::default()
            },
        )
        .expect("valid");
        assert!(lists.input_lists.is_some() && rows.input_lists.is_none());
        // Channels 0 to 2 reach rows of each class with synapses.
        let kinds: Vec<u8> = (0..3)
            .map(|c| lists.row_kind[lists.in_axon[lists.in_start[c]] as usize])
            .collect();
        assert_eq!(kinds, [ROW_DENSE, ROW_SHARED, ROW_SPARSE]);
        // Every channel spikes in some ticks, some twice in one.
        let channels = config.inputs.len() as u32;
        let input: Vec<Vec<u32>> = (0..12u32)
            .map(|t| {
                (0..channels)
                    .filter(|c| (c + t) % 3 != 0)
                    .chain([t % channels])
                    .collect()
            })
            .collect();
        for mode in [Mode::Functional, Mode::CycleAccurate] {
            let options = RunOptions {
                ticks: 14,
                mode,
                probes: Probes {
                    set: ProbeSet::All,
                    state: true,
                },
                readout_from: 0,
            };
            let run = |layout: Option<bool>| {
                let layout = LayoutOverride {
                    fanout: layout,
                    ..LayoutOverride::default()
                };
                let mut emu = Emulator::with_layout(&config, layout)
                    .expect("valid")
                    .with_cycle_detail(CycleDetail::PerCore);
                emu.run(&input, &options).expect("runs")
            };
            let (with, without) = (run(Some(true)), run(Some(false)));
            assert!(with.counts.dense_synops > 0 && with.counts.shared_synops > 0);
            assert!(with == without, "{mode:?}: the lists and the rows differ");
        }
    }

    /// Cache sizes as Linux writes them; nonsense gives none.
    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("16384K\n"), Some(16 << 20));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("1G"), Some(1 << 30));
        assert_eq!(parse_cache_size("12Q"), None);
        assert_eq!(parse_cache_size(""), None);
        assert_eq!(parse_cache_size("99999999999999999999999K"), None);
        assert!(touch_above_bytes() >= TOUCH_ABOVE_BYTES);
    }

    /// `TreeSrc::route` (each core's bit from a table, the bitmap read column by column)
    /// gives the sorted, distinct routers of a packet's destinations, on a mesh whose bitmap
    /// spans several words.
    #[test]
    fn routes_are_the_sorted_destination_routers() {
        let mut p = fan_program();
        let t = &mut p.target;
        (t.mesh.width, t.mesh.height, t.mesh.cores_per_tile) = (40, 13, 4);
        p.core_xy = vec![(0, 0), (9, 5), (18, 12), (27, 2), (39, 12)];
        p.core_bit = router_bits(&p.target, p.core_xy.iter().copied());
        let (mut out, mut seen) = (Vec::new(), Vec::new());
        let (mut routed, mut by_runs) = (0, 0);
        for k in 0..p.n_comp() {
            let src = p.tree_src();
            let from = src.route(Recipe::Comp(k as u32), &mut out, &mut seen);
            let fan = &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]];
            let router = |c: u32| p.target.router_of(p.core_xy[c as usize]);
            let mut expected: Vec<(u32, u32)> = fan
                .iter()
                .map(|&a| router(p.rows.get(a as usize).core))
                .collect();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(out, expected, "compartment {k}");
            assert_eq!(from, router(p.comp_core[k]));
            routed += usize::from(expected.len() > 1);
            // The same from the compartment's cycle-model entries.
            let by_fan = p.route_by_cycle_fan(&src, k as u32, &mut out, &mut seen);
            assert_eq!(by_fan, Some(from), "compartment {k}");
            assert_eq!(out, expected, "compartment {k} by its entries");
            // The same routers as a bitmap (bit `x * height + y`), from the compartment's
            // entries or its list's runs.
            let marked = p.mark_by_cycle_fan(&src, k as u32, &mut seen);
            assert_eq!(marked, Some(from), "compartment {k}");
            let h = p.target.mesh.height;
            let bits: Vec<(u32, u32)> = (0..seen.len() * 64)
                .filter(|&i| seen[i / 64] >> (i % 64) & 1 != 0)
                .map(|i| (i as u32 / h, i as u32 % h))
                .collect();
            assert_eq!(bits, expected, "compartment {k}, marked");
            by_runs += usize::from(p.by_runs(p.cycle_fan(), k) && expected.len() > 1);
        }
        assert!(
            routed > 10 && by_runs > 3,
            "{routed} routed, {by_runs} by runs"
        );
        // By sorting when the bitmap would be large beside the destinations.
        p.target.mesh.height = 1300;
        p.core_bit = router_bits(&p.target, p.core_xy.iter().copied());
        for k in 0..p.n_comp() {
            let src = p.tree_src();
            let from = src.route(Recipe::Comp(k as u32), &mut out, &mut seen);
            let expected = out.clone();
            let by_fan = p.route_by_cycle_fan(&src, k as u32, &mut out, &mut seen);
            assert_eq!((by_fan, &out), (Some(from), &expected), "compartment {k}");
        }
    }

    /// `FanRuns` splits each compartment's list where the core changes: with as many runs as
    /// axons, run `i` is the row of the `i`-th axon in ascending order (its core and
    /// synapses); compartments with two axons on one core or an axon without synapses have
    /// fewer runs. The cores of the slots are their cores' slot ranges.
    #[test]
    fn fan_runs_are_the_rows_where_they_fit() {
        let p = fan_program();
        assert_eq!(
            p.slot_core.len() as u32,
            *p.core_slot_base.last().expect("cores")
        );
        for (c, w) in p.core_slot_base.windows(2).enumerate() {
            assert!(
                p.slot_core[w[0] as usize..w[1] as usize]
                    .iter()
                    .all(|&x| x == c as u32)
            );
        }
        let runs = p.fan_runs().expect("lists with slot cores");
        let (mut fit, mut fewer) = (0, 0);
        for k in 0..p.n_comp() {
            let mut fan = p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]].to_vec();
            fan.sort_unstable();
            let mut got = Vec::new();
            let n = runs.each(k, |c, len| got.push((c, len))).expect("a list");
            assert_eq!(n, got.len());
            let rows: Vec<(u32, u32)> = fan
                .iter()
                .map(|&a| (p.rows.get(a as usize).core, p.rows.get(a as usize).len))
                .collect();
            if n == fan.len() {
                assert_eq!(got, rows, "compartment {k}");
                fit += usize::from(n > 1);
            } else {
                // The rows with synapses, merged per core.
                let mut merged: Vec<(u32, u32)> = Vec::new();
                for &(c, len) in rows.iter().filter(|r| r.1 > 0) {
                    match merged.last_mut() {
                        Some(m) if m.0 == c => m.1 += len,
                        _ => merged.push((c, len)),
                    }
                }
                assert_eq!(got, merged, "compartment {k}");
                fewer += 1;
            }
        }
        assert!(fit > 10 && fewer > 0, "{fit} fit, {fewer} fewer");
        assert!(
            p.fan_runs()
                .is_some_and(|r| r.each(p.n_comp(), |_, _| ()).is_none())
        );
    }

    /// [`FanRuns::entries`] gives [`FanRuns::each`]'s runs, with the class, exactly when
    /// there are as many runs as entries asked for; `fan_ascending` is whether every fan-out
    /// ascends.
    #[test]
    fn fan_run_entries_are_the_runs() {
        let p = fan_program();
        let runs = p.fan_runs().expect("lists with slot cores");
        let (mut fit, mut other) = (0, 0);
        for k in 0..p.n_comp() {
            let mut want = Vec::new();
            let n = runs.each(k, |c, len| want.push((c, len))).expect("a list");
            for class in [0u32, 2 << 30] {
                let mut got = vec![(NONE, 0u32); n];
                assert!(runs.entries(k, class, &mut got), "compartment {k}");
                let with: Vec<(u32, u32)> = want.iter().map(|&(c, l)| (c, l | class)).collect();
                assert_eq!(got, with, "compartment {k}");
                let mut narrow = vec![0u32; n];
                assert!(runs.entries(k, class, &mut narrow));
                let back: Vec<(u32, u32)> = narrow
                    .iter()
                    .map(|&e| (e.core(), e.synapses_class()))
                    .collect();
                assert_eq!(back, with, "compartment {k}, narrow");
                for len in [n + 1, n.saturating_sub(1)].into_iter().filter(|&l| l != n) {
                    let mut wrong = vec![(0u32, 0u32); len];
                    assert!(
                        !runs.entries(k, class, &mut wrong),
                        "compartment {k}, {len}"
                    );
                    other += 1;
                }
            }
            fit += usize::from(n > 1);
        }
        assert!(fit > 10 && other > 10, "{fit} fit, {other} other");
        let fan = |k: usize| &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]];
        let ascending = (0..p.n_comp()).all(|k| fan(k).is_sorted_by(|a, b| a < b));
        assert_eq!(p.fan_ascending, ascending);
        assert!(!ascending, "the test chip has a fan-out out of order");
    }

    /// The compartments counted by their lists' runs: run `i` of a list is one of their rows
    /// (its core and synapses as the row look-up gives them), their usual class and rows of
    /// another class give each row's class, and [`RunCores`] gives the runs' cores, as many
    /// as rows. Each of the others has what runs cannot count: a row without synapses, two
    /// rows on one core, or classes not known per compartment.
    #[test]
    fn runs_are_the_rows_of_compartments_counted_by_them() {
        let p = fan_program();
        let cf = p.cycle_fan();
        let runs = p.fan_runs().expect("runs");
        let expected = cycle_fan_by_axon(&p);
        let (mut by, mut not) = (0, 0);
        for k in 0..p.n_comp() {
            let (lo, hi) = (p.fan_start[k], p.fan_start[k + 1]);
            let axons = &p.fan_axon[lo..hi];
            let rows = &expected[lo..hi];
            let cores: Vec<u32> = rows.iter().map(|r| r.0).collect();
            if !p.by_runs(cf, k) {
                not += 1;
                let empty = rows.iter().any(|r| r.1 & CYCLE_FAN_LEN == 0);
                let one_core = (distinct(&cores) as usize) < cores.len();
                let unknown = p.uniform_kind(k).is_none()
                    && p.fan_kinds.as_ref().and_then(|f| f.of(k)).is_none();
                assert!(empty || one_core || unknown, "compartment {k}");
                assert!(p.run_classes(cf, k).is_none() && p.run_cores(cf, k).is_none());
                continue;
            }
            by += 1;
            let mut got = Vec::new();
            assert_eq!(runs.each(k, |c, len| got.push((c, len))), Some(axons.len()));
            let mut want: Vec<(u32, u32)> = rows
                .iter()
                .map(|&(c, lk)| (c, lk & CYCLE_FAN_LEN))
                .collect();
            let run_cores: Vec<u32> = got.iter().map(|r| r.0).collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "compartment {k}");
            let (usual, other) = p.run_classes(cf, k).expect("classes");
            for (&a, &(_, lk)) in axons.iter().zip(rows) {
                let class = other.iter().find(|o| o.0 == a).map_or(usual, |o| o.1);
                assert_eq!(u32::from(class), lk >> 30, "compartment {k}, axon {a}");
            }
            let it = p.run_cores(cf, k).expect("cores");
            assert_eq!(it.size_hint(), (axons.len(), Some(axons.len())));
            assert_eq!(it.collect::<Vec<_>>(), run_cores, "compartment {k}");
        }
        assert!(by > 3 && not > 3, "{by} by runs, {not} not");
    }

    /// The old definition of [`Program::cycle_fan`]: each axon's row looked up.
    fn cycle_fan_by_axon(p: &Program) -> Vec<(u32, u32)> {
        p.fan_axon
            .iter()
            .map(|&a| {
                let r = p.rows.get(a as usize);
                let kind = p.row_kind.get(a as usize).copied().unwrap_or(ROW_SPARSE);
                (r.core, r.len | u32::from(kind) << 30)
            })
            .collect()
    }

    /// `cycle_fan`'s walk of the store's fan-out lists gives every axon's row look-up, for
    /// any split into parts, on `Rows::Csr` (walked, and looked up where the walk does not
    /// fit), on `Rows::Full` (looked up) and without price classes.
    #[test]
    fn cycle_fan_walk_gives_each_axons_row() {
        let mut p = fan_program();
        assert!(p.cycle_fan_lists && matches!(p.rows, Rows::Csr { .. }));
        // The chip has what the walk must handle.
        let kinds: Vec<u8> = p.fan_axon.iter().map(|&a| p.row_kind[a as usize]).collect();
        for kind in [ROW_SPARSE, ROW_DENSE, ROW_SHARED] {
            assert!(kinds.contains(&kind), "no row of kind {kind}");
        }
        assert!(p.fan_axon.iter().any(|&a| p.rows.get(a as usize).len == 0));
        let n_comp = p.n_comp();
        let fan = |k: usize| &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]];
        let core = |a: u32| p.rows.get(a as usize).core;
        let sorted = |k: usize| fan(k).windows(2).all(|w| w[0] < w[1]);
        assert!((0..n_comp).any(|k| !sorted(k)), "no fan-out out of order");
        assert!(
            (0..n_comp).any(|k| sorted(k) && fan(k).windows(2).any(|w| core(w[0]) == core(w[1]))),
            "no ascending fan-out with two axons of one core"
        );
        assert!((0..n_comp).filter(|&k| fan(k).len() > 1).count() > 10);
        // The walk itself fits every ascending fan-out and gives the look-ups.
        let expected = cycle_fan_by_axon(&p);
        let (Rows::Csr { start, .. }, Some(store)) = (&p.rows, &p.store) else {
            panic!("CSR rows with a store");
        };
        let (list_start, slots) = store.fan_slots();
        let packed: Vec<u8> = p
            .row_kind
            .chunks(4)
            .map(|q| q.iter().rev().fold(0u8, |b, &k| b << 2 | k))
            .collect();
        for k in (0..n_comp).filter(|&k| sorted(k)) {
            let (lo, hi) = (p.fan_start[k], p.fan_start[k + 1]);
            let list = &slots[list_start[k]..list_start[k + 1]];
            // With the compartment's one class when it has one, and with every class read.
            for uniform in [p.uniform_kind(k), None] {
                let mut out = vec![(0u32, 0u32); hi - lo];
                let walked = p.cycle_fan_walk(fan(k), list, start, uniform, &packed, &mut out);
                assert!(walked, "compartment {k}");
                assert_eq!(out, expected[lo..hi], "compartment {k}, {uniform:?}");
            }
        }
        // Compartments of one class (not only sparse) and of mixed classes, among them some
        // whose entries come from their list's runs with their usual class and rows of
        // another (`FanKinds`), where a row of each class differs from the usual one.
        let classes: Vec<Option<u8>> = (0..n_comp).map(|k| p.uniform_kind(k)).collect();
        assert!(classes.contains(&None));
        let fan_kinds = p.fan_kinds.clone().expect("few rows of another class");
        let runs = p.fan_runs().expect("runs");
        let by_runs_mixed: Vec<usize> = (0..n_comp)
            .filter(|&k| {
                classes[k].is_none() && sorted(k) && runs.each(k, |_, _| ()) == Some(fan(k).len())
            })
            .collect();
        let other_kinds: Vec<u8> = by_runs_mixed
            .iter()
            .flat_map(|&k| fan_kinds.of(k).expect("a compartment").1)
            .map(|&(_, kind)| kind)
            .collect();
        assert!(by_runs_mixed.len() > 2, "{by_runs_mixed:?}");
        for kind in [ROW_SPARSE, ROW_DENSE, ROW_SHARED] {
            assert!(other_kinds.contains(&kind), "{kind} never another class");
        }
        assert!(classes.contains(&Some(ROW_SHARED)) || classes.contains(&Some(ROW_DENSE)));
        // Both forms, read back.
        let wide = |p: &Program, parts| p.build_cycle_fan::<(u32, u32)>(parts);
        let narrow = |p: &Program, parts| -> Vec<(u32, u32)> {
            let entries: Vec<u32> = p.build_cycle_fan(parts);
            entries
                .iter()
                .map(|&e| (e.core(), e.synapses_class()))
                .collect()
        };
        for parts in [1, 2, 3, 7, 1000] {
            assert_eq!(wide(&p, parts), expected, "{parts} parts");
            assert_eq!(narrow(&p, parts), expected, "narrow, {parts} parts");
        }
        // Built per compartment on first use, in any order, the same entries.
        fn built_on_its_own(p: &Program, ks: impl Iterator<Item = usize>) -> Vec<Vec<(u32, u32)>> {
            let cf = p.cycle_fan();
            let CycleFanEntries::Narrow(cells) = &cf.entries else {
                panic!("narrow entries");
            };
            ks.map(|k| {
                p.cycle_fan_of(cf, cells, k)
                    .iter()
                    .map(|&e| (e.core(), e.synapses_class()))
                    .collect()
            })
            .collect()
        }
        let order: Vec<usize> = (0..n_comp).rev().chain(0..n_comp).collect();
        for (&k, got) in order
            .iter()
            .zip(built_on_its_own(&p, order.iter().copied()))
        {
            let (lo, hi) = (p.fan_start[k], p.fan_start[k + 1]);
            assert_eq!(got, expected[lo..hi], "compartment {k} built on its own");
        }
        assert!(built_on_its_own(&p, [n_comp].into_iter())[0].is_empty());
        // Each class read from the per-axon table instead: the same entries.
        let mut q = fan_program();
        q.fan_kinds = None;
        for (&k, got) in by_runs_mixed
            .iter()
            .zip(built_on_its_own(&q, by_runs_mixed.iter().copied()))
        {
            let (lo, hi) = (q.fan_start[k], q.fan_start[k + 1]);
            assert_eq!(got, expected[lo..hi], "compartment {k}, classes per axon");
        }
        let cf = p.cycle_fan();
        let wide_cells: FanCells<(u32, u32)> =
            (0..n_comp).map(|_| std::sync::OnceLock::new()).collect();
        for k in 0..n_comp {
            let (lo, hi) = (p.fan_start[k], p.fan_start[k + 1]);
            assert_eq!(
                p.cycle_fan_of(cf, &wide_cells, k),
                &expected[lo..hi],
                "wide, {k}"
            );
        }
        p.cycle_fan = std::sync::OnceLock::new();
        p.row_kind.clear();
        let expected = cycle_fan_by_axon(&p);
        assert!(expected.iter().all(|e| e.1 >> 30 == u32::from(ROW_SPARSE)));
        for parts in [1, 2] {
            assert_eq!(wide(&p, parts), expected, "no classes, {parts} parts");
            assert_eq!(
                narrow(&p, parts),
                expected,
                "narrow, no classes, {parts} parts"
            );
        }
        p.rows = Rows::Full(p.rows.iter().collect());
        for parts in [1, 3] {
            assert_eq!(wide(&p, parts), expected, "full rows, {parts} parts");
            assert_eq!(
                narrow(&p, parts),
                expected,
                "narrow, full rows, {parts} parts"
            );
        }
    }

    /// `xy_hops` counts the links and y links of the tree `xy_route` builds.
    #[test]
    fn xy_hops_counts_the_links_of_xy_route() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let (w, h) = (1 + rand(9), 1 + rand(9));
            let src = (rand(w) as u32, rand(h) as u32);
            let mut positions: Vec<(u32, u32)> = (0..1 + rand(12))
                .map(|_| (rand(w) as u32, rand(h) as u32))
                .collect();
            positions.sort_unstable();
            positions.dedup();
            let links = lifchip_target::xy_route(src, positions.iter().copied());
            let y = links.iter().filter(|l| l.from.0 == l.to.0).count() as u32;
            assert_eq!(
                xy_hops(src, &positions),
                (links.len() as u32, y),
                "{src:?} {positions:?}"
            );
        }
    }
}
