//! [`FlatChip`]: a chip configuration with each core's synapse rows in two flat tables, the
//! form [`crate::read_chipdir_flat`] reads a CHIPDIR into (a big sparse chip has one axon row
//! per synapse: a `Vec` per row costs ~8× the CHIPDIR in memory, the tables ~1×).

use std::sync::Arc;

use lifchip_target::Target;

use crate::{Axon, ChipConfig, Compartment, CoreConfig, Destination, PopulationInfo, Synapse};

/// One input axon of a [`FlatCore`], as a view: its group, synaptic current and synapse row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxonRef<'a> {
    /// See [`Axon::group`].
    pub group: u16,
    /// See [`Axon::current`].
    pub current: u8,
    pub synapses: &'a [Synapse],
}

impl AxonRef<'_> {
    /// The compartments this row reaches, first to last inclusive (0 for an empty row).
    pub fn span(&self) -> u64 {
        let lo = self.synapses.iter().map(|s| s.compartment).min();
        let hi = self.synapses.iter().map(|s| s.compartment).max();
        match (lo, hi) {
            (Some(lo), Some(hi)) => u64::from(hi - lo) + 1,
            _ => 0,
        }
    }

    /// Whether the synapses are in `(compartment, weight)` order (then the row's relative
    /// content can be read in place).
    fn sorted(&self) -> bool {
        self.synapses
            .windows(2)
            .all(|w| (w[0].compartment, w[0].weight) <= (w[1].compartment, w[1].weight))
    }

    /// The row's `(compartment - first, weight)` list, sorted (`first`: its lowest
    /// compartment): what two rows must share to be one shared (kernel) row.
    fn relative(&self) -> Vec<(u32, i32)> {
        let first = self
            .synapses
            .iter()
            .map(|s| s.compartment)
            .min()
            .unwrap_or(0);
        let mut row: Vec<(u32, i32)> = self
            .synapses
            .iter()
            .map(|s| (s.compartment - first, s.weight))
            .collect();
        row.sort_unstable();
        row
    }

    /// A hash of `(group, relative content)`, built in place when the row is sorted (the
    /// common case). Equal rows hash equal; use [`Self::same_relative`] to compare.
    pub fn relative_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = rustc_hash::FxHasher::default();
        self.group.hash(&mut h);
        self.synapses.len().hash(&mut h);
        if self.sorted() {
            let first = self.synapses.first().map_or(0, |s| s.compartment);
            for s in self.synapses {
                (s.compartment - first, s.weight).hash(&mut h);
            }
        } else {
            for x in self.relative() {
                x.hash(&mut h);
            }
        }
        h.finish()
    }

    /// For a row of at most one synapse, an exact key of its `(group, relative content)`
    /// (its group, length and weight: the compartment offset is 0), so that the many one-synapse
    /// rows of big sparse chips are classed without hashing and comparing their content;
    /// `None` for longer rows. Rows of different lengths never share a class, so these keys
    /// and [`Self::relative_hash`] classes never mix.
    pub fn short_key(&self) -> Option<u64> {
        let group = u64::from(self.group) << 33;
        match self.synapses {
            [] => Some(group),
            [s] => Some(group | 1 << 32 | u64::from(s.weight as u32)),
            _ => None,
        }
    }

    /// Whether the two rows have the same group and relative content (in place when both are
    /// sorted).
    pub fn same_relative(&self, other: &AxonRef) -> bool {
        if self.group != other.group || self.synapses.len() != other.synapses.len() {
            return false;
        }
        if self.sorted() && other.sorted() {
            let fa = self.synapses.first().map_or(0, |s| s.compartment);
            let fb = other.synapses.first().map_or(0, |s| s.compartment);
            self.synapses
                .iter()
                .zip(other.synapses)
                .all(|(x, y)| x.compartment - fa == y.compartment - fb && x.weight == y.weight)
        } else {
            self.relative() == other.relative()
        }
    }
}

