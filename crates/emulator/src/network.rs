//! The mesh network model: a cycle-stepped simulation of routers with input FIFOs,
//! dimension-order multicast forwarding, link bandwidth, hop latency and backpressure.
//!
//! The rules (docs/core-model.md, "The network phase") are synchronous, so the result does not
//! depend on the order in which routers are visited within a cycle:
//! - every router has five input FIFOs: local injection (unbounded) and one per incoming link
//!   (`fifo_depth` packets; a packet occupies its slot from the cycle it is sent);
//! - in cycle `k`, a router serves its input FIFOs in the fixed order local, from -x (moving
//!   +x), from +x, from -y, from +y; from each it forwards up to `link_packets_per_cycle`
//!   packets, in FIFO order, stopping at the first that cannot go;
//! - a packet at the head of a FIFO can go when it has arrived (`ready <= k`) and every output
//!   its multicast tree needs at this router is free: each outgoing link and the ejection port
//!   carry at most `link_packets_per_cycle` packets per cycle, and the downstream FIFO has
//!   room counting its occupancy at the start of cycle `k` plus packets already sent to it in
//!   cycle `k` (space freed in cycle `k` is usable from `k + 1`);
//! - a forwarded copy becomes ready at the next router in cycle `k + max(1, cycles_per_hop)`;
//!   an ejected packet is delivered in cycle `k`.
//!
//! The drain time is one more than the cycle of the last ejection (0 without packets).

use std::collections::VecDeque;

use crate::program::{NONE, Topology};

#[derive(Clone, Copy, Debug)]
struct Flit {
    node: u32,
    ready: u64,
}

#[derive(Clone, Debug, Default)]
struct Fifo {
    q: VecDeque<Flit>,
    /// Cycle of the pops counted in `pops`.
    pop_cycle: u64,
    pops: u32,
}

/// Output ports per router: four links and the ejection port.
const OUTPUTS: usize = 5;
/// Input ports per router: local injection and four links.
const INPUTS: usize = 5;
const EJECT: usize = 4;

/// The network's link and FIFO parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NetParams {
    pub hop_cycles: u64,
    pub link_packets_per_cycle: u32,
    pub fifo_depth: u32,
}

/// Reusable state of the network simulation (FIFOs empty between drains).
#[derive(Clone, Debug, Default)]
pub(crate) struct NetSim {
    /// Visit routers in reverse order (tests check that the order does not matter).
    #[cfg(test)]
    reversed: bool,
    fifos: Vec<Fifo>,
    queued: Vec<u32>,
    out_cycle: Vec<u64>,
    out_used: Vec<u32>,
}

impl NetSim {
    pub fn new(routers: usize) -> Self {
        NetSim {
            #[cfg(test)]
            reversed: false,
            fifos: vec![Fifo::default(); routers * INPUTS],
            queued: vec![0; routers],
            out_cycle: vec![u64::MAX; routers * OUTPUTS],
            out_used: vec![0; routers * OUTPUTS],
        }
    }

    /// Injects one packet per tree of `trees` (in order, at each tree's root router) at cycle 0
    /// and runs the network until every copy is delivered; returns the drain time in cycles.
    pub fn drain(&mut self, topo: &Topology, trees: &[u32], p: NetParams) -> u64 {
        if trees.is_empty() {
            return 0;
        }
        for f in &mut self.fifos {
            f.pop_cycle = u64::MAX;
        }
        self.out_cycle.fill(u64::MAX);
        let lpc = p.link_packets_per_cycle.max(1);
        let depth = p.fifo_depth.max(1) as usize;
        let hop = p.hop_cycles.max(1);
        let mut in_flight = 0u64;
        for &t in trees {
            let root = topo.roots[t as usize];
            let r = topo.nodes[root as usize].router as usize;
            self.fifos[r * INPUTS].q.push_back(Flit {
                node: root,
                ready: 0,
            });
            self.queued[r] += 1;
            in_flight += 1;
        }
        let mut now = 0u64;
        let mut last_eject = 0u64;
        while in_flight > 0 {
            let mut progressed = false;
            let mut next_ready = u64::MAX;
            let routers = self.queued.len();
            for i in 0..routers {
                #[cfg(test)]
                let r = if self.reversed { routers - 1 - i } else { i };
                #[cfg(not(test))]
                let r = i;
                if self.queued[r] == 0 {
                    continue;
                }
                for port in 0..INPUTS {
                    let fi = r * INPUTS + port;
                    let mut issued = 0;
                    while issued < lpc {
                        let Some(&head) = self.fifos[fi].q.front() else {
                            break;
                        };
                        if head.ready > now {
                            next_ready = next_ready.min(head.ready);
                            break;
                        }
                        let node = topo.nodes[head.node as usize];
                        if !self.can_forward(topo, r, &node, now, lpc, depth) {
                            // Blocked: retry next cycle.
                            progressed = true;
                            break;
                        }
                        self.fifos[fi].q.pop_front();
                        let f = &mut self.fifos[fi];
                        if f.pop_cycle != now {
                            f.pop_cycle = now;
                            f.pops = 0;
                        }
                        f.pops += 1;
                        self.queued[r] -= 1;
                        in_flight -= 1;
                        for (d, &child) in node.child.iter().enumerate() {
                            if child != NONE {
                                let nr = topo.nodes[child as usize].router as usize;
                                self.fifos[nr * INPUTS + 1 + d].q.push_back(Flit {
                                    node: child,
                                    ready: now + hop,
                                });
                                self.queued[nr] += 1;
                                in_flight += 1;
                                self.use_output(r * OUTPUTS + d, now);
                            }
                        }
                        if node.eject {
                            self.use_output(r * OUTPUTS + EJECT, now);
                            last_eject = now;
                        }
                        issued += 1;
                        progressed = true;
                    }
                }
            }
            if in_flight == 0 {
                break;
            }
            now = if progressed || next_ready == u64::MAX {
                now + 1
            } else {
                next_ready
            };
        }
        last_eject + 1
    }

