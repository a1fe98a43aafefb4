//! One reading of [`ChipConfig`] and [`FlatChip`] for the checks and summaries both forms share.

use lifchip_target::Target;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::{
    AxonRef, ChipConfig, Compartment, CoreConfig, Destination, FlatChip, FlatCore, PopulationInfo,
};

/// A chip configuration, in either form (`Sync`: the checks run over its cores in parallel).
pub(crate) trait ChipView: Sync {
    type Core: CoreView + Sync;
    fn target(&self) -> &Target;
    fn net_name(&self) -> &str;
    fn net_hash(&self) -> u64;
    fn populations(&self) -> &[PopulationInfo];
    fn inputs(&self) -> &[Vec<Destination>];
    fn readout(&self) -> u32;
    fn input_rate(&self) -> f64;
    fn cores(&self) -> &[Self::Core];
}

/// One core, in either form.
pub(crate) trait CoreView {
    fn id(&self) -> u32;
    fn x(&self) -> u32;
    fn y(&self) -> u32;
    fn group_exponents(&self) -> &[i32];
    fn compartments(&self) -> &[Compartment];
    fn n_axons(&self) -> usize;
    fn axon(&self, a: usize) -> Option<AxonRef<'_>>;
    fn axons(&self) -> impl Iterator<Item = AxonRef<'_>> + Clone;
}

macro_rules! chip_view {
    ($t:ty, $core:ty) => {
        impl ChipView for $t {
            type Core = $core;
            fn target(&self) -> &Target {
                &self.target
            }
            fn net_name(&self) -> &str {
                &self.net_name
            }
            fn net_hash(&self) -> u64 {
                self.net_hash
            }
            fn populations(&self) -> &[PopulationInfo] {
                &self.populations
            }
            fn inputs(&self) -> &[Vec<Destination>] {
                &self.inputs
            }
            fn readout(&self) -> u32 {
                self.readout
            }
            fn input_rate(&self) -> f64 {
                self.input_rate
            }
            fn cores(&self) -> &[$core] {
                &self.cores
            }
        }
    };
}
chip_view!(ChipConfig, CoreConfig);
chip_view!(FlatChip, FlatCore);

fn axon_ref(a: &crate::Axon) -> AxonRef<'_> {
    AxonRef {
        group: a.group,
        current: a.current,
        synapses: &a.synapses,
    }
}

impl CoreView for CoreConfig {
    fn id(&self) -> u32 {
        self.id
    }
    fn x(&self) -> u32 {
        self.x
    }
    fn y(&self) -> u32 {
        self.y
    }
    fn group_exponents(&self) -> &[i32] {
        &self.group_exponents
    }
    fn compartments(&self) -> &[Compartment] {
        &self.compartments
    }
    fn n_axons(&self) -> usize {
        self.axons.len()
    }
    fn axon(&self, a: usize) -> Option<AxonRef<'_>> {
        self.axons.get(a).map(axon_ref)
    }
    fn axons(&self) -> impl Iterator<Item = AxonRef<'_>> + Clone {
        self.axons.iter().map(axon_ref)
    }
}

impl CoreView for FlatCore {
    fn id(&self) -> u32 {
        self.id
    }
    fn x(&self) -> u32 {
        self.x
    }
    fn y(&self) -> u32 {
        self.y
    }
    fn group_exponents(&self) -> &[i32] {
        &self.group_exponents
    }
    fn compartments(&self) -> &[Compartment] {
        &self.compartments
    }
    fn n_axons(&self) -> usize {
        FlatCore::n_axons(self)
    }
    fn axon(&self, a: usize) -> Option<AxonRef<'_>> {
        FlatCore::axon(self, a)
    }
    fn axons(&self) -> impl Iterator<Item = AxonRef<'_>> + Clone {
        FlatCore::axons(self)
    }
}

/// See [`CoreConfig::synapse_bits`].
pub(crate) fn synapse_bits<K: CoreView>(core: &K, target: &Target) -> u64 {
    // Rows charged so far, by a hash of their (group, relative content); equal hashes are
    // compared in full, so a collision never merges different rows.
    let mut stored: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    // Rows of at most one synapse charged so far, by their exact key.
    let mut short: FxHashSet<u64> = FxHashSet::default();
    let mut rows = 0u64;
    for (k, axon) in core.axons().enumerate() {
        if target.core.shared_kernels
            && let Some(key) = axon.short_key()
        {
            if !short.insert(key) {
                continue;
            }
        } else if target.core.shared_kernels {
            let charged = stored.entry(axon.relative_hash()).or_default();
            if charged
                .iter()
                .any(|&j| core.axon(j).is_some_and(|o| o.same_relative(&axon)))
            {
                continue;
            }
            charged.push(k);
        }
        rows = rows.saturating_add(target.row_bits(axon.synapses.len() as u64, axon.span()));
    }
    rows.saturating_add(target.axon_entries_bits(core.n_axons() as u64))
}