/// An axon's entry: group, current and the end of its row in [`FlatCore`]'s synapse table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AxonEntry {
    group: u16,
    current: u8,
    end: u32,
}

/// The axon entries and synapses of all cores of a [`FlatChip`], back to back in core order:
/// one allocation each, so that dropping them ([`FlatChip::drop_axons`]) gives the memory back.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tables {
    axons: Vec<AxonEntry>,
    synapses: Vec<Synapse>,
}

impl Tables {
    /// Empty tables with room for `axons` axons and `synapses` synapses, or less if the
    /// memory cannot be had (a capacity only: the tables still grow as needed).
    pub(crate) fn with_capacity(axons: u64, synapses: u64) -> Tables {
        let mut t = Tables::default();
        let _ = t.axons.try_reserve_exact(axons as usize);
        let _ = t.synapses.try_reserve_exact(synapses as usize);
        t
    }
}

/// One core of a [`FlatChip`]: [`CoreConfig`] with the axons' rows back to back in the chip's
/// tables (read-only, like the whole [`FlatChip`]).
#[derive(Clone, Debug, Default)]
pub struct FlatCore {
    pub(crate) id: u32,
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) group_exponents: Vec<i32>,
    pub(crate) compartments: Vec<Compartment>,
    /// The chip's tables (shared by its cores once built, see [`Tables`]).
    tables: Arc<Tables>,
    /// This core's axon entries: `tables.axons[axon0..axon0 + n_axons]`; its synapses:
    /// `tables.synapses[syn0..syn0 + n_syn]` (the entries' `end` counted from `syn0`).
    axon0: usize,
    n_axons: usize,
    syn0: usize,
    n_syn: usize,
}

/// Equal content, wherever the tables are.
impl PartialEq for FlatCore {
    fn eq(&self, other: &FlatCore) -> bool {
        self.id == other.id
            && self.x == other.x
            && self.y == other.y
            && self.group_exponents == other.group_exponents
            && self.compartments == other.compartments
            && self.entries() == other.entries()
            && self.synapses() == other.synapses()
    }
}

impl Eq for FlatCore {}

impl FlatCore {
    /// See [`CoreConfig::id`].
    pub fn id(&self) -> u32 {
        self.id
    }

    /// See [`CoreConfig::x`].
    pub fn x(&self) -> u32 {
        self.x
    }

    /// See [`CoreConfig::y`].
    pub fn y(&self) -> u32 {
        self.y
    }

    /// Weight exponent of each accumulator group.
    pub fn group_exponents(&self) -> &[i32] {
        &self.group_exponents
    }

    /// The compartment table.
    pub fn compartments(&self) -> &[Compartment] {
        &self.compartments
    }

    fn entries(&self) -> &[AxonEntry] {
        self.tables
            .axons
            .get(self.axon0..self.axon0 + self.n_axons)
            .unwrap_or(&[])
    }

    fn synapses(&self) -> &[Synapse] {
        self.tables
            .synapses
            .get(self.syn0..self.syn0 + self.n_syn)
            .unwrap_or(&[])
    }

    /// A core without axons, whose axons will be appended to `tables`
    /// ([`FlatCore::push_axon`]); [`FlatCore::attach`] it to the finished tables.
    pub(crate) fn new(
        id: u32,
        (x, y): (u32, u32),
        group_exponents: Vec<i32>,
        compartments: Vec<Compartment>,
        tables: &Tables,
    ) -> FlatCore {
        FlatCore {
            id,
            x,
            y,
            group_exponents,
            compartments,
            tables: Arc::default(),
            axon0: tables.axons.len(),
            n_axons: 0,
            syn0: tables.synapses.len(),
            n_syn: 0,
        }
    }