    fn used(&self, out: usize, now: u64) -> u32 {
        if self.out_cycle[out] == now {
            self.out_used[out]
        } else {
            0
        }
    }

    fn use_output(&mut self, out: usize, now: u64) {
        if self.out_cycle[out] != now {
            self.out_cycle[out] = now;
            self.out_used[out] = 0;
        }
        self.out_used[out] += 1;
    }

    fn can_forward(
        &self,
        topo: &Topology,
        r: usize,
        node: &crate::program::Node,
        now: u64,
        lpc: u32,
        depth: usize,
    ) -> bool {
        for (d, &child) in node.child.iter().enumerate() {
            if child == NONE {
                continue;
            }
            if self.used(r * OUTPUTS + d, now) >= lpc {
                return false;
            }
            let nr = topo.nodes[child as usize].router as usize;
            let f = &self.fifos[nr * INPUTS + 1 + d];
            let pops = if f.pop_cycle == now {
                f.pops as usize
            } else {
                0
            };
            if f.q.len() + pops >= depth {
                return false;
            }
        }
        !(node.eject && self.used(r * OUTPUTS + EJECT, now) >= lpc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::TreeBuilder;

    /// Random multicast packets on a random mesh: the drain time must not depend on the order
    /// routers are visited within a cycle, and must be at least the longest path's latency.
    #[test]
    fn drain_does_not_depend_on_router_order() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut target = lifchip_target::builtin("loihi-like").unwrap();
        for case in 0..300 {
            let (w, h) = (1 + rand(5) as u32, 1 + rand(4) as u32);
            target.mesh.width = w;
            target.mesh.height = h;
            let mut b = TreeBuilder::new(&target);
            let mut trees = Vec::new();
            for _ in 0..1 + rand(12) {
                let src = (rand(u64::from(w)) as u32, rand(u64::from(h)) as u32);
                let dests = (0..1 + rand(4))
                    .map(|_| (rand(u64::from(w)) as u32, rand(u64::from(h)) as u32))
                    .collect();
                trees.push(b.tree_to(src, dests).unwrap());
            }
            let topo = b.finish();
            let p = NetParams {
                hop_cycles: 1 + rand(4),
                link_packets_per_cycle: 1 + rand(2) as u32,
                fifo_depth: 1 + rand(3) as u32,
            };
            let mut forward = NetSim::new(topo.routers);
            let mut backward = NetSim::new(topo.routers);
            backward.reversed = true;
            let a = forward.drain(&topo, &trees, p);
            let b2 = backward.drain(&topo, &trees, p);
            assert_eq!(a, b2, "case {case}");
            // No packet arrives faster than its tree's depth allows.
            fn depth(topo: &Topology, node: u32) -> u64 {
                let n = topo.nodes[node as usize];
                n.child
                    .iter()
                    .filter(|&&c| c != NONE)
                    .map(|&c| 1 + depth(topo, c))
                    .max()
                    .unwrap_or(0)
            }
            let deepest = trees
                .iter()
                .map(|&t| depth(&topo, topo.roots[t as usize]))
                .max()
                .unwrap_or(0);
            assert!(a > deepest * p.hop_cycles, "case {case}");
            // The simulation leaves its FIFOs empty for the next drain.
            assert_eq!(forward.drain(&topo, &trees, p), a);
        }
    }
}
