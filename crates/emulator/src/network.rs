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

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
};

use rustc_hash::FxHashMap as HashMap;

use crate::program::NONE;
#[cfg(test)]
use crate::program::Topology;
use crate::shapes::{Quick, QuickParams, Trees, View};

/// Drains whose run-length-encoded packet sequence is at most this long are memoized.
const MEMO_KEY_MAX: usize = 256;
/// The memo is cleared when it holds this many drains.
const MEMO_ENTRIES_MAX: usize = 1 << 16;

#[derive(Clone, Copy, Debug)]
struct Flit<N> {
    node: N,
    /// Index of the packet in the drain's list (for [`NetSim::split`]).
    pkt: u32,
    /// Absolute cycle (see [`NetSim::clock`]) from which the flit may leave.
    ready: u64,
}

/// One input FIFO's state, in one cache line: the head packet inline and what a router sending
/// to the FIFO checks (its length and this cycle's pops). The packets behind the head (rare:
/// a link FIFO mostly holds one packet at a time) wait in [`NetSim::behind`].
#[derive(Clone, Debug)]
#[repr(align(64))]
struct Fifo<N> {
    head: Option<Flit<N>>,
    /// Packets in the FIFO, the head included.
    len: u32,
    /// Cycle of the pops counted in `pops`.
    pop_cycle: u64,
    pops: u32,
    /// The head is held up, its needs in [`NetSim::held`] (a flag beside the counts, so that
    /// a head that moves reads nothing more).
    held: bool,
    /// A held-up head of router `waiter` waits for room in this (full) link FIFO, without
    /// retrying each cycle: its router is woken the cycle after this FIFO next pops.
    waited: bool,
    waiter: u32,
}

/// Per router, its outputs' use (one cache line): output `d` carried `used[d]` packets in
/// cycle `cycle[d]`.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
struct Outputs {
    cycle: [u64; OUTPUTS],
    used: [u32; OUTPUTS],
}

/// Output ports per router: four links and the ejection port.
const OUTPUTS: usize = 5;
/// Input ports per router: local injection and four links.
const INPUTS: usize = 5;
const EJECT: usize = 4;

/// The network's link and FIFO parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NetParams {
    /// Latency of a hop over an x link.
    pub hop_cycles: u64,
    /// Latency of a hop over a y link.
    pub hop_y_cycles: u64,
    pub link_packets_per_cycle: u32,
    pub fifo_depth: u32,
}

impl NetParams {
    /// What [`Trees::quick`] reads of these parameters (hops of at least one cycle, as the
    /// simulation counts them).
    pub(crate) fn quick(&self) -> QuickParams {
        QuickParams {
            hop: [self.hop_cycles.max(1), self.hop_y_cycles.max(1)],
            lpc: self.link_packets_per_cycle.max(1),
            depth: self.fifo_depth.max(1),
            packets_max: QUICK_PACKETS_MAX,
        }
    }
}

/// The routers to visit, by cycle: a calendar queue. Every wake-up lies at most a hop's
/// latency after the cycle being simulated, so a ring of [`Wakeups::RING`] buckets (with a
/// bit each for "not empty") holds them with O(1) pushes and takes; one further ahead (hops
/// longer than the ring) waits in a heap.
#[derive(Clone, Debug)]
struct Wakeups {
    buckets: Vec<Vec<u32>>,
    full: [u64; Wakeups::RING / 64],
    /// The cycle being simulated (no visit is earlier): bucket `c % RING` holds the visits of
    /// cycle `c` for `c` in `[now, now + RING)`.
    now: u64,
    far: BinaryHeap<Reverse<(u64, u32)>>,
    len: usize,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups {
            buckets: vec![Vec::new(); Self::RING],
            full: [0; Self::RING / 64],
            now: 0,
            far: BinaryHeap::new(),
            len: 0,
        }
    }
}

impl Wakeups {
    const RING: usize = 256;

    /// Visit `router` at `cycle` (not before the cycle being simulated).
    fn push(&mut self, cycle: u64, router: u32) {
        debug_assert!(cycle >= self.now);
        self.len += 1;
        if cycle - self.now < Self::RING as u64 {
            let i = (cycle % Self::RING as u64) as usize;
            self.buckets[i].push(router);
            self.full[i / 64] |= 1 << (i % 64);
        } else {
            self.far.push(Reverse((cycle, router)));
        }
    }

    /// The first cycle `>= now` with a visit, if any; moves the clock there.
    #[inline(always)]
    fn next(&mut self, now: u64) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        self.advance(now.max(self.now));
        // The first non-empty bucket at or after `now`'s, going round the ring once.
        let start = (self.now % Self::RING as u64) as usize;
        let mut ahead = None;
        for step in 0..=Self::RING / 64 {
            let w = (start / 64 + step) % (Self::RING / 64);
            let mut bits = self.full[w];
            if step == 0 {
                bits &= !0u64 << (start % 64);
            } else if step == Self::RING / 64 {
                bits &= !(!0u64 << (start % 64));
            }
            if bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                ahead = Some((i + Self::RING - start) % Self::RING);
                break;
            }
        }
        let near = ahead.map(|d| self.now + d as u64);
        let far = self.far.peek().map(|&Reverse((c, _))| c);
        let next = match (near, far) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        self.advance(next);
        Some(next)
    }

    /// Moves the clock to `now`, pulling the far visits that come within the ring. (Inlined:
    /// called twice per cycle simulated, and there are mostly no far visits.)
    #[inline(always)]
    fn advance(&mut self, now: u64) {
        self.now = now;
        if self.far.is_empty() {
            return;
        }
        self.pull_far(now);
    }

    /// [`Wakeups::advance`]'s far visits.
    fn pull_far(&mut self, now: u64) {
        while let Some(&Reverse((c, r))) = self.far.peek() {
            if c - now >= Self::RING as u64 {
                break;
            }
            self.far.pop();
            let i = (c % Self::RING as u64) as usize;
            self.buckets[i].push(r);
            self.full[i / 64] |= 1 << (i % 64);
        }
    }

    /// Moves the visits of `cycle` (the one [`Wakeups::next`] returned) into `out`.
    fn take(&mut self, cycle: u64, out: &mut Vec<u32>) {
        let i = (cycle % Self::RING as u64) as usize;
        self.len -= self.buckets[i].len();
        out.append(&mut self.buckets[i]);
        self.full[i / 64] &= !(1 << (i % 64));
    }

    /// Empty, simulating cycle `now`.
    fn reset(&mut self, now: u64) {
        self.now = now;
        for (w, bits) in self.full.iter_mut().enumerate() {
            while *bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                self.buckets[i].clear();
                *bits &= *bits - 1;
            }
        }
        self.far.clear();
        self.len = 0;
    }
}