    /// Appends an axon whose row is `synapses` to `tables` (the core's last axon so far).
    /// Returns `false`, adding nothing, when the core would hold more than `u32::MAX`
    /// synapses (the format's per-core limit).
    pub(crate) fn push_axon(
        &mut self,
        tables: &mut Tables,
        group: u16,
        current: u8,
        synapses: impl IntoIterator<Item = Synapse>,
    ) -> bool {
        let before = tables.synapses.len();
        tables.synapses.extend(synapses);
        match u32::try_from(tables.synapses.len() - self.syn0) {
            Ok(end) => {
                tables.axons.push(AxonEntry {
                    group,
                    current,
                    end,
                });
                self.n_axons += 1;
                self.n_syn = end as usize;
                true
            }
            Err(_) => {
                tables.synapses.truncate(before);
                false
            }
        }
    }

    /// Appends axons `rows` (group, current, row length) whose rows are `synapses` back to
    /// back, in one pass over each table (the decoder's way: a big chip has tens of millions
    /// of one-synapse rows). Returns `false`, adding nothing, when `synapses` does not hold
    /// exactly the rows' synapses or the core would hold more than `u32::MAX` synapses.
    pub(crate) fn push_rows(
        &mut self,
        tables: &mut Tables,
        rows: &[(u16, u8, u32)],
        synapses: impl IntoIterator<Item = Synapse>,
    ) -> bool {
        let (before, axons_before) = (tables.synapses.len(), tables.axons.len());
        tables.synapses.extend(synapses);
        let added = tables.synapses.len() - before;
        let sum = rows.iter().map(|&(_, _, n)| u64::from(n)).sum::<u64>();
        let mut end = self.n_syn as u64;
        if sum != added as u64 || u32::try_from(end + sum).is_err() {
            tables.synapses.truncate(before);
            return false;
        }
        tables.axons.extend(rows.iter().map(|&(group, current, n)| {
            end += u64::from(n);
            // Within `u32` by the check above.
            AxonEntry {
                group,
                current,
                end: end as u32,
            }
        }));
        self.n_axons += tables.axons.len() - axons_before;
        self.n_syn = end as usize;
        true
    }

    /// Points the core at the chip's finished tables.
    pub(crate) fn attach(&mut self, tables: &Arc<Tables>) {
        self.tables = Arc::clone(tables);
    }

    /// Input axons.
    pub fn n_axons(&self) -> usize {
        self.entries().len()
    }

    /// Synapses of all axons.
    pub fn n_synapses(&self) -> usize {
        self.synapses().len()
    }

    /// Axon `a`, or `None` past the last.
    pub fn axon(&self, a: usize) -> Option<AxonRef<'_>> {
        let entries = self.entries();
        let e = entries.get(a)?;
        let start = match a {
            0 => 0,
            _ => entries[a - 1].end as usize,
        };
        Some(AxonRef {
            group: e.group,
            current: e.current,
            synapses: self.synapses().get(start..e.end as usize).unwrap_or(&[]),
        })
    }

    /// The axons in order.
    pub fn axons(&self) -> Axons<'_> {
        Axons {
            entries: self.entries(),
            synapses: self.synapses(),
            start: 0,
        }
    }
}

/// The axons of a [`FlatCore`], in order ([`FlatCore::axons`]).
#[derive(Clone, Debug)]
pub struct Axons<'a> {
    entries: &'a [AxonEntry],
    synapses: &'a [Synapse],
    start: usize,
}

impl<'a> Iterator for Axons<'a> {
    type Item = AxonRef<'a>;

    fn next(&mut self) -> Option<AxonRef<'a>> {
        let (e, rest) = self.entries.split_first()?;
        self.entries = rest;
        let end = e.end as usize;
        let synapses = self.synapses.get(self.start..end).unwrap_or(&[]);
        self.start = end;
        Some(AxonRef {
            group: e.group,
            current: e.current,
            synapses,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.entries.len(), Some(self.entries.len()))
    }
}

impl ExactSizeIterator for Axons<'_> {}

