//! [`FlatChip`]: a chip configuration with each core's synapse rows in two flat tables, the
//! form [`crate::read_chipdir_flat`] reads a CHIPDIR into (a big sparse chip has one axon row
//! per synapse: a `Vec` per row costs ~8× the CHIPDIR in memory, the tables ~1×).

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
}

/// An axon's entry: group, current and the end of its row in [`FlatCore`]'s synapse table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AxonEntry {
    group: u16,
    current: u8,
    end: u32,
}

/// One core of a [`FlatChip`]: [`CoreConfig`] with the axons' rows back to back in one table.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlatCore {
    pub id: u32,
    pub x: u32,
    pub y: u32,
    /// Weight exponent of each accumulator group.
    pub group_exponents: Vec<i32>,
    pub compartments: Vec<Compartment>,
    axons: Vec<AxonEntry>,
    synapses: Vec<Synapse>,
}

impl FlatCore {
    /// A core without axons.
    pub fn new(
        id: u32,
        (x, y): (u32, u32),
        group_exponents: Vec<i32>,
        compartments: Vec<Compartment>,
    ) -> FlatCore {
        FlatCore {
            id,
            x,
            y,
            group_exponents,
            compartments,
            axons: Vec::new(),
            synapses: Vec::new(),
        }
    }

    /// Reserves room for `axons` more axons and `synapses` more synapses.
    pub fn reserve(&mut self, axons: usize, synapses: usize) {
        self.axons.reserve_exact(axons);
        self.synapses.reserve_exact(synapses);
    }

    /// Appends an axon whose row is `synapses`. Returns `false`, adding nothing, when the
    /// core would hold more than `u32::MAX` synapses (the format's per-core limit).
    pub fn push_axon(
        &mut self,
        group: u16,
        current: u8,
        synapses: impl IntoIterator<Item = Synapse>,
    ) -> bool {
        let before = self.synapses.len();
        self.synapses.extend(synapses);
        match u32::try_from(self.synapses.len()) {
            Ok(end) => {
                self.axons.push(AxonEntry {
                    group,
                    current,
                    end,
                });
                true
            }
            Err(_) => {
                self.synapses.truncate(before);
                false
            }
        }
    }

    /// Input axons.
    pub fn n_axons(&self) -> usize {
        self.axons.len()
    }

    /// Synapses of all axons.
    pub fn n_synapses(&self) -> usize {
        self.synapses.len()
    }

    /// Axon `a`, or `None` past the last.
    pub fn axon(&self, a: usize) -> Option<AxonRef<'_>> {
        let e = self.axons.get(a)?;
        let start = match a {
            0 => 0,
            _ => self.axons[a - 1].end as usize,
        };
        Some(AxonRef {
            group: e.group,
            current: e.current,
            synapses: self.synapses.get(start..e.end as usize).unwrap_or(&[]),
        })
    }

    /// The axons in order.
    pub fn axons(&self) -> Axons<'_> {
        Axons {
            entries: &self.axons,
            synapses: &self.synapses,
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
/// for the fields), in about an eighth of the memory on chips of short rows.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatChip {
    pub target: Target,
    pub net_name: String,
    pub net_hash: u64,
    pub populations: Vec<PopulationInfo>,
    pub inputs: Vec<Vec<Destination>>,
    pub readout: u32,
    pub input_rate: f64,
    pub cores: Vec<FlatCore>,
}

impl FlatChip {
    /// [`crate::validate`] for a flat configuration: the same rules, the same errors.
    pub fn validate(&self) -> Result<(), crate::ChipError> {
        crate::validate::check(self)
    }

    /// `config` in flat tables.
    pub fn from_config(config: &ChipConfig) -> FlatChip {
        let cores = config
            .cores
            .iter()
            .map(|c| {
                let mut core = FlatCore::new(
                    c.id,
                    (c.x, c.y),
                    c.group_exponents.clone(),
                    c.compartments.clone(),
                );
                core.reserve(
                    c.axons.len(),
                    c.axons.iter().map(|a| a.synapses.len()).sum(),
                );
                for a in &c.axons {
                    // A core past u32::MAX synapses is invalid; `validate` reports it on the
                    // ChipConfig, and the row is dropped here.
                    core.push_axon(a.group, a.current, a.synapses.iter().copied());
                }
                core
            })
            .collect();
        FlatChip {
            target: config.target.clone(),
            net_name: config.net_name.clone(),
            net_hash: config.net_hash,
            populations: config.populations.clone(),
            inputs: config.inputs.clone(),
            readout: config.readout,
            input_rate: config.input_rate,
            cores,
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