/// Reusable state of the network simulation (FIFOs empty between drains).
///
/// The simulation visits, cycle by cycle, only the routers with a packet that can move (a
/// queue of wake-up cycles), and in them only non-empty FIFOs; idle cycles are skipped.
/// Cycles are counted on one clock that runs on across drains, so the per-cycle bookkeeping
/// (link use, FIFO pops) never needs resetting.
/// Generic over the trees' node type ([`Trees::Node`]): the tests run it on materialised
/// trees, the emulator on their shapes.
#[derive(Clone, Debug)]
pub(crate) struct NetSim<N> {
    /// Visit routers in reverse order (tests check that the order does not matter).
    #[cfg(test)]
    reversed: bool,
    fifos: Vec<Fifo<N>>,
    /// Per FIFO, its packets behind the head.
    behind: Vec<VecDeque<Flit<N>>>,
    /// Per FIFO: what its head needs to move, while the head is held up ([`Fifo::held`]): a
    /// held-up head retries (each cycle, or when the full FIFO it waits for pops: see
    /// [`NetSim::park`]), and under contention, as on a conv net's drains, two thirds of the
    /// heads' visits were retries, each computing the head's tree node again.
    held: Vec<Needs>,
    /// Per router: bit `p` set when input FIFO `p` is non-empty.
    nonempty: Vec<u8>,
    /// `(cycle, router)`: a router to visit at that cycle (a FIFO head becomes ready then,
    /// or a blocked or link-limited FIFO retries); every non-empty FIFO has one pending.
    wake: Wakeups,
    /// The routers visited in the current cycle.
    due: Vec<u32>,
    outputs: Vec<Outputs>,
    /// The first cycle of the next drain.
    clock: u64,
    /// Drain times already simulated, by packet sequence (run-length encoded as
    /// `tree << 32 | run`). All packets enter at cycle 0 and the network is empty before, so
    /// the sequence alone fixes the drain time: a repeat is a lookup.
    memo: HashMap<Vec<u64>, u64>,
    key: Vec<u64>,
    /// The contention-free schedule ([`NetSim::ideal`]): per output, the drain (`epoch`)
    /// that last used it and the head of its uses in `uses`.
    use_epoch: Vec<u32>,
    use_head: Vec<u32>,
    /// `(cycle, next use of the same output or NONE)`, for the current drain.
    uses: Vec<(u64, u32)>,
    /// Per router: the drain that last injected there and how many packets it injected.
    root_epoch: Vec<u32>,
    root_count: Vec<u32>,
    epoch: u32,
    stack: Vec<(N, u64)>,
    /// Scratch space of [`Trees::quick`]: each packet's tree and root offset.
    quick: Vec<(u32, u64)>,
    /// Scratch space of [`NetSim::split`]: packets simulated, their trees, and per packet
    /// the most cycles it left a router after its unhindered time.
    in_sim: Vec<bool>,
    sub: Vec<u32>,
    late: Vec<u64>,
    /// Per packet its root and reach; the packets simulated.
    roots: Vec<((u32, u32), u64)>,
    simulated: Vec<usize>,
    /// Scratch space of [`NetSim::legs`]: per simulated packet its offset and the range of
    /// its units (legs, then its source row) in `free` and `ulate`; per unit whether it is
    /// left out of the simulation, and how late (free: exactly; else at most) its copies
    /// leave routers.
    offs: Vec<u64>,
    unit_start: Vec<u32>,
    free: Vec<bool>,
    ulate: Vec<u64>,
    touched: Vec<usize>,
    /// Scratch space of [`NetSim::touched_legs`]: per packet, whether any unit changed.
    changed: Vec<bool>,
    /// Per packet of [`NetSim::legs`], the latest of its units after a simulation: bounds
    /// both its legs' lateness and its windows' ends ([`Trees::legs_touch`]'s `bounds`).
    packet_late: Vec<u64>,
    /// Per unit of [`NetSim::legs`]: its `(free, ulate)` when last checked for touches, and
    /// whether it changed since.
    seen: Vec<(Option<(bool, u64)>, bool)>,
    /// Whether [`NetSim::cycle_by_cycle`] leaves out the free legs.
    legs_on: bool,
    /// Drains the contention-free schedule answered, and those it passed to the simulation.
    #[cfg(test)]
    ideal_hits: (u32, u32),
    /// Split drains where some packets were left out of the simulation.
    #[cfg(test)]
    pub(crate) split_partial: u32,
    /// Simulations that left legs out, and legs found to touch another packet.
    #[cfg(test)]
    pub(crate) legs_cut: (u32, u32),
    /// Split drains of more than `fifo_depth` packets simulated again whole, since a FIFO
    /// might fill.
    #[cfg(test)]
    pub(crate) fill_fallbacks: u32,
}

impl<N: Copy + Default> Default for NetSim<N> {
    fn default() -> Self {
        NetSim::new(0)
    }
}

/// Uses of one output the contention-free schedule looks through before giving up.
const CHAIN_MAX: u32 = 32;
/// Packets of a drain beyond which the pairwise checks ([`Trees::quick`], and the split
/// simulation after it) are not tried: they are O(packets²).
const QUICK_PACKETS_MAX: usize = 64;

/// What a tree node needs of its router to move on: the outputs it uses (bit `d` for link `d`,
/// bit [`EJECT`] for ejection) and the routers its links lead to.
#[derive(Clone, Copy, Debug, Default)]
struct Needs {
    outputs: u8,
    next: [u32; 4],
}