/// A chip configuration with flat synapse tables: the content of a [`ChipConfig`] (see there
/// for the fields), in about an eighth of the memory on chips of short rows. Read-only: one
/// read by [`crate::read_chipdir_flat`] is known valid, and [`FlatChip::validate`] does not
/// check it again.
#[derive(Clone, Debug)]
pub struct FlatChip {
    pub(crate) target: Target,
    pub(crate) net_name: String,
    pub(crate) net_hash: u64,
    pub(crate) populations: Vec<PopulationInfo>,
    pub(crate) inputs: Vec<Vec<Destination>>,
    pub(crate) readout: u32,
    pub(crate) input_rate: f64,
    pub(crate) cores: Vec<FlatCore>,
    /// Passed every check of [`crate::read_chipdir_flat`].
    pub(crate) validated: bool,
}

/// Equal content (whether it was read from a CHIPDIR or not).
impl PartialEq for FlatChip {
    fn eq(&self, other: &FlatChip) -> bool {
        self.target == other.target
            && self.net_name == other.net_name
            && self.net_hash == other.net_hash
            && self.populations == other.populations
            && self.inputs == other.inputs
            && self.readout == other.readout
            && self.input_rate == other.input_rate
            && self.cores == other.cores
    }
}

impl FlatChip {
    /// [`crate::validate`] for a flat configuration: the same rules, the same errors
    /// (immediately `Ok` for one [`crate::read_chipdir_flat`] read, which checked them all).
    pub fn validate(&self) -> Result<(), crate::ChipError> {
        if self.validated {
            return Ok(());
        }
        crate::validate::check(self)
    }

    /// See [`ChipConfig::target`].
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// See [`ChipConfig::net_name`].
    pub fn net_name(&self) -> &str {
        &self.net_name
    }

    /// See [`ChipConfig::net_hash`].
    pub fn net_hash(&self) -> u64 {
        self.net_hash
    }

    /// See [`ChipConfig::populations`].
    pub fn populations(&self) -> &[PopulationInfo] {
        &self.populations
    }

    /// See [`ChipConfig::inputs`].
    pub fn inputs(&self) -> &[Vec<Destination>] {
        &self.inputs
    }

    /// See [`ChipConfig::readout`].
    pub fn readout(&self) -> u32 {
        self.readout
    }

    /// See [`ChipConfig::input_rate`].
    pub fn input_rate(&self) -> f64 {
        self.input_rate
    }

    /// The cores, in id order.
    pub fn cores(&self) -> &[FlatCore] {
        &self.cores
    }

    /// `config` in flat tables.
    pub fn from_config(config: &ChipConfig) -> FlatChip {
        let mut chip = FlatChipBuilder::new(
            config.target.clone(),
            config.cores.iter().map(|c| c.axons.len() as u64).sum(),
            config
                .cores
                .iter()
                .flat_map(|c| &c.axons)
                .map(|a| a.synapses.len() as u64)
                .sum(),
        );
        for c in &config.cores {
            chip.begin_core(
                c.id,
                (c.x, c.y),
                c.group_exponents.clone(),
                c.compartments.clone(),
            );
            for a in &c.axons {
                chip.push_axon(a.group, a.current, &a.synapses);
            }
        }
        chip.net_name = config.net_name.clone();
        chip.net_hash = config.net_hash;
        chip.populations = config.populations.clone();
        chip.inputs = config.inputs.clone();
        chip.readout = config.readout;
        chip.input_rate = config.input_rate;
        // A core past u32::MAX synapses is invalid; `validate` reports it on the ChipConfig,
        // and the row is dropped here.
        chip.build()
    }

    /// Drops every core's axons and synapses (one allocation each for the whole chip, so
    /// the memory goes back to the system): for a loader that has laid them out elsewhere and
    /// still reads the rest. The cores then have no axons.
    pub fn drop_axons(&mut self) {
        for c in &mut self.cores {
            c.tables = Arc::default();
            (c.axon0, c.n_axons, c.syn0, c.n_syn) = (0, 0, 0, 0);
        }
    }

