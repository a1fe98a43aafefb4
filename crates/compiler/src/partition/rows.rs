//! Exact per-core row accounting while a core is filled: each axon's row (sparse or dense, as
//! the target's cost model charges it) and, where the target has `shared_kernels`, how many
//! axons use each distinct row content, so memory is charged once per content. Every change is
//! logged so a tentative add can be undone.

use rustc_hash::FxHashMap;

use lifchip_target::Target;

use super::{AxonKey, CoreAssignment, NeuronInput};

/// One axon's row on a core while it is being filled: the compartments it reaches are
/// `first..=last` (local indices, assigned in increasing order) and `count` of them; `content`
/// hashes its `(compartment - first, weight)` sequence, so rows that a target with
/// `shared_kernels` stores once (identical up to a compartment offset) hash alike.
#[derive(Clone, Copy, Debug)]
struct RowSpan {
    first: u32,
    last: u32,
    count: u32,
    content: u64,
}

impl RowSpan {
    fn new(projection: u32, local: u32, weight: i32) -> RowSpan {
        RowSpan {
            first: local,
            last: local,
            count: 1,
            content: mix(
                mix(0x6c69_6663_6869_7021, u64::from(projection)),
                entry(0, weight),
            ),
        }
    }

    fn grown(&self, local: u32, weight: i32) -> RowSpan {
        RowSpan {
            first: self.first,
            last: local,
            count: self.count + 1,
            content: mix(self.content, entry(local - self.first, weight)),
        }
    }

    fn bits(&self, target: &Target) -> u64 {
        target.row_bits(u64::from(self.count), u64::from(self.last - self.first) + 1)
    }
}

pub(super) fn entry(offset: u32, weight: i32) -> u64 {
    (u64::from(offset) << 32) | u64::from(weight as u32)
}

/// A 64-bit mixing step (splitmix64's finaliser over the running hash and the next word).
pub(super) fn mix(h: u64, x: u64) -> u64 {
    let mut z = (h ^ x).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A core being filled: its rows by axon and, where rows may be shared, how many axons use
/// each distinct row content (memory is charged once per content).
#[derive(Default)]
pub(super) struct CoreFill {
    rows: FxHashMap<AxonKey, RowSpan>,
    contents: FxHashMap<u64, u32>,
}

/// What adding a neuron to a core brought: new input axons, and the packet weight of their
/// sources (the traffic they add).
#[derive(Clone, Copy)]
pub(super) struct Added {
    pub(super) axons: usize,
    pub(super) packets: u64,
}

/// How to take back one row change of a tentative [`CoreFill::add`].
pub(super) struct Undo {
    key: AxonKey,
    old: Option<RowSpan>,
}

/// A core's counters before a tentative add, to restore them.
#[derive(Clone, Copy)]
pub(super) struct Snapshot {
    axons: usize,
    synapses: u64,
    synapse_bits: u64,
}

impl Snapshot {
    pub(super) fn of(core: &CoreAssignment) -> Snapshot {
        Snapshot {
            axons: core.axons.len(),
            synapses: core.synapses,
            synapse_bits: core.synapse_bits,
        }
    }
}

impl CoreFill {
    /// Empties the tables, keeping their capacity (for another core).
    pub(super) fn clear(&mut self) {
        self.rows.clear();
        self.contents.clear();
    }

    /// How many of `axons` (distinct keys) this core has no row for yet, counting up to
    /// `stop`: the new axons [`CoreFill::add`] would bring, read-only.
    pub(super) fn new_axons(&self, axons: &[NeuronInput], stop: usize) -> usize {
        let mut new = 0;
        for input in axons {
            if !self.rows.contains_key(&input.axon) {
                new += 1;
                if new >= stop {
                    break;
                }
            }
        }
        new
    }

    /// Adds a neuron with inputs `axons` as compartment `local` of `core`, updating rows,
    /// content counts, the core's axons, synapses and synapse bits, and logging each row change
    /// in `log` so that [`CoreFill::undo`] can take it back. Returns the new axons and their
    /// packet weight, or `None` (after a partial add, to be undone) as soon as the new axons
    /// reach `axon_bound`.
    pub(super) fn add(
        &mut self,
        axons: &[NeuronInput],
        local: u32,
        target: &Target,
        core: &mut CoreAssignment,
        axon_bound: usize,
        log: &mut Vec<Undo>,
    ) -> Option<Added> {
        use std::collections::hash_map::Entry;
        let shared = target.core.shared_kernels;
        let entry_bits = target.axon_entries_bits(1);
        let mut bits = core.synapse_bits;
        let mut added = Added {
            axons: 0,
            packets: 0,
        };
        log.clear();
        for input in axons {
            let (a, w) = (input.axon, input.weight);
            let (old, new) = match self.rows.entry(a) {
                Entry::Occupied(mut e) => {
                    let old = *e.get();
                    let new = old.grown(local, w);
                    e.insert(new);
                    (Some(old), new)
                }
                Entry::Vacant(e) => {
                    let new = RowSpan::new(a.projection, local, w);
                    e.insert(new);
                    core.axons.push(a);
                    added.axons += 1;
                    added.packets += input.packets;
                    bits += entry_bits;
                    (None, new)
                }
            };
            log.push(Undo { key: a, old });
            if shared {
                if let Some(old) = old
                    && let Some(users) = self.contents.get_mut(&old.content)
                {
                    *users -= 1;
                    if *users == 0 {
                        self.contents.remove(&old.content);
                        bits -= old.bits(target);
                    }
                }
                let users = self.contents.entry(new.content).or_insert(0);
                if *users == 0 {
                    bits += new.bits(target);
                }
                *users += 1;
            } else {
                bits = bits + new.bits(target) - old.map_or(0, |o| o.bits(target));
            }
            if added.axons >= axon_bound {
                core.synapse_bits = bits;
                return None;
            }
        }
        core.synapse_bits = bits;
        core.synapses += axons.len() as u64;
        Some(added)
    }

    /// Takes back the row changes logged by the last [`CoreFill::add`] and restores `core`'s
    /// counters from `before`.
    pub(super) fn undo(
        &mut self,
        log: &[Undo],
        target: &Target,
        core: &mut CoreAssignment,
        before: Snapshot,
    ) {
        for u in log.iter().rev() {
            let Some(current) = self.rows.get(&u.key).copied() else {
                continue;
            };
            if target.core.shared_kernels {
                if let Some(users) = self.contents.get_mut(&current.content) {
                    *users -= 1;
                    if *users == 0 {
                        self.contents.remove(&current.content);
                    }
                }
                if let Some(old) = u.old {
                    *self.contents.entry(old.content).or_insert(0) += 1;
                }
            }
            match u.old {
                Some(old) => self.rows.insert(u.key, old),
                None => self.rows.remove(&u.key),
            };
        }
        core.axons.truncate(before.axons);
        core.synapses = before.synapses;
        core.synapse_bits = before.synapse_bits;
    }
}