impl Needs {
    fn of<N: Copy + Default>(node: &View<N>) -> Needs {
        let mut needs = Needs {
            outputs: u8::from(node.eject) << EJECT,
            next: [0; 4],
        };
        for (d, _, nr) in node.children() {
            needs.outputs |= 1 << d;
            needs.next[d] = nr;
        }
        needs
    }
}

impl<N: Copy + Default> NetSim<N> {
    pub fn new(routers: usize) -> Self {
        NetSim {
            #[cfg(test)]
            reversed: false,
            fifos: vec![
                Fifo {
                    head: None,
                    len: 0,
                    pop_cycle: u64::MAX,
                    pops: 0,
                    held: false,
                    waited: false,
                    waiter: 0,
                };
                routers * INPUTS
            ],
            behind: vec![VecDeque::new(); routers * INPUTS],
            held: vec![Needs::default(); routers * INPUTS],
            nonempty: vec![0; routers],
            outputs: vec![
                Outputs {
                    cycle: [u64::MAX; OUTPUTS],
                    used: [0; OUTPUTS],
                };
                routers
            ],
            clock: 0,
            wake: Wakeups::default(),
            due: Vec::new(),
            memo: HashMap::default(),
            key: Vec::new(),
            use_epoch: vec![0; routers * OUTPUTS],
            use_head: vec![NONE; routers * OUTPUTS],
            uses: Vec::new(),
            root_epoch: vec![0; routers],
            root_count: vec![0; routers],
            epoch: 0,
            stack: Vec::new(),
            quick: Vec::new(),
            in_sim: Vec::new(),
            sub: Vec::new(),
            late: Vec::new(),
            roots: Vec::new(),
            simulated: Vec::new(),
            offs: Vec::new(),
            unit_start: Vec::new(),
            free: Vec::new(),
            ulate: Vec::new(),
            touched: Vec::new(),
            changed: Vec::new(),
            packet_late: Vec::new(),
            seen: Vec::new(),
            legs_on: false,
            #[cfg(test)]
            ideal_hits: (0, 0),
            #[cfg(test)]
            split_partial: 0,
            #[cfg(test)]
            legs_cut: (0, 0),
            #[cfg(test)]
            fill_fallbacks: 0,
        }
    }

    /// Routers this simulation was sized for.
    pub fn routers(&self) -> usize {
        self.nonempty.len()
    }

    /// Injects one packet per tree of `trees` (in order, at each tree's root router) at cycle 0
    /// and runs the network until every copy is delivered; returns the drain time in cycles.
    pub fn drain<T: Trees<Node = N>>(&mut self, topo: &T, trees: &[u32], p: NetParams) -> u64 {
        if trees.is_empty() {
            return 0;
        }
        self.key.clear();
        for &t in trees {
            match self.key.last_mut() {
                Some(last) if (*last >> 32) as u32 == t => *last += 1,
                _ => {
                    if self.key.len() == MEMO_KEY_MAX {
                        return self.simulate(topo, trees, p);
                    }
                    self.key.push(u64::from(t) << 32 | 1);
                }
            }
        }
        if let Some(&d) = self.memo.get(&self.key) {
            return d;
        }
        let d = self.simulate(topo, trees, p);
        if self.memo.len() >= MEMO_ENTRIES_MAX {
            self.memo.clear();
        }
        self.memo.insert(self.key.clone(), d);
        d
    }

    /// Appends `flit` to FIFO `port` of `router`; when it is the head, the router is woken at
    /// the cycle the flit becomes ready.
    fn push_flit(&mut self, router: usize, port: usize, flit: Flit<N>) {
        let fi = router * INPUTS + port;
        let f = &mut self.fifos[fi];
        f.len += 1;
        if f.head.is_none() {
            f.head = Some(flit);
            self.wake.push(flit.ready, router as u32);
        } else {
            self.behind[fi].push_back(flit);
        }
        self.nonempty[router] |= 1 << port;
    }

    /// Takes the head of FIFO `fi` off; the packet behind it (if any) becomes the head.
    fn pop_flit(&mut self, fi: usize) {
        let f = &mut self.fifos[fi];
        f.len -= 1;
        f.head = if f.len == 0 {
            None
        } else {
            self.behind[fi].pop_front()
        };
    }

    /// [`drain`](NetSim::drain), cycle by cycle, visiting in each cycle only the routers with
    /// a FIFO head ready (or retrying) then, in ascending order, and skipping the cycles where
    /// no router has anything to do (a visit with nothing ready changes nothing). The result
    /// is that of visiting every router holding packets every cycle (`naive` in the tests).
    fn simulate<T: Trees<Node = N>>(&mut self, topo: &T, trees: &[u32], p: NetParams) -> u64 {
        let q = p.quick();
        match topo.quick(trees, &q, &mut self.quick) {
            Quick::Drain(d) => {
                #[cfg(test)]
                {
                    self.ideal_hits.0 += 1;
                }
                return d;
            }
            Quick::Contended(i, j) => {
                #[cfg(test)]
                {
                    self.ideal_hits.1 += 1;
                }
                return self.split(topo, p, q.hop, (i, j));
            }
            Quick::Unknown => {}
        }
        if let Some(d) = self.ideal(topo, trees, p) {
            #[cfg(test)]
            {
                self.ideal_hits.0 += 1;
            }
            return d;
        }
        #[cfg(test)]
        {
            self.ideal_hits.1 += 1;
        }
        self.cycle_by_cycle(topo, trees, p, false)
    }