    /// The same configuration as a [`ChipConfig`].
    pub fn into_config(self) -> ChipConfig {
        let cores = self
            .cores
            .into_iter()
            .map(|c| {
                let axons = c
                    .axons()
                    .map(|a| Axon {
                        group: a.group,
                        current: a.current,
                        synapses: a.synapses.to_vec(),
                    })
                    .collect();
                CoreConfig {
                    id: c.id,
                    x: c.x,
                    y: c.y,
                    group_exponents: c.group_exponents,
                    compartments: c.compartments,
                    axons,
                }
            })
            .collect();
        ChipConfig {
            target: self.target,
            net_name: self.net_name,
            net_hash: self.net_hash,
            populations: self.populations,
            inputs: self.inputs,
            readout: self.readout,
            input_rate: self.input_rate,
            cores,
        }
    }
}

/// Shares the finished `tables` among `cores` (built with [`FlatCore::new`] and
/// [`FlatCore::push_axon`] on them).
pub(crate) fn attach_all(cores: &mut [FlatCore], tables: Tables) {
    let tables = Arc::new(tables);
    for c in cores {
        c.attach(&tables);
    }
}

/// Builds a [`FlatChip`] core by core, each axon's row appended straight into the chip's flat
/// tables: for a backend laying out a big chip without a `Vec` per row (a [`ChipConfig`] of
/// 32 M one-synapse rows takes ~64 bytes per synapse, the tables ~16).
///
/// The header fields are public; cores are added with [`FlatChipBuilder::begin_core`] and
/// [`FlatChipBuilder::push_axon`], in order. The result is not validated (see
/// [`FlatChip::validate`]; [`crate::write_chipdir_flat`] validates before writing).
#[derive(Debug)]
pub struct FlatChipBuilder {
    pub target: Target,
    pub net_name: String,
    pub net_hash: u64,
    pub populations: Vec<PopulationInfo>,
    pub inputs: Vec<Vec<Destination>>,
    pub readout: u32,
    pub input_rate: f64,
    tables: Tables,
    cores: Vec<FlatCore>,
    /// The first row that could not be added.
    error: Option<crate::ChipError>,
}

impl FlatChipBuilder {
    /// An empty chip for `target`, with room for `axons` axons and `synapses` synapses in
    /// all (a capacity only; the tables grow as needed).
    pub fn new(target: Target, axons: u64, synapses: u64) -> FlatChipBuilder {
        FlatChipBuilder {
            target,
            net_name: String::new(),
            net_hash: 0,
            populations: Vec::new(),
            inputs: Vec::new(),
            readout: 0,
            input_rate: 0.0,
            tables: Tables::with_capacity(axons, synapses),
            cores: Vec::new(),
            error: None,
        }
    }

    /// Starts a core: the following [`FlatChipBuilder::push_axon`]s are its axons 0, 1, ...
    pub fn begin_core(
        &mut self,
        id: u32,
        position: (u32, u32),
        group_exponents: Vec<i32>,
        compartments: Vec<Compartment>,
    ) {
        let core = FlatCore::new(id, position, group_exponents, compartments, &self.tables);
        self.cores.push(core);
    }

    /// Appends an input axon whose row is `synapses` to the core begun last (ignored before
    /// the first core, which [`FlatChipBuilder::finish`] then reports).
    pub fn push_axon(&mut self, group: u16, current: u8, synapses: &[Synapse]) {
        let error = match self.cores.last_mut() {
            Some(core) => {
                if core.push_axon(&mut self.tables, group, current, synapses.iter().copied()) {
                    return;
                }
                crate::ChipError::invalid(
                    Some(core.id),
                    "synapses",
                    format!("more than {} synapses on one core", u32::MAX),
                )
            }
            None => crate::ChipError::invalid(None, "axons", "an axon came before any core"),
        };
        self.error.get_or_insert(error);
    }

    /// The compartment table of core `core` (in the order begun), for fields known only once
    /// every core is laid out (fan-out destinations).
    pub fn compartments_mut(&mut self, core: usize) -> Option<&mut [Compartment]> {
        self.cores
            .get_mut(core)
            .map(|c| c.compartments.as_mut_slice())
    }

    /// The chip. Fails if a core was given more synapses than the format holds
    /// (`u32::MAX`), or an axon before any core.
    pub fn finish(mut self) -> Result<FlatChip, crate::ChipError> {
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(self.build()),
        }
    }

    /// The chip, without the rows that could not be added.
    fn build(self) -> FlatChip {
        let mut cores = self.cores;
        attach_all(&mut cores, self.tables);
        FlatChip {
            target: self.target,
            net_name: self.net_name,
            net_hash: self.net_hash,
            populations: self.populations,
            inputs: self.inputs,
            readout: self.readout,
            input_rate: self.input_rate,
            cores,
            validated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn(compartment: u32, weight: i32) -> Synapse {
        Synapse {
            compartment,
            weight,
        }
    }

    /// A core after its rows are appended one by one, and after `push_rows`.
    fn both(rows: &[(u16, u8, Vec<Synapse>)]) -> (FlatCore, FlatCore) {
        let one_by_one = {
            let mut tables = Tables::default();
            let mut core = FlatCore::new(0, (0, 0), vec![0, 3], Vec::new(), &tables);
            for (group, current, s) in rows {
                assert!(core.push_axon(&mut tables, *group, *current, s.iter().copied()));
            }
            core.attach(&Arc::new(tables));
            core
        };
        let at_once = {
            let mut tables = Tables::default();
            // A core before this one, so that both tables start past 0.
            let mut first = FlatCore::new(7, (1, 0), vec![0], Vec::new(), &tables);
            assert!(first.push_axon(&mut tables, 0, 1, [syn(0, 9)]));
            let mut core = FlatCore::new(0, (0, 0), vec![0, 3], Vec::new(), &tables);
            let lens: Vec<_> = rows
                .iter()
                .map(|(g, c, s)| (*g, *c, s.len() as u32))
                .collect();
            let all = rows.iter().flat_map(|r| r.2.iter().copied());
            assert!(core.push_rows(&mut tables, &lens, all));
            core.attach(&Arc::new(tables));
            core
        };
        (one_by_one, at_once)
    }

    #[test]
    fn rows_at_once_equal_rows_one_by_one() {
        let rows = vec![
            (1, 1, vec![syn(2, -5)]),
            (0, 2, vec![]),
            (1, 1, vec![syn(0, 1), syn(1, 7), syn(4, -128)]),
            (0, 1, vec![syn(3, 0)]),
        ];
        let (a, b) = both(&rows);
        assert_eq!(a, b);
        assert_eq!((b.n_axons(), b.n_synapses()), (4, 5));
        let second = b.axon(2).unwrap();
        assert_eq!((second.group, second.current), (1, 1));
        assert_eq!(second.synapses, &rows[2].2[..]);
        assert_eq!(b.axon(1).unwrap().synapses, &[]);
    }

    #[test]
    fn rows_at_once_refuse_a_synapse_count_that_differs() {
        let mut tables = Tables::default();
        let mut core = FlatCore::new(0, (0, 0), vec![0], Vec::new(), &tables);
        for given in [vec![syn(0, 1)], vec![syn(0, 1), syn(1, 2), syn(0, 3)]] {
            assert!(!core.push_rows(&mut tables, &[(0, 1, 2)], given));
            assert_eq!((tables.axons.len(), tables.synapses.len()), (0, 0));
        }
        assert!(core.push_rows(&mut tables, &[(0, 1, 2)], [syn(0, 1), syn(1, 2)]));
        assert_eq!((tables.axons.len(), tables.synapses.len()), (1, 2));
    }
}