    /// A contended drain ([`Quick::Contended`], with its first colliding pair `first`; one
    /// packet per link and cycle, and no FIFO can fill: at most `fifo_depth` packets, or more
    /// checked again at the end with the lateness measured, [`Trees::no_fill`]) simulated only
    /// for the packets that can be held up: those of a colliding pair, with every packet of
    /// their roots (they share the local FIFO). The others move unhindered as long as no
    /// simulated packet, held up by at most what the simulation measured, can meet them
    /// ([`Trees::meet`]); one that can joins the simulation, which runs again. Their drains
    /// are then independent: the drain is the later of the simulated one and the others'
    /// last ejection.
    fn split<T: Trees<Node = N>>(
        &mut self,
        topo: &T,
        p: NetParams,
        hop: [u64; 2],
        first: (usize, usize),
    ) -> u64 {
        let pk = std::mem::take(&mut self.quick);
        let mut in_sim = std::mem::take(&mut self.in_sim);
        let n = pk.len();
        in_sim.clear();
        in_sim.resize(n, false);
        // The pairs before `first` do not collide, `first` does ([`Quick::Contended`]).
        in_sim[first.0] = true;
        in_sim[first.1] = true;
        for i in first.0..n {
            let from = if i == first.0 { first.1 + 1 } else { 0 };
            for j in from..i {
                if topo.meet(pk[i], 0, pk[j], hop) {
                    in_sim[i] = true;
                    in_sim[j] = true;
                }
            }
        }
        // (The tests hold the shortcut to every pair.)
        #[cfg(test)]
        for i in 1..n {
            for j in 0..i {
                if topo.meet(pk[i], 0, pk[j], hop) {
                    assert!(in_sim[i] && in_sim[j], "a colliding pair passed over");
                }
            }
        }
        let mut roots = std::mem::take(&mut self.roots);
        roots.clear();
        roots.extend(pk.iter().map(|&(t, _)| topo.src_reach(t, hop)));
        let mut simulated = std::mem::take(&mut self.simulated);
        let d = loop {
            // Every packet of a simulated packet's root.
            for i in 0..n {
                if in_sim[i] {
                    for j in 0..n {
                        if roots[j].0 == roots[i].0 {
                            in_sim[j] = true;
                        }
                    }
                }
            }
            let mut sub = std::mem::take(&mut self.sub);
            sub.clear();
            sub.extend((0..n).filter(|&i| in_sim[i]).map(|i| pk[i].0));
            self.offs.clear();
            self.offs
                .extend((0..n).filter(|&i| in_sim[i]).map(|i| pk[i].1));
            let d = self.legs(topo, &sub, p);
            self.sub = sub;
            if in_sim.iter().all(|&s| s) {
                break d;
            }
            let mut grew = false;
            // `late` is per simulated packet, in order (the packets added below are not).
            simulated.clear();
            simulated.extend((0..n).filter(|&i| in_sim[i]));
            for (k, &i) in simulated.iter().enumerate() {
                // The offset is the unhindered part.
                let held = self.late[k].saturating_sub(pk[i].1);
                for j in 0..n {
                    if !in_sim[j] && topo.meet(pk[i], held, pk[j], hop) {
                        in_sim[j] = true;
                        grew = true;
                    }
                }
            }
            if !grew {
                #[cfg(test)]
                {
                    self.split_partial += 1;
                }
                let free = (0..n)
                    .filter(|&j| !in_sim[j])
                    .map(|j| pk[j].1 + roots[j].1 + 1)
                    .max()
                    .unwrap_or(0);
                break d.max(free);
            }
        };
        // Beyond `fifo_depth` packets a FIFO might fill, which the split and the legs do not
        // model: kept only when none can, with the lateness measured (free packets are late
        // by their offset only).
        let depth = p.fifo_depth.max(1);
        let d = if n > depth as usize {
            let late = self
                .late
                .iter()
                .chain(pk.iter().map(|(_, o)| o))
                .copied()
                .max()
                .unwrap_or(0);
            if topo.no_fill(&pk, hop, depth, late) {
                d
            } else {
                #[cfg(test)]
                {
                    self.fill_fallbacks += 1;
                }
                let mut all = std::mem::take(&mut self.sub);
                all.clear();
                all.extend(pk.iter().map(|&(t, _)| t));
                let d = self.cycle_by_cycle(topo, &all, p, false);
                self.sub = all;
                d
            }
        } else {
            d
        };
        self.quick = pk;
        self.in_sim = in_sim;
        self.roots = roots;
        self.simulated = simulated;
        d
    }

    /// [`cycle_by_cycle`](NetSim::cycle_by_cycle) with `track`, for packets `trees` leaving
    /// their roots no earlier than `self.offs` (one packet per link and cycle, and no FIFO
    /// fills: [`NetSim::split`] checks), leaving out the legs ([`Trees::leg`]) no other
    /// packet can touch. Almost every copy of a contended drain moves unhindered, and most of
    /// a tree is its legs. A leg left out moves unhindered from when its source-row router
    /// sends it on, so its last ejection is known; it is left out while no other packet's
    /// unit, late by as much as the simulation measured, can share a router's output or FIFO
    /// with it in the same cycle ([`Trees::legs_touch`]). Then the simulated copies never
    /// meet it and the result is the whole simulation's; a leg that can is simulated, and the
    /// simulation runs again (the next check looks again only where a unit changed).
    fn legs<T: Trees<Node = N>>(&mut self, topo: &T, trees: &[u32], p: NetParams) -> u64 {
        let n = trees.len();
        self.unit_start.clear();
        self.unit_start.push(0);
        let mut units = 0u32;
        for &t in trees {
            units += topo.legs(t) + 1;
            self.unit_start.push(units);
        }
        if p.link_packets_per_cycle.max(1) != 1 || units as usize == n {
            return self.cycle_by_cycle(topo, trees, p, true);
        }
        let hop = [p.hop_cycles.max(1), p.hop_y_cycles.max(1)];
        self.free.clear();
        self.free.resize(units as usize, true);
        for k in 0..n {
            self.free[self.unit_start[k + 1] as usize - 1] = false;
        }
        self.seen.clear();
        self.seen.resize(units as usize, (None, true));
        loop {
            self.ulate.clear();
            self.ulate.resize(units as usize, 0);
            self.legs_on = true;
            let d = self.cycle_by_cycle(topo, trees, p, true);
            self.legs_on = false;
            #[cfg(test)]
            {
                self.legs_cut.0 += 1;
            }
            // A pair's check reads only its packets' units (and their fixed trees and offsets):
            // units unchanged since the last check, where they were found apart, are apart
            // still. After the first round only the legs just simulated change, as a rule.
            for (s, (&f, &l)) in self.seen.iter_mut().zip(self.free.iter().zip(&self.ulate)) {
                s.1 = s.0 != Some((f, l));
                s.0 = Some((f, l));
            }
            self.packet_late.clear();
            self.packet_late.extend(self.unit_start.windows(2).map(|w| {
                self.ulate
                    .get(w[0] as usize..w[1] as usize)
                    .map_or(u64::MAX, |l| l.iter().copied().max().unwrap_or(0))
            }));
            let mut touched = std::mem::take(&mut self.touched);
            touched.clear();
            let mut changed = std::mem::take(&mut self.changed);
            self.touched_legs(topo, trees, hop, false, &mut changed, &mut touched);
            // (The tests hold the shortcut to checking every pair again.)
            #[cfg(test)]
            {
                let mut all = Vec::new();
                self.touched_legs(topo, trees, hop, true, &mut changed, &mut all);
                all.sort_unstable();
                all.dedup();
                let mut some = touched.clone();
                some.sort_unstable();
                some.dedup();
                assert_eq!(some, all, "a pair passed over touches");
            }
            self.changed = changed;
            touched.sort_unstable();
            touched.dedup();
            let grew = !touched.is_empty();
            for &u in &touched {
                self.free[u] = false;
            }
            #[cfg(test)]
            {
                self.legs_cut.1 += touched.len() as u32;
            }
            self.touched = touched;
            if !grew {
                return d;
            }
        }
    }

    /// The free legs of [`NetSim::legs`]' packets `trees` that can touch another packet's
    /// units ([`Trees::legs_touch`]), as units, into `touched` (unsorted, maybe repeated):
    /// only where either side changed since the last check ([`NetSim::seen`]), or everywhere
    /// with `all`.
    fn touched_legs<T: Trees<Node = N>>(
        &self,
        topo: &T,
        trees: &[u32],
        hop: [u64; 2],
        all: bool,
        changed: &mut Vec<bool>,
        touched: &mut Vec<usize>,
    ) {
        let n = trees.len();
        let fresh = |u: usize| all || self.seen.get(u).is_none_or(|s| s.1);
        let late_max = |k: usize| self.packet_late.get(k).copied().unwrap_or(u64::MAX);
        changed.clear();
        changed
            .extend((0..n).map(|k| {
                (self.unit_start[k] as usize..self.unit_start[k + 1] as usize).any(fresh)
            }));
        for k in 0..n {
            let u0 = self.unit_start[k] as usize;
            // Without free legs (its last unit, the source row, never is) `late` is always
            // `None`: nothing to look for.
            if !self.free[u0..self.unit_start[k + 1] as usize].contains(&true) {
                continue;
            }
            for j in (0..n).filter(|&j| j != k && (changed[k] || changed[j])) {
                let v0 = self.unit_start[j] as usize;
                let row = self.unit_start[j + 1] as usize - 1;
                let late = |l: u32, up: u32| {
                    let u = u0 + l as usize;
                    let b = (up != NONE).then(|| v0 + up as usize);
                    let again =
                        fresh(u) || fresh(row) || b.is_none_or(|b| fresh(b) || fresh(b + 1));
                    (again && self.free.get(u).copied().unwrap_or(false)).then(|| self.ulate[u])
                };
                let win = |unit: Option<u32>| {
                    let i = match unit {
                        Some(l) => v0 + l as usize,
                        None => row,
                    };
                    let l = self.ulate.get(i).copied().unwrap_or(u64::MAX);
                    if self.free.get(i).copied().unwrap_or(false) {
                        (l, l)
                    } else {
                        (self.offs[j].min(l), l)
                    }
                };
                let bounds = (late_max(k), late_max(j));
                topo.legs_touch(trees[k], &late, trees[j], hop, &win, bounds, &mut |l| {
                    touched.push(u0 + l as usize);
                });
            }
        }
    }

    /// The drain time when no packet ever waits, or `None` (then only the cycle-by-cycle
    /// simulation knows). A copy sent over a link at cycle `s` stays in the downstream FIFO
    /// until `s + hop`; so when, for every use of an output at cycle `c`, fewer than
    /// `link_packets_per_cycle` other uses fall on `c` and (links) fewer than `fifo_depth`
    /// within `hop` cycles of `c`, every check a router makes passes and every copy moves the
    /// cycle it arrives. A router's local FIFO sends `link_packets_per_cycle` packets a cycle
    /// in order; a copy at tree node `n` then moves at `offset + Σ hop` along the path to `n`,
    /// and the drain is one more than the last ejection — a walk over the trees instead of a
    /// simulation (the tests hold it to the simulation).
    pub(crate) fn ideal<T: Trees<Node = N>>(
        &mut self,
        topo: &T,
        trees: &[u32],
        p: NetParams,
    ) -> Option<u64> {
        let lpc = p.link_packets_per_cycle.max(1);
        let depth = p.fifo_depth.max(1);
        let hop = [p.hop_cycles.max(1), p.hop_y_cycles.max(1)];
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.use_epoch.fill(0);
            self.root_epoch.fill(0);
            self.epoch = 1;
        }
        let epoch = self.epoch;
        self.uses.clear();
        let mut last_eject = 0;
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        let mut ok = true;
        'trees: for &t in trees {
            let root = topo.root(t);
            let r = topo.view(root).router as usize;
            let k = if self.root_epoch[r] == epoch {
                self.root_count[r]
            } else {
                self.root_epoch[r] = epoch;
                0
            };
            self.root_count[r] = k + 1;
            stack.push((root, u64::from(k / lpc)));
            while let Some((node, c)) = stack.pop() {
                let n = topo.view(node);
                let out = n.router as usize * OUTPUTS;
                for (d, child, _) in n.children() {
                    let h = hop[d / 2];
                    if !self.claim(out + d, c, (h, depth), lpc, epoch) {
                        ok = false;
                        break 'trees;
                    }
                    stack.push((child, c + h));
                }
                if n.eject {
                    // The ejection port has no FIFO behind it: only its per-cycle limit.
                    if !self.claim(out + EJECT, c, (0, u32::MAX), lpc, epoch) {
                        ok = false;
                        break 'trees;
                    }
                    last_eject = last_eject.max(c);
                }
            }
        }
        stack.clear();
        self.stack = stack;
        ok.then_some(last_eject + 1)
    }

    /// Records a use of output `out` at cycle `c` in drain `epoch`; `false` when `lpc` uses
    /// already fall on `c`, or `fifo.1` within `fifo.0` cycles of it (or when the output has
    /// too many uses to look through: the simulation decides then).
    fn claim(&mut self, out: usize, c: u64, fifo: (u64, u32), lpc: u32, epoch: u32) -> bool {
        let mut next = if self.use_epoch[out] == epoch {
            self.use_head[out]
        } else {
            self.use_epoch[out] = epoch;
            NONE
        };
        let head = next;
        let (mut same, mut near, mut seen) = (0, 0, 0);
        while next != NONE {
            let (c2, after) = self.uses[next as usize];
            same += u32::from(c2 == c);
            near += u32::from(c.abs_diff(c2) <= fifo.0);
            seen += 1;
            if same >= lpc || near >= fifo.1 || seen >= CHAIN_MAX {
                return false;
            }
            next = after;
        }
        self.use_head[out] = self.uses.len() as u32;
        self.uses.push((c, head));
        true
    }

    /// [`simulate`](NetSim::simulate) cycle by cycle: the general case, with contention.
    /// With `track`, `late[i]` is the most cycles packet `i` left a router after the
    /// unhindered latency from its root.
    fn cycle_by_cycle<T: Trees<Node = N>>(
        &mut self,
        topo: &T,
        trees: &[u32],
        p: NetParams,
        track: bool,
    ) -> u64 {
        let start = self.clock;
        let lpc = p.link_packets_per_cycle.max(1);
        let depth = p.fifo_depth.max(1) as usize;
        let hop = [p.hop_cycles.max(1), p.hop_y_cycles.max(1)];
        let mut in_flight = 0u64;
        self.wake.reset(start);
        if track {
            self.late.clear();
            self.late.resize(trees.len(), 0);
        }
        for (i, &t) in trees.iter().enumerate() {
            let root = topo.root(t);
            let r = topo.view(root).router as usize;
            self.push_flit(
                r,
                0,
                Flit {
                    node: root,
                    pkt: i as u32,
                    ready: start,
                },
            );
            in_flight += 1;
        }
        let mut now = start;
        let mut last_eject = start;
        let mut due = std::mem::take(&mut self.due);
        while in_flight > 0 {
            let Some(next) = self.wake.next(now) else {
                break;
            };
            now = next;
            due.clear();
            self.wake.take(now, &mut due);
            due.sort_unstable();
            due.dedup();
            #[cfg(test)]
            if self.reversed {
                due.reverse();
            }
            for &r in &due {
                let r = r as usize;
                let mut ports = self.nonempty[r];
                while ports != 0 {
                    let port = ports.trailing_zeros() as usize;
                    ports &= ports - 1;
                    let fi = r * INPUTS + port;
                    let mut issued = 0;
                    let mut parked = false;
                    while issued < lpc {
                        let Some(head) = self.fifos[fi].head else {
                            break;
                        };
                        if head.ready > now {
                            break;
                        }
                        let held = self.fifos[fi].held;
                        if held && !self.can_move(r, self.held[fi], now, lpc, depth) {
                            // Still blocked: retry next cycle, or when the FIFO it waits
                            // for has room.
                            parked = self.park(r, self.held[fi], now, lpc, depth);
                            break;
                        }
                        let node = topo.view(head.node);
                        if !held && !self.can_forward(r, &node, now, lpc, depth) {
                            // Blocked: retry without the node's view.
                            let needs = Needs::of(&node);
                            self.held[fi] = needs;
                            self.fifos[fi].held = true;
                            parked = self.park(r, needs, now, lpc, depth);
                            break;
                        }
                        self.pop_flit(fi);
                        let f = &mut self.fifos[fi];
                        f.held = false;
                        // A parked head behind this FIFO: room from the next cycle on (see
                        // `link_free`).
                        let waiter = std::mem::take(&mut f.waited).then_some(f.waiter);
                        if f.len == 0 {
                            self.nonempty[r] &= !(1 << port);
                        }
                        if f.pop_cycle != now {
                            f.pop_cycle = now;
                            f.pops = 0;
                        }
                        f.pops += 1;
                        if let Some(w) = waiter {
                            self.wake.push(now + 1, w);
                        }
                        in_flight -= 1;
                        let mut at = 0;
                        // With legs: the first unit of the copy's packet and whether the copy
                        // is on its source row (where legs start).
                        let mut row = None;
                        if track {
                            at = now - start - topo.latency(head.node, hop).min(now - start);
                            let l = &mut self.late[head.pkt as usize];
                            *l = (*l).max(at);
                            if self.legs_on {
                                let k = head.pkt as usize;
                                let leg = topo.leg(head.node);
                                let u = match leg {
                                    Some((l, _)) => (self.unit_start[k] + l) as usize,
                                    None => self.unit_start[k + 1] as usize - 1,
                                };
                                let l = &mut self.ulate[u];
                                *l = (*l).max(at);
                                row = leg.is_none().then_some(self.unit_start[k] as usize);
                            }
                        }
                        for (d, child, nr) in node.children() {
                            let leg = row.filter(|_| d >= 2).and_then(|u0| {
                                let (l, rows) = topo.leg(child)?;
                                Some((u0 + l as usize, rows))
                            });
                            if let Some((u, rows)) = leg.filter(|&(u, _)| self.free[u]) {
                                // Left out: unhindered from here (the link out is still
                                // this router's to use).
                                self.ulate[u] = at;
                                self.use_output(r, d, now);
                                last_eject = last_eject.max(now + hop[1] * u64::from(rows));
                                continue;
                            }
                            let nr = nr as usize;
                            self.push_flit(
                                nr,
                                1 + d,
                                Flit {
                                    node: child,
                                    pkt: head.pkt,
                                    ready: now + hop[d / 2],
                                },
                            );
                            in_flight += 1;
                            self.use_output(r, d, now);
                        }
                        if node.eject {
                            self.use_output(r, EJECT, now);
                            last_eject = last_eject.max(now);
                        }
                        issued += 1;
                    }
                    // The FIFO's (new) head: ready later, blocked, or beyond this cycle's
                    // link budget — visited again when it can move (a parked one, by the
                    // FIFO it waits for).
                    if let Some(head) = self.fifos[fi].head
                        && !parked
                    {
                        self.wake.push(head.ready.max(now + 1), r as u32);
                    }
                }
            }
        }
        self.wake.reset(now);
        due.clear();
        self.due = due;
        self.clock = now + 1;
        last_eject - start + 1
    }

    /// Packets output `d` of router `r` carried in cycle `now`.
    fn used(&self, r: usize, d: usize, now: u64) -> u32 {
        let o = &self.outputs[r];
        if o.cycle[d] == now { o.used[d] } else { 0 }
    }

    fn use_output(&mut self, r: usize, d: usize, now: u64) {
        let o = &mut self.outputs[r];
        if o.cycle[d] != now {
            o.cycle[d] = now;
            o.used[d] = 0;
        }
        o.used[d] += 1;
    }

    #[inline(always)]
    fn can_forward(&self, r: usize, node: &View<N>, now: u64, lpc: u32, depth: usize) -> bool {
        for (d, _, nr) in node.children() {
            if !self.link_free(r, d, nr as usize, now, lpc, depth) {
                return false;
            }
        }
        !(node.eject && self.used(r, EJECT, now) >= lpc)
    }

    /// [`NetSim::can_forward`] from a held-up head's [`Needs`].
    fn can_move(&self, r: usize, needs: Needs, now: u64, lpc: u32, depth: usize) -> bool {
        for (d, &nr) in needs.next.iter().enumerate() {
            if needs.outputs & 1 << d != 0 && !self.link_free(r, d, nr as usize, now, lpc, depth) {
                return false;
            }
        }
        !(needs.outputs & 1 << EJECT != 0 && self.used(r, EJECT, now) >= lpc)
    }

    /// A head of router `r` with `needs` that cannot move in cycle `now`: when what holds it
    /// up is only full FIFOs behind its links (no output's budget spent this cycle, which
    /// frees next cycle), it waits on one of them ([`Fifo::waited`]) and `true` is returned:
    /// a full FIFO gains room only the cycle after a pop, so retrying before cannot succeed
    /// (under contention, most retries of held-up heads were of this kind).
    fn park(&mut self, r: usize, needs: Needs, now: u64, lpc: u32, depth: usize) -> bool {
        if needs.outputs & 1 << EJECT != 0 && self.used(r, EJECT, now) >= lpc {
            return false;
        }
        let mut full = None;
        for (d, &nr) in needs.next.iter().enumerate() {
            if needs.outputs & 1 << d == 0 {
                continue;
            }
            if self.used(r, d, now) >= lpc {
                return false;
            }
            // Full without counting this cycle's pops: room only after a later pop (one this
            // cycle, if its router comes later, wakes the waiter too).
            let fi = nr as usize * INPUTS + 1 + d;
            if full.is_none() && self.fifos[fi].len as usize >= depth {
                full = Some(fi);
            }
        }
        let Some(fi) = full else {
            return false;
        };
        let f = &mut self.fifos[fi];
        if f.waited && f.waiter != r as u32 {
            // One waiter router per FIFO (on a mesh, only the router behind its link sends
            // to it; the tests' trees may have two).
            return false;
        }
        f.waited = true;
        f.waiter = r as u32;
        true
    }

    /// Whether router `r` can send a copy over link `d` to router `nr` in cycle `now`: the
    /// link has carried fewer than `lpc` copies this cycle and the FIFO behind it has room.
    fn link_free(&self, r: usize, d: usize, nr: usize, now: u64, lpc: u32, depth: usize) -> bool {
        if self.used(r, d, now) >= lpc {
            return false;
        }
        let f = &self.fifos[nr * INPUTS + 1 + d];
        let pops = if f.pop_cycle == now {
            f.pops as usize
        } else {
            0
        };
        f.len as usize + pops < depth
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::program::TreeBuilder;
    use lifchip_target::Target;

    /// The first implementation: every router visited every cycle, per-drain resets. Kept as
    /// the oracle of the event-driven [`NetSim`].
    mod naive {
        use super::super::{NONE, NetParams, Topology};
        use std::collections::VecDeque;

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

        /// Reusable state of the network simulation (FIFOs empty between drains).
        #[derive(Clone, Debug, Default)]
        pub struct NetSim {
            fifos: Vec<Fifo>,
            queued: Vec<u32>,
            out_cycle: Vec<u64>,
            out_used: Vec<u32>,
        }

        impl NetSim {
            pub fn new(routers: usize) -> Self {
                NetSim {
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
                let hop = [p.hop_cycles.max(1), p.hop_y_cycles.max(1)];
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
                                            ready: now + hop[d / 2],
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
    }

    /// The tests' xorshift generator (the shapes' tests use it too).
    pub(crate) struct Rand(pub(crate) u64);

    impl Rand {
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// `1 + rand(trees)` random multicast trees, each to `1 + rand(dests)` random routers, on
    /// a `w × h` mesh of `target`.
    fn random_trees(
        target: &mut Target,
        (w, h): (u32, u32),
        trees: u64,
        dests: u64,
        rand: &mut impl FnMut(u64) -> u64,
    ) -> (Topology, Vec<u32>) {
        target.mesh.width = w;
        target.mesh.height = h;
        let mut b = TreeBuilder::new(target);
        let mut out = Vec::new();
        for _ in 0..1 + rand(trees) {
            let src = (rand(u64::from(w)) as u32, rand(u64::from(h)) as u32);
            let dests = (0..1 + rand(dests))
                .map(|_| (rand(u64::from(w)) as u32, rand(u64::from(h)) as u32))
                .collect();
            out.push(b.tree_to(src, dests).unwrap());
        }
        (b.finish(), out)
    }

    /// The event-driven simulation gives the naive one's drain times, drain after drain (the
    /// clock runs on across drains), on random meshes, trees, depths, widths and latencies.
    #[test]
    fn event_driven_drain_matches_the_naive_simulation() {
        let mut rng = Rand(0x9e37_79b9_7f4a_7c15u64);
        let mut rand = |n: u64| rng.below(n);
        let mut target = lifchip_target::builtin("loihi-like").unwrap();
        for case in 0..300 {
            let (w, h) = (1 + rand(6) as u32, 1 + rand(5) as u32);
            let (topo, trees) = random_trees(&mut target, (w, h), 20, 5, &mut rand);
            let p = NetParams {
                hop_cycles: rand(5),
                hop_y_cycles: rand(5),
                link_packets_per_cycle: 1 + rand(3) as u32,
                fifo_depth: 1 + rand(4) as u32,
            };
            let mut fast = NetSim::new(topo.routers);
            let mut slow = naive::NetSim::new(topo.routers);
            for round in 0..4 {
                // Packets: a random multiset of the trees, in random order.
                let n = rand(3 * trees.len() as u64 + 1) as usize;
                let batch: Vec<u32> = (0..n)
                    .map(|_| trees[rand(trees.len() as u64) as usize])
                    .collect();
                let want = slow.drain(&topo, &batch, NetParams { ..p });
                assert_eq!(
                    fast.drain(&topo, &batch, p),
                    want,
                    "case {case} round {round}"
                );
            }
        }
    }

    /// The calendar queue hands out the visits a sorted multiset would, cycle by cycle, with
    /// wake-ups near (in the ring) and far (in its heap), across resets.
    #[test]
    fn wakeups_come_in_cycle_order() {
        let mut rng = Rand(0x5151_2323_abab_0101u64);
        let mut rand = |n: u64| rng.below(n);
        let mut wake = Wakeups::default();
        let mut now = 0u64;
        for round in 0..200 {
            wake.reset(now);
            let mut want: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
            let span = [3, 300, 2000][round % 3];
            for _ in 0..1 + rand(20) {
                let (c, r) = (now + rand(span), rand(1000) as u32);
                wake.push(c, r);
                want.entry(c).or_default().push(r);
            }
            while let Some(next) = wake.next(now) {
                let (&c, rs) = want.iter_mut().next().expect("a visit is due");
                assert_eq!(next, c, "round {round}");
                now = next;
                let mut got = Vec::new();
                wake.take(now, &mut got);
                got.sort_unstable();
                rs.sort_unstable();
                assert_eq!(&got, rs, "round {round}");
                want.remove(&c);
                // Visits pushed while a cycle is served are later.
                for _ in 0..rand(3) {
                    let (c, r) = (now + 1 + rand(span), rand(1000) as u32);
                    wake.push(c, r);
                    want.entry(c).or_default().push(r);
                }
            }
            assert!(want.is_empty(), "round {round}");
            now += rand(1000);
        }
    }

    /// Few packets on big meshes, where most drains have no contention: the contention-free
    /// schedule answers those, with the naive simulation's drain times; the others go to the
    /// cycle-by-cycle simulation. Both kinds occur.
    #[test]
    fn contention_free_drains_match_the_naive_simulation() {
        let mut rng = Rand(0x0bad_5eed_1234_5678u64);
        let mut rand = |n: u64| rng.below(n);
        let mut target = lifchip_target::builtin("loihi-like").unwrap();
        let mut hits = (0, 0);
        for case in 0..300 {
            let (w, h) = (4 + rand(20) as u32, 4 + rand(20) as u32);
            let (topo, trees) = random_trees(&mut target, (w, h), 8, 12, &mut rand);
            let p = NetParams {
                hop_cycles: rand(4),
                hop_y_cycles: rand(4),
                link_packets_per_cycle: 1 + rand(2) as u32,
                fifo_depth: 1 + rand(3) as u32,
            };
            let mut fast = NetSim::new(topo.routers);
            let mut slow = naive::NetSim::new(topo.routers);
            for round in 0..6 {
                let n = 1 + rand(4) as usize;
                let batch: Vec<u32> = (0..n)
                    .map(|_| trees[rand(trees.len() as u64) as usize])
                    .collect();
                let want = slow.drain(&topo, &batch, p);
                assert_eq!(
                    fast.simulate(&topo, &batch, p),
                    want,
                    "case {case} round {round}"
                );
            }
            hits.0 += fast.ideal_hits.0;
            hits.1 += fast.ideal_hits.1;
        }
        assert!(hits.0 > 300 && hits.1 > 100, "{hits:?}");
    }

    /// A FIFO of the emulator's tree shapes and a router's outputs each fill one cache line.
    #[test]
    fn fifo_and_outputs_take_a_cache_line() {
        assert_eq!(std::mem::size_of::<Fifo<crate::shapes::ShapeNode>>(), 64);
        assert_eq!(std::mem::size_of::<Outputs>(), 64);
    }

    /// Random multicast packets on a random mesh: the drain time must not depend on the order
    /// routers are visited within a cycle, and must be at least the longest path's latency.
    #[test]
    fn drain_does_not_depend_on_router_order() {
        let mut rng = Rand(0x2545_f491_4f6c_dd1du64);
        let mut rand = |n: u64| rng.below(n);
        let mut target = lifchip_target::builtin("loihi-like").unwrap();
        for case in 0..300 {
            let (w, h) = (1 + rand(5) as u32, 1 + rand(4) as u32);
            let (topo, trees) = random_trees(&mut target, (w, h), 12, 4, &mut rand);
            let p = NetParams {
                hop_cycles: 1 + rand(4),
                hop_y_cycles: 1 + rand(4),
                link_packets_per_cycle: 1 + rand(2) as u32,
                fifo_depth: 1 + rand(3) as u32,
            };
            let mut forward = NetSim::new(topo.routers);
            let mut backward = NetSim::new(topo.routers);
            backward.reversed = true;
            let a = forward.simulate(&topo, &trees, p);
            let b2 = backward.simulate(&topo, &trees, p);
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
            assert!(
                a > deepest * p.hop_cycles.min(p.hop_y_cycles),
                "case {case}"
            );
            // The simulation leaves its FIFOs empty for the next drain, and the memo agrees.
            assert_eq!(forward.simulate(&topo, &trees, p), a);
            assert_eq!(forward.drain(&topo, &trees, p), a);
            assert_eq!(forward.drain(&topo, &trees, p), a);
        }
    }
}
