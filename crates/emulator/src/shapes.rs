//! The multicast trees as the network simulation walks them, without materialising their
//! routers: an X-then-Y tree (`lifchip_target::xy_route`) is its source router plus, per
//! destination column, the sorted rows of its destinations. A node's children and ejection
//! follow from that shape, so a tree costs a few bytes per destination router instead of a
//! node per router it passes (40k CUBA: ~1.7 GB and ~10 s of building before).

use crate::program::NONE;
#[cfg(test)]
use crate::program::{Node, Topology};

/// One destination column of a tree: its routers' rows are `ys[start..end]` (ascending);
/// `mid` is the first of them at or above the source row.
#[derive(Clone, Copy, Debug)]
struct Col {
    x: u32,
    start: u32,
    mid: u32,
    end: u32,
}

/// A tree's destination row as [`Shapes`] keeps it: 16 bits on a mesh at most 65,536 rows
/// high ([`AnyShapes`]; every mesh whose trees are built lazily is), which halves the fresh
/// pages a first cycle-accurate run writes the rows into (40k CUBA: 15.6 M rows), else 32.
/// A type parameter, not a test per read: the drains read rows in their inner loops.
pub(crate) trait Row:
    Copy + Ord + Default + std::fmt::Debug + Send + Sync + Into<u32>
{
    /// Row `y`, which is below the mesh's height (so it fits).
    fn of(y: u32) -> Self;
    /// Row `y` if it fits the type.
    fn fits(y: u32) -> Option<Self>;
}

impl Row for u16 {
    #[inline(always)]
    fn of(y: u32) -> u16 {
        y as u16
    }
    fn fits(y: u32) -> Option<u16> {
        u16::try_from(y).ok()
    }
}

impl Row for u32 {
    #[inline(always)]
    fn of(y: u32) -> u32 {
        y
    }
    fn fits(y: u32) -> Option<u32> {
        Some(y)
    }
}

/// Whether the ascending rows `a` and `b` share one in `y0..=y1`.
fn share<Y: Row>(a: &[Y], b: &[Y], (y0, y1): (u32, u32)) -> bool {
    let (mut i, mut j) = (
        a.partition_point(|&y| y.into() < y0),
        b.partition_point(|&y| y.into() < y0),
    );
    while i < a.len() && j < b.len() && a[i].into() <= y1 && b[j].into() <= y1 {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// The distinct multicast trees of a program, in tree order, as shapes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shapes<Y: Row = u32> {
    /// Routers any tree touches (the simulation's tables are this long).
    pub routers: usize,
    /// Router columns and rows of the mesh.
    columns: u32,
    height: u32,
    /// Dense index of each router cell `y * columns + x` a tree touches, else [`NONE`].
    router_of: Vec<u32>,
    src: Vec<(u32, u32)>,
    /// Columns of tree `t`: `cols[col_range[t].0..col_range[t].1]`, ascending in x;
    /// `(NONE, NONE)` for a tree of [`Shapes::lazy`] not built yet.
    col_range: Vec<(u32, u32)>,
    cols: Vec<Col>,
    ys: Vec<Y>,
    /// The link latencies the drains take ([`Shapes::with_hop`]), and with them each built
    /// tree's [`Shapes::reach`], kept: every drain asks it of each packet, and its column
    /// scan reads the tree's rows from all over `ys`.
    hop: Option<[u64; 2]>,
    reaches: Vec<u64>,
}

/// [`Shapes`] with the rows the mesh's height allows ([`Row`]).
#[derive(Clone, Debug)]
pub(crate) enum AnyShapes {
    Narrow(Shapes<u16>),
    Wide(Shapes<u32>),
}

impl Default for AnyShapes {
    fn default() -> Self {
        AnyShapes::Narrow(Shapes::default())
    }
}

/// `$e` with `$s` bound to the shapes of `$any`, whichever their rows.
macro_rules! on_shapes {
    ($any:expr, $s:ident => $e:expr) => {
        match $any {
            $crate::shapes::AnyShapes::Narrow($s) => $e,
            $crate::shapes::AnyShapes::Wide($s) => $e,
        }
    };
}
pub(crate) use on_shapes;

impl AnyShapes {
    fn narrow(height: u32) -> bool {
        height <= 1 << 16
    }

    /// [`Shapes::build`].
    pub(crate) fn build(
        (columns, height): (u32, u32),
        count: usize,
        routers: usize,
        tree: impl FnMut(usize, &mut Vec<(u32, u32)>) -> (u32, u32),
    ) -> AnyShapes {
        if Self::narrow(height) {
            AnyShapes::Narrow(Shapes::build((columns, height), count, routers, tree))
        } else {
            AnyShapes::Wide(Shapes::build((columns, height), count, routers, tree))
        }
    }

    /// [`Shapes::lazy`].
    pub(crate) fn lazy((columns, height): (u32, u32), count: usize, routers: usize) -> AnyShapes {
        if Self::narrow(height) {
            AnyShapes::Narrow(Shapes::lazy((columns, height), count, routers))
        } else {
            AnyShapes::Wide(Shapes::lazy((columns, height), count, routers))
        }
    }

    /// [`Shapes::with_hop`].
    pub(crate) fn with_hop(self, hop: [u64; 2]) -> AnyShapes {
        match self {
            AnyShapes::Narrow(s) => AnyShapes::Narrow(s.with_hop(hop)),
            AnyShapes::Wide(s) => AnyShapes::Wide(s.with_hop(hop)),
        }
    }

    pub(crate) fn routers(&self) -> usize {
        on_shapes!(self, s => s.routers)
    }

    pub(crate) fn is_built(&self, t: u32) -> bool {
        on_shapes!(self, s => s.is_built(t))
    }
}

/// A node of a tree in [`Shapes`]: the router `(x, y)` of tree `tree`, with cursors that make
/// its children O(1): `col` is the first column of the tree at or east of `x`, `cur` (when
/// that column is `x`) the first destination row at or above `y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShapeNode {
    tree: u32,
    x: u32,
    y: u32,
    col: u32,
    cur: u32,
}

/// What the simulation needs of a tree node: its router, its children over the links in
/// directions +x, -x, +y, -y (with their routers), and whether it ejects the packet.
/// The children are a bit mask beside plain arrays, not `Option`s: the simulation builds a
/// view for every copy it moves, and filling the array of `Option`s was ~40 % of a view's
/// instructions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<N> {
    pub router: u32,
    pub eject: bool,
    /// Bit `d`: a child over link `d`.
    present: u8,
    nodes: [N; 4],
    routers: [u32; 4],
}

impl<N: Copy + Default> View<N> {
    pub(crate) fn new(router: u32, eject: bool) -> Self {
        View {
            router,
            eject,
            present: 0,
            nodes: [N::default(); 4],
            routers: [0; 4],
        }
    }

    /// Child `node` at router `router` over link `d` (below 4).
    #[inline(always)]
    pub(crate) fn set(&mut self, d: usize, node: N, router: u32) {
        self.present |= 1 << d;
        self.nodes[d] = node;
        self.routers[d] = router;
    }

    /// The child over link `d`, with its router.
    #[cfg(test)]
    pub(crate) fn child(&self, d: usize) -> Option<(N, u32)> {
        (self.present & 1 << d != 0).then(|| (self.nodes[d], self.routers[d]))
    }

    /// The children `(link, node, router)`, by link.
    #[inline(always)]
    pub(crate) fn children(&self) -> impl Iterator<Item = (usize, N, u32)> + '_ {
        // Over the four links, not the set bits: the loop unrolls, each link's index is a
        // constant, and the view need not be kept in memory.
        (0..4)
            .filter(move |&d| self.present & 1 << d != 0)
            .map(move |d| (d, self.nodes[d], self.routers[d]))
    }
}

/// Multicast trees the network simulation can walk: materialised ([`Topology`], the tests'
/// form) or as shapes.
pub(crate) trait Trees {
    type Node: Copy + Default + std::fmt::Debug;
    fn root(&self, tree: u32) -> Self::Node;
    fn view(&self, n: Self::Node) -> View<Self::Node>;
    /// Cycles from the root to node `n` for a packet never held up (0 when unknown: then
    /// [`Trees::meet`] must say `true`).
    fn latency(&self, _n: Self::Node, _hop: [u64; 2]) -> u64 {
        0
    }
    /// See [`Shapes::meet`]; `true` when unknown.
    fn meet(&self, _a: (u32, u64), _late: u64, _b: (u32, u64), _hop: [u64; 2]) -> bool {
        true
    }
    /// The root router of a tree and the latency of its farthest ejection.
    fn src_reach(&self, _tree: u32, _hop: [u64; 2]) -> ((u32, u32), u64) {
        ((0, 0), 0)
    }
    /// What is known of a drain without walking the trees (see [`Shapes::quick`]).
    fn quick(&self, _trees: &[u32], _p: &QuickParams, _scratch: &mut Vec<(u32, u64)>) -> Quick {
        Quick::Unknown
    }
    /// Whether no link FIFO can fill in a drain of packets `pk` (tree, cycle it leaves its
    /// root unhindered) whose copies each leave every router at most `late` cycles after
    /// their unhindered cycle from the root (see [`Shapes::no_fill`]); `false` when unknown.
    fn no_fill(&self, _pk: &[(u32, u64)], _hop: [u64; 2], _depth: u32, _late: u64) -> bool {
        false
    }
    /// Legs of `tree` (see [`Shapes::leg`]); 0 when the trees are not split into legs.
    fn legs(&self, _tree: u32) -> u32 {
        0
    }
    /// The leg node `n` is on and the rows from its tree's source row to the leg's far end;
    /// `None` on the source row (or without legs).
    fn leg(&self, _n: Self::Node) -> Option<(u32, u32)> {
        None
    }
    /// [`Shapes::col_touch`] for every leg of tree `ta` that `late` gives a lateness for,
    /// passing those that can touch to `touch` (when unknown: all of them). `late(leg,
    /// up)`: how late the copies of `ta`'s leg are when it is left out of the simulation, if
    /// it is to be checked against `tb`'s units in its column (`tb`'s leg up that column is
    /// `up`, [`NONE`] when unknown; `up + 1` is the leg down); `win`: per unit of `tb` (its
    /// source row: `None`; a leg: `Some(leg)`), the range of cycles its copies may be late
    /// by at any router, relative to leaving the root at cycle 0; `bounds`: at least every
    /// lateness `late` gives and at least the end of every window `win` gives. (Generic, not
    /// `dyn`: called per pair of packets, the closures inline.)
    #[allow(clippy::too_many_arguments)]
    fn legs_touch(
        &self,
        ta: u32,
        late: &impl Fn(u32, u32) -> Option<u64>,
        _tb: u32,
        _hop: [u64; 2],
        _win: &impl Fn(Option<u32>) -> (u64, u64),
        _bounds: (u64, u64),
        touch: &mut impl FnMut(u32),
    ) {
        for leg in 0..self.legs(ta) {
            if late(leg, NONE).is_some() {
                touch(leg);
            }
        }
    }
}

/// What [`Trees::quick`] knows of a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quick {
    /// No packet waits: the drain time.
    Drain(u64),
    /// Some packet would wait: the contention-free schedule does not apply. The first pair of
    /// packets found to collide, `(i, j)` with `j < i`: every pair before it (by `i`, then
    /// `j`) was found not to.
    Contended(usize, usize),
    /// Not decided here.
    Unknown,
}

/// The link parameters [`Trees::quick`] reads (hops at least 1 cycle, as the simulation
/// counts them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuickParams {
    pub hop: [u64; 2],
    pub lpc: u32,
    pub depth: u32,
    /// Packets beyond which [`Trees::quick`] does not look (its pairwise check is O(n²)).
    pub packets_max: usize,
}

#[cfg(test)]
impl Trees for Topology {
    type Node = u32;

    fn root(&self, tree: u32) -> u32 {
        self.roots[tree as usize]
    }

    fn view(&self, n: u32) -> View<u32> {
        let Node {
            router,
            child,
            eject,
        } = self.nodes[n as usize];
        let mut view = View::new(router, eject);
        for (d, &c) in child.iter().enumerate() {
            if c != NONE {
                view.set(d, c, self.nodes[c as usize].router);
            }
        }
        view
    }
}

impl<Y: Row> Shapes<Y> {
    /// The shapes of the trees from `src` to `positions` given, tree by tree, by `tree(i, out)`
    /// (destination routers sorted by x, then y, distinct, not empty, on the mesh of
    /// `columns × height` routers), for `count` trees.
    /// `routers`: at most how many destination routers the trees have in all, reserved up
    /// front (pages never written are never touched) so the rows are not copied as they grow.
    pub(crate) fn build(
        (columns, height): (u32, u32),
        count: usize,
        routers: usize,
        mut tree: impl FnMut(usize, &mut Vec<(u32, u32)>) -> (u32, u32),
    ) -> Self {
        let mut s = Shapes {
            columns,
            height,
            col_range: Vec::with_capacity(count),
            src: Vec::with_capacity(count),
            ys: Vec::with_capacity(routers),
            ..Shapes::default()
        };
        let (w, h) = (columns as usize, height as usize);
        let cells = w.saturating_mul(h);
        // Routers touched: the x legs as ranges along rows, the y legs along columns, in
        // difference arrays (O(columns) per tree).
        // (One more entry per row and column for the ends.)
        let mut row_diff = vec![0i32; (w + 1).saturating_mul(h)];
        let mut col_diff = vec![0i32; w.saturating_mul(h + 1)];
        let mut positions = Vec::new();
        for i in 0..count {
            let (sx, sy) = tree(i, &mut positions);
            s.src.push((sx, sy));
            let range = s.push_cols(sy, &positions);
            s.col_range.push(range);
            for col in positions.chunk_by(|a, b| a.0 == b.0) {
                let (lo, hi) = (col[0].1.min(sy), col[col.len() - 1].1.max(sy));
                let x = col[0].0 as usize;
                col_diff[x * (h + 1) + lo as usize] += 1;
                col_diff[x * (h + 1) + hi as usize + 1] -= 1;
            }
            if let (Some(w0), Some(e0)) = (positions.first(), positions.last()) {
                let (west, east) = (w0.0.min(sx) as usize, e0.0.max(sx) as usize);
                row_diff[sy as usize * (w + 1) + west] += 1;
                row_diff[sy as usize * (w + 1) + east + 1] -= 1;
            }
        }
        // Release what the reservation overestimated.
        s.ys.shrink_to_fit();
        s.router_of = vec![NONE; cells];
        // Columns are summed column-major, rows row-major: one pass over each.
        let mut touched = vec![false; cells];
        for x in 0..w {
            let mut run = 0i32;
            for y in 0..h {
                run += col_diff[x * (h + 1) + y];
                touched[y * w + x] |= run > 0;
            }
        }
        for y in 0..h {
            let mut run = 0i32;
            for x in 0..w {
                run += row_diff[y * (w + 1) + x];
                touched[y * w + x] |= run > 0;
            }
        }
        for (cell, &t) in touched.iter().enumerate() {
            if t {
                s.router_of[cell] = s.routers as u32;
                s.routers += 1;
            }
        }
        s
    }

    /// Appends the columns of a tree with source row `sy` and destination routers
    /// `positions` (as [`Shapes::build`] takes them); returns their range in `cols`.
    fn push_cols(&mut self, sy: u32, positions: &[(u32, u32)]) -> (u32, u32) {
        let first = self.cols.len() as u32;
        for col in positions.chunk_by(|a, b| a.0 == b.0) {
            let start = self.ys.len() as u32;
            self.ys.extend(col.iter().map(|p| Y::of(p.1)));
            // The rows are ascending: counting those below `sy` is the partition point,
            // without a binary search's chain of dependent loads per column.
            let mid = start + col.iter().filter(|p| p.1 < sy).count() as u32;
            let end = self.ys.len() as u32;
            self.cols.push(Col {
                x: col[0].0,
                start,
                mid,
                end,
            });
        }
        (first, self.cols.len() as u32)
    }

    /// Shapes of `count` trees on a mesh of `columns × height` routers, each built by
    /// [`Shapes::ensure`] before it is walked: a run builds only the trees its packets take
    /// (about half the 40k CUBA chip's compartments never spike in 10,000 ticks). Without
    /// every tree, the routers any tree touches are not known: each router of the mesh is
    /// one (its index `y * columns + x`, in the same order as [`Shapes::build`]'s).
    pub(crate) fn lazy((columns, height): (u32, u32), count: usize, routers: usize) -> Self {
        let cells = (columns as usize).saturating_mul(height as usize);
        Shapes {
            routers: cells,
            columns,
            height,
            ys: Vec::with_capacity(routers),
            router_of: (0..cells as u32).collect(),
            src: vec![(0, 0); count],
            col_range: vec![(NONE, NONE); count],
            ..Shapes::default()
        }
    }

    /// Builds tree `t` of [`Shapes::lazy`] unless it is built (or out of range), from
    /// `tree(t, positions)` as [`Shapes::build`] takes it.
    pub(crate) fn ensure(
        &mut self,
        t: u32,
        positions: &mut Vec<(u32, u32)>,
        tree: impl FnOnce(usize, &mut Vec<(u32, u32)>) -> (u32, u32),
    ) {
        if self.is_built(t) {
            return;
        }
        let i = t as usize;
        let (sx, sy) = tree(i, positions);
        self.src[i] = (sx, sy);
        self.col_range[i] = self.push_cols(sy, positions);
        if let Some(hop) = self.hop {
            self.reaches[i] = self.scan_reach(t, hop);
        }
    }

    /// [`Shapes::ensure`] for tree `t` from source router `src` to the routers whose bits
    /// are set in `bits` (bit `x * height + y`; bits beyond the mesh's routers are none):
    /// the columns are read off the bitmap, with no list of routers in between.
    pub(crate) fn ensure_bits(&mut self, t: u32, (sx, sy): (u32, u32), bits: &[u64]) {
        if self.is_built(t) {
            return;
        }
        let i = t as usize;
        self.src[i] = (sx, sy);
        let first = self.cols.len() as u32;
        let height = self.height.max(1) as usize;
        // The bits come in ascending order: the column advances with them, and a column is
        // closed when the next set bit is past it.
        let (mut x, mut col_first) = (0u32, 0usize);
        let mut open: Option<Col> = None;
        for (w, &word) in bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let b = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if b >= col_first + height {
                    self.cols.extend(open.take());
                    let skip = (b - col_first) / height;
                    col_first += skip * height;
                    x += skip as u32;
                }
                let y = (b - col_first) as u32;
                let at = self.ys.len() as u32;
                let col = open.get_or_insert(Col {
                    x,
                    start: at,
                    mid: at,
                    end: at,
                });
                self.ys.push(Y::of(y));
                col.end = at + 1;
                if y < sy {
                    col.mid = at + 1;
                }
            }
        }
        self.cols.extend(open);
        self.col_range[i] = (first, self.cols.len() as u32);
        if let Some(hop) = self.hop {
            self.reaches[i] = self.scan_reach(t, hop);
        }
    }

    /// These shapes with the link latencies `hop` their drains take (hops of at least one
    /// cycle, as [`QuickParams`]): each tree's [`Shapes::reach`] under them is kept, computed
    /// as the tree is built.
    pub(crate) fn with_hop(mut self, hop: [u64; 2]) -> Self {
        self.hop = Some(hop);
        self.reaches = (0..self.col_range.len() as u32)
            .map(|t| {
                if self.col_range[t as usize].0 == NONE {
                    0
                } else {
                    self.scan_reach(t, hop)
                }
            })
            .collect();
        self
    }

    /// Row `i` of [`Shapes::ys`].
    #[inline(always)]
    fn y(&self, i: usize) -> u32 {
        self.ys[i].into()
    }

    /// The rows of column `c`, ascending.
    #[inline(always)]
    fn col_rows(&self, c: Col) -> &[Y] {
        &self.ys[c.start as usize..c.end as usize]
    }

    /// Rows `r` of [`Shapes::ys`].
    #[cfg(test)]
    fn rows(&self, r: std::ops::Range<u32>) -> Vec<u32> {
        r.map(|i| self.y(i as usize)).collect()
    }

    /// The same shapes with rows of type `Z` (each row must fit it).
    #[cfg(test)]
    fn with_rows<Z: Row>(&self) -> Shapes<Z> {
        Shapes {
            routers: self.routers,
            columns: self.columns,
            height: self.height,
            router_of: self.router_of.clone(),
            src: self.src.clone(),
            col_range: self.col_range.clone(),
            cols: self.cols.clone(),
            ys: self.ys.iter().map(|&y| Z::of(y.into())).collect(),
            hop: self.hop,
            reaches: self.reaches.clone(),
        }
    }

    /// Whether tree `t` is built (every tree of [`Shapes::build`]; out of range counts as
    /// built: [`Shapes::ensure`] has nothing to do for it).
    pub(crate) fn is_built(&self, t: u32) -> bool {
        self.col_range.get(t as usize).is_none_or(|r| r.0 != NONE)
    }

    fn cols(&self, tree: u32) -> (usize, usize) {
        let (a, b) = self.col_range[tree as usize];
        (a as usize, b as usize)
    }

    /// `n` with its cursor set for the row it is in (on the source row: the column's `mid`).
    fn at(&self, tree: u32, x: u32, y: u32, col: usize, cur: u32) -> ShapeNode {
        ShapeNode {
            tree,
            x,
            y,
            col: col as u32,
            cur,
        }
    }

    /// The node one row below `n` on column `c` (index `col`), its cursor moved down when
    /// the row below is a destination.
    #[inline(always)]
    fn below(&self, n: ShapeNode, c: Col, col: usize) -> ShapeNode {
        let cur = if n.cur > c.start && self.y(n.cur as usize - 1) == n.y - 1 {
            n.cur - 1
        } else {
            n.cur
        };
        self.at(n.tree, n.x, n.y - 1, col, cur)
    }

    /// The node of tree `tree` at router `(x, sy)` of its x leg, with `col` its first column
    /// at or east of `x`.
    fn leg(&self, tree: u32, x: u32, col: usize) -> ShapeNode {
        let sy = self.src[tree as usize].1;
        let cur = self.cols.get(col).map_or(0, |c| c.mid);
        self.at(tree, x, sy, col, cur)
    }
}

impl<Y: Row> Trees for Shapes<Y> {
    type Node = ShapeNode;

    fn root(&self, tree: u32) -> ShapeNode {
        let (sx, _) = self.src[tree as usize];
        let (c0, c1) = self.cols(tree);
        let col = c0 + self.cols[c0..c1].partition_point(|c| c.x < sx);
        self.leg(tree, sx, col)
    }

    fn latency(&self, n: ShapeNode, hop: [u64; 2]) -> u64 {
        let (sx, sy) = self.src[n.tree as usize];
        hop[0] * u64::from(n.x.abs_diff(sx)) + hop[1] * u64::from(n.y.abs_diff(sy))
    }

    fn meet(&self, a: (u32, u64), late: u64, b: (u32, u64), hop: [u64; 2]) -> bool {
        Shapes::meet(self, a, late, b, hop)
    }

    fn src_reach(&self, tree: u32, hop: [u64; 2]) -> ((u32, u32), u64) {
        (self.src[tree as usize], self.reach(tree, hop))
    }

    fn no_fill(&self, pk: &[(u32, u64)], hop: [u64; 2], depth: u32, late: u64) -> bool {
        Shapes::no_fill(self, pk, hop, depth, late)
    }

    fn legs(&self, tree: u32) -> u32 {
        let (c0, c1) = self.cols(tree);
        2 * (c1 - c0) as u32
    }

    /// Leg `2 i` is the part of column `i` (of the tree's columns) above the source row,
    /// `2 i + 1` the part below.
    fn leg(&self, n: ShapeNode) -> Option<(u32, u32)> {
        let sy = self.src[n.tree as usize].1;
        if n.y == sy {
            return None;
        }
        let (c0, _) = self.cols(n.tree);
        let c = self.cols[n.col as usize];
        let leg = 2 * (n.col - c0 as u32);
        Some(if n.y > sy {
            (leg, self.y(c.end as usize - 1) - sy)
        } else {
            (leg + 1, sy - self.y(c.start as usize))
        })
    }

    /// The trees' columns walked side by side: only common ones can touch.
    ///
    /// Two bounds hold for the whole pair. Along a leg heading away from `tb`'s source row
    /// the time difference to `tb`'s copies is `along + l - hop_y dy` (`dy` the rows between
    /// the sources, `along` the x legs' difference, at most `hop_x dx`): below 0 in every
    /// column when `hop_x dx + l < hop_y dy`, so such legs are never looked at. Heading
    /// towards it, where the leg passes `tb`'s source row or runs beside its leg of the same
    /// direction the difference is `along + l + hop_y dy`, at least `hop_y dy - hop_x dx`:
    /// above every window of `tb` when that exceeds their ends, leaving only `tb`'s leg of
    /// the opposite direction to look at ([`Shapes::col_touch`]'s `opposite_only`).
    #[allow(clippy::too_many_arguments)]
    fn legs_touch(
        &self,
        ta: u32,
        late: &impl Fn(u32, u32) -> Option<u64>,
        tb: u32,
        hop: [u64; 2],
        win: &impl Fn(Option<u32>) -> (u64, u64),
        (late_max, win_max): (u64, u64),
        touch: &mut impl FnMut(u32),
    ) {
        let ((a0, a1), (b0, b1)) = (self.cols(ta), self.cols(tb));
        let ((ax, ay), (bx, by)) = (self.src[ta as usize], self.src[tb as usize]);
        // (Hops are a target's `u32` cycles, as in `meet`.)
        let (hx, hy) = (hop[0] as i64, hop[1] as i64);
        let (away_never, opposite_only) = {
            let (hx, hy) = (i128::from(hop[0]), i128::from(hop[1]));
            let x_far = hx * i128::from(ax.abs_diff(bx));
            let y_far = hy * i128::from(ay.abs_diff(by));
            (
                x_far + i128::from(late_max) < y_far,
                y_far - x_far > i128::from(win_max),
            )
        };
        // The direction of each leg (up, down) that heads away from `tb`'s source row.
        let away = [by < ay, by > ay];
        let (ay, by) = (i64::from(ay), i64::from(by));
        let (mut ia, mut ib) = (a0, b0);
        while ia < a1 && ib < b1 {
            let (ca, xb) = (self.cols[ia], self.cols[ib].x);
            if ca.x < xb {
                ia += 1;
                continue;
            }
            if xb < ca.x {
                ib += 1;
                continue;
            }
            // Every check of `col_touch` needs the time difference between the leg's copy and
            // the other tree's, `diff(y)` below, inside one of `tb`'s windows at a row of the
            // leg; along the leg `diff` never decreases (each row adds `hy` to A's time and
            // `±hy` to B's). So a leg whose `diff` is negative at its far end, or above every
            // window at its first row, cannot touch: most pairs of a drain's trees, found
            // here without `col_touch`'s reads.
            let along = hx * i64::from(ca.x.abs_diff(ax)) - hx * i64::from(ca.x.abs_diff(bx));
            let leg_b = 2 * (ib - b0) as u32;
            let base_a = 2 * (ia - a0) as u32;
            let late_of = |i: usize| {
                if away_never && away[i] {
                    // (The tests hold the shortcut to the whole check.)
                    #[cfg(test)]
                    if let Some(l) = late(base_a + i as u32, leg_b) {
                        assert!(
                            !self.col_touch((ta, ia, i == 0, l), (tb, ib), hop, win, false),
                            "a leg heading away touches"
                        );
                    }
                    None
                } else {
                    late(base_a + i as u32, leg_b)
                }
            };
            let lates = [late_of(0), late_of(1)];
            if lates == [None, None] {
                ia += 1;
                ib += 1;
                continue;
            }
            // Read once per column, and only if a leg gets that far.
            let mut w_max = None;
            for (up, l) in [true, false].into_iter().zip(lates) {
                let leg = base_a + u32::from(!up);
                let Some(l) = l else {
                    continue;
                };
                let (s, far) = if up {
                    (1, self.y(ca.end as usize - 1))
                } else {
                    (-1, self.y(ca.start as usize))
                };
                let far = i64::from(far);
                if s * (far - ay) < 1 {
                    // No leg this way.
                    continue;
                }
                let Ok(l) = i64::try_from(l) else {
                    touch(leg);
                    continue;
                };
                // Towards `tb`'s row (away from it nothing is looked at when `away_never`).
                let only = opposite_only && !away[usize::from(!up)];
                if only {
                    // `col_touch`'s rows of the other tree's opposite leg where the time
                    // difference can be in its window, without its reads: mostly none.
                    let cb = self.cols[ib];
                    let b_far = if up {
                        self.y(cb.start as usize)
                    } else {
                        self.y(cb.end as usize - 1)
                    };
                    let rb_opp = s * (by - i64::from(b_far));
                    let leg_opp = leg_b + u32::from(up);
                    let (w0, w1) = win(Some(leg_opp));
                    let rows = match (i64::try_from(w0), i64::try_from(w1)) {
                        (Ok(w0), Ok(w1)) if rb_opp >= 1 => {
                            let c = along + l - hy * s * (ay + by);
                            let ra = s * (far - ay);
                            let (lo, hi) =
                                opposite_rows(c, (w0, w1), hy, s, (ay, ra), (by, rb_opp));
                            lo <= hi
                        }
                        (Ok(_), Ok(_)) => false,
                        _ => true,
                    };
                    if !rows {
                        #[cfg(test)]
                        assert!(
                            !self.col_touch((ta, ia, up, l as u64), (tb, ib), hop, win, false),
                            "a leg passed over touches the opposite leg"
                        );
                        continue;
                    }
                }
                let diff = |y: i64| along + l + hy * ((y - ay).abs() - (y - by).abs());
                let read = || {
                    let w = win(None)
                        .1
                        .max(win(Some(leg_b)).1)
                        .max(win(Some(leg_b + 1)).1);
                    i64::try_from(w).unwrap_or(i64::MAX)
                };
                if !only && (diff(far) < 0 || diff(ay + s) > *w_max.get_or_insert_with(read)) {
                    // (The tests hold the shortcut to the whole check.)
                    #[cfg(test)]
                    assert!(
                        !self.col_touch((ta, ia, up, l as u64), (tb, ib), hop, win, false),
                        "a leg passed over touches"
                    );
                    continue;
                }
                let touches = self.col_touch((ta, ia, up, l as u64), (tb, ib), hop, win, only);
                #[cfg(test)]
                assert_eq!(
                    touches,
                    self.col_touch((ta, ia, up, l as u64), (tb, ib), hop, win, false),
                    "the opposite leg alone decides otherwise"
                );
                if touches {
                    touch(leg);
                }
            }
            ia += 1;
            ib += 1;
        }
    }

    // Inlined into the simulation's loop: as a call, its 120-byte `View` was returned through
    // memory for every copy forwarded (`bench/cuba/README.md`, "Intel Xeon with AVX-512").
    #[inline(always)]
    fn view(&self, n: ShapeNode) -> View<ShapeNode> {
        let (sx, sy) = self.src[n.tree as usize];
        let col = n.col as usize;
        // The router cell of this node: its neighbours' are a column (x) or a row (y) away.
        let w = self.columns as usize;
        let cell = n.y as usize * w + n.x as usize;
        if n.y != sy {
            // Off the source row: on the y leg of column `col` (whose x is `n.x`: the only
            // nodes off the row are those of its columns), heading away from the source row.
            // At most one child, the next row of the leg (most copies move here).
            let c = self.cols[col];
            debug_assert_eq!(c.x, n.x, "a node off the source row is on its column");
            let eject = n.cur < c.end && self.y(n.cur as usize) == n.y;
            let mut view = View::new(self.router_of[cell], eject);
            if n.y > sy {
                if n.y < self.y(c.end as usize - 1) {
                    let next = self.at(n.tree, n.x, n.y + 1, col, n.cur + u32::from(eject));
                    view.set(2, next, self.router_of[cell + w]);
                }
            } else if n.y > self.y(c.start as usize) {
                view.set(3, self.below(n, c, col), self.router_of[cell - w]);
            }
            return view;
        }
        // On the source row.
        let (c0, c1) = self.cols(n.tree);
        // The column of this node's x, if it has destinations.
        let here = (col < c1 && self.cols[col].x == n.x).then(|| self.cols[col]);
        let eject = here.is_some_and(|c| n.cur < c.end && self.y(n.cur as usize) == n.y);
        let mut view = View::new(self.router_of[cell], eject);
        // (Trees always have destinations; a tree without would be a lone root.)
        if c0 < c1 {
            let (west, east) = (self.cols[c0].x, self.cols[c1 - 1].x);
            if n.x >= sx && n.x < east {
                let next = if here.is_some() { col + 1 } else { col };
                view.set(0, self.leg(n.tree, n.x + 1, next), self.router_of[cell + 1]);
            }
            if n.x <= sx && n.x > west {
                let prev = if col > c0 && self.cols[col - 1].x == n.x - 1 {
                    col - 1
                } else {
                    col
                };
                view.set(1, self.leg(n.tree, n.x - 1, prev), self.router_of[cell - 1]);
            }
        }
        if let Some(c) = here {
            let hi = self.y(c.end as usize - 1);
            let lo = self.y(c.start as usize);
            if n.y < hi {
                let next = self.at(n.tree, n.x, n.y + 1, col, n.cur + u32::from(eject));
                view.set(2, next, self.router_of[cell + w]);
            }
            if n.y > lo {
                view.set(3, self.below(n, c, col), self.router_of[cell - w]);
            }
        }
        view
    }

    /// [`NetSim::ideal`](crate::network::NetSim)'s contention-free drain, decided per pair of
    /// packets instead of by walking the trees: when no FIFO can fill — at most `depth`
    /// packets (each passes a FIFO at most once), or more whose copies never crowd one FIFO
    /// ([`Shapes::no_fill`]) — its checks all pass exactly when no two packets use one output
    /// in one cycle: the drain is then one more than the last ejection. With one packet per
    /// link and cycle, a shared output in one cycle fails `ideal` ([`Quick::Contended`]); with
    /// more, `ideal` decides.
    fn quick(&self, trees: &[u32], q: &QuickParams, scratch: &mut Vec<(u32, u64)>) -> Quick {
        let n = trees.len();
        if n > q.packets_max {
            return Quick::Unknown;
        }
        scratch.clear();
        let mut last = 0;
        let mut first_late = 0;
        for (i, &t) in trees.iter().enumerate() {
            // The k-th packet of a root leaves its local FIFO at cycle k / lpc.
            let src = self.src[t as usize];
            let k = trees[..i]
                .iter()
                .filter(|&&u| self.src[u as usize] == src)
                .count() as u64;
            let o = k / u64::from(q.lpc.max(1));
            last = last.max(o + self.reach(t, q.hop));
            first_late = first_late.max(o);
            scratch.push((t, o));
        }
        // Without a collision no packet waits but in its local FIFO: late by `o` at most.
        if n > q.depth.max(1) as usize
            && !Shapes::no_fill(self, scratch, q.hop, q.depth, first_late)
        {
            return Quick::Unknown;
        }
        for i in 1..n {
            for j in 0..i {
                if self.collide(scratch[i], scratch[j], q.hop) {
                    return if q.lpc <= 1 {
                        Quick::Contended(i, j)
                    } else {
                        Quick::Unknown
                    };
                }
            }
        }
        Quick::Drain(last + 1)
    }
}

/// Rows `y` (as intervals) where `|y - a1| - |y - a2| == b`: at most a ray and a point.
fn rows_where(a1: u32, a2: u32, b: i64) -> [Option<(u32, u32)>; 2] {
    let (a1, a2) = (i64::from(a1), i64::from(a2));
    if a1 == a2 {
        return [(b == 0).then_some((0, u32::MAX)), None];
    }
    let (lo, hi) = (a1.min(a2), a1.max(a2));
    let ray = if b == a1 - a2 {
        Some((0, lo as u32))
    } else if b == a2 - a1 {
        Some((hi as u32, u32::MAX))
    } else {
        None
    };
    // Between the two rows, |y - a1| - |y - a2| moves by 2 per row.
    let twice = if a1 < a2 { b + a1 + a2 } else { a1 + a2 - b };
    let point = (twice % 2 == 0 && lo < twice / 2 && twice / 2 < hi).then(|| {
        let y = (twice / 2) as u32;
        (y, y)
    });
    [ray, point]
}

/// [`Shapes::col_touch`]'s rows, measured along the leg (`s y`), where a leg of tree A
/// (source row `ay`, `ra` rows long in direction `s`) and tree B's leg the other way (source
/// row `by`, `rb` rows long) both pass and the time difference `c + 2 hop_y s y` is within
/// `w`: `lo..=hi`, empty when `lo > hi`.
fn opposite_rows(
    c: i64,
    (w0, w1): (i64, i64),
    hy: i64,
    s: i64,
    (ay, ra): (i64, i64),
    (by, rb): (i64, i64),
) -> (i64, i64) {
    let lo = (-(c - w0).div_euclid(2 * hy))
        .max(s * ay + 1)
        .max(s * by - rb);
    let hi = (w1 - c).div_euclid(2 * hy).min(s * ay + ra).min(s * by - 1);
    (lo, hi)
}

/// `⌊v / h⌋` (`h > 0`), from the quotient of a nearby `v` kept in `q`: a step or two from it
/// costs a multiply each, where a 64-bit division costs tens of cycles.
fn floor_div_near(q: &mut Option<i64>, v: i64, h: i64) -> i64 {
    let mut k = match *q {
        Some(k) if (k - 2) * h <= v && v < (k + 3) * h => k,
        _ => v.div_euclid(h),
    };
    while k * h > v {
        k -= 1;
    }
    while (k + 1) * h <= v {
        k += 1;
    }
    *q = Some(k);
    k
}

/// Whether `a` and `b` (inclusive ranges) share a value inside `w`.
fn overlap(a: (u32, u32), b: (u32, u32), w: (u32, u32)) -> bool {
    a.0.max(b.0).max(w.0) <= a.1.min(b.1).min(w.1)
}

impl<Y: Row> Shapes<Y> {
    /// Whether no link FIFO can fill in a drain of packets `pk` (tree, cycle it leaves its root
    /// unhindered) whose copies each leave every router (and so are popped from each FIFO) at
    /// most `late` cycles after their unhindered cycle from the root, were no FIFO ever full.
    ///
    /// A copy sent over a link at cycle `s` holds a slot of the FIFO behind it from `s` until
    /// it is popped at the next router, `hop` cycles later unhindered: so within `[U, U + hop +
    /// late]`, `U` its unhindered send cycle. A sender checks `len + pops < depth`, so a FIFO
    /// never refuses a copy when at most `depth` copies, the sender's included, can be in it at
    /// once: when no window `hop + late` long holds more than `depth` of its copies' `U`.
    /// Every packet's copies pass a FIFO at most once, and along one column (one direction)
    /// every packet's `U` at a row is a constant of the packet plus `hop_y` per row (along
    /// a source row, `hop_x` per column): so per column and direction (per row and direction)
    /// one count of those constants, over every row, bounds every FIFO there (a packet
    /// counted where it has no copy only makes the answer `false` more often).
    /// With `late` the lateness the simulation measured, a drain simulated in part ([`NetSim`]'s
    /// split and legs, which assume no FIFO fills) is then the whole simulation's: up to the
    /// first cycle they could differ, every copy is within `late`, so no FIFO is full then.
    ///
    /// [`NetSim`]: crate::network::NetSim
    pub(crate) fn no_fill(&self, pk: &[(u32, u64)], hop: [u64; 2], depth: u32, late: u64) -> bool {
        let (Ok(hx), Ok(hy), Ok(late)) = (
            i64::try_from(hop[0]),
            i64::try_from(hop[1]),
            i64::try_from(late),
        ) else {
            return false;
        };
        let depth = depth.max(1) as usize;
        if pk.len() <= depth {
            // Each packet passes a FIFO at most once.
            return true;
        }
        // (FIFO group, key): groups `4 x + 0/1` are column x up/down, `4 y + 2/3` row y
        // east/west.
        let mut keys = Vec::new();
        for &(t, _) in pk {
            let (sx, sy) = self.src[t as usize];
            let (c0, c1) = self.cols(t);
            let (Some(w), Some(e)) = (self.cols[c0..c1].first(), self.cols[c0..c1].last()) else {
                continue;
            };
            let (sxi, syi) = (i64::from(sx), i64::from(sy));
            if e.x > sx {
                keys.push((4 * u64::from(sy) + 2, -hx * sxi));
            }
            if w.x < sx {
                keys.push((4 * u64::from(sy) + 3, hx * sxi));
            }
            for c in &self.cols[c0..c1] {
                let (lo, hi) = (self.y(c.start as usize), self.y(c.end as usize - 1));
                let along = hx * i64::from(c.x.abs_diff(sx));
                if hi > sy {
                    keys.push((4 * u64::from(c.x), along - hy * syi));
                }
                if lo < sy {
                    keys.push((4 * u64::from(c.x) + 1, along + hy * syi));
                }
            }
        }
        keys.sort_unstable();
        // Per group, the most keys within a window `hop + late` wide.
        let mut start = 0;
        for i in 0..keys.len() {
            let (g, k) = keys[i];
            let width = if g % 4 < 2 { hy } else { hx } + late;
            while keys[start].0 != g || keys[start].1 < k - width {
                start += 1;
            }
            if i - start + 1 > depth {
                return false;
            }
        }
        true
    }

    /// The link latency of the farthest ejection of `tree` from its root.
    fn reach(&self, tree: u32, hop: [u64; 2]) -> u64 {
        if self.hop == Some(hop) {
            let r = self.reaches[tree as usize];
            #[cfg(test)]
            assert_eq!(r, self.scan_reach(tree, hop), "tree {tree}");
            return r;
        }
        self.scan_reach(tree, hop)
    }

    /// [`Shapes::reach`] from the tree's columns.
    fn scan_reach(&self, tree: u32, hop: [u64; 2]) -> u64 {
        let (sx, sy) = self.src[tree as usize];
        let (c0, c1) = self.cols(tree);
        self.cols[c0..c1]
            .iter()
            .map(|c| {
                let (lo, hi) = (self.y(c.start as usize), self.y(c.end as usize - 1));
                hop[0] * u64::from(c.x.abs_diff(sx))
                    + hop[1] * u64::from(lo.abs_diff(sy).max(hi.abs_diff(sy)))
            })
            .max()
            .unwrap_or(0)
    }

    /// The x span of `tree`'s routers: its x leg, from the source out to the extreme columns.
    fn span(&self, tree: u32) -> (u32, u32) {
        let sx = self.src[tree as usize].0;
        let (c0, c1) = self.cols(tree);
        match (self.cols[c0..c1].first(), self.cols[c0..c1].last()) {
            (Some(w), Some(e)) => (w.x.min(sx), e.x.max(sx)),
            _ => (sx, sx),
        }
    }

    /// Whether a leg of tree `ta` ([`Shapes::leg`]), its copies each exactly `late` cycles
    /// behind their unhindered cycle (leaving the root at 0), can share an output or an input
    /// FIFO of a router with a copy of a packet of tree `tb` while that copy may be there:
    /// `win` bounds how late that packet's units are. Only routers of the leg's column count;
    /// there a copy at row `y` is at cycle `hop_x |x - sx| + hop_y |y - sy| + late`.
    /// Legs of one direction share FIFOs (and so any link or ejection) exactly where their
    /// rows overlap, at a constant time difference; legs of opposite directions only the
    /// ejection ports of common destinations; the other tree's source-row router the link
    /// onwards and its ejection port. A copy late by `l` at a router arrives and leaves
    /// within `win`'s range of `l`, so sharing in one cycle needs the time difference there.
    /// Here for the leg of column `ia` (an index into `cols`) of tree `ta`, upwards or not,
    /// and tree `tb`'s column `ib` at the same x (without one, `tb` uses no vertical link or
    /// ejection in that column). `opposite_only`: `tb`'s leg of the opposite direction alone
    /// is looked at (see [`Trees::legs_touch`] for `Shapes`).
    fn col_touch(
        &self,
        (ta, ia, up, late): (u32, usize, bool, u64),
        (tb, ib): (u32, usize),
        hop: [u64; 2],
        win: &impl Fn(Option<u32>) -> (u64, u64),
        opposite_only: bool,
    ) -> bool {
        let (ca, cb) = (self.cols[ia], self.cols[ib]);
        let x = ca.x;
        let b0 = self.cols(tb).0;
        let (Ok(late), Ok(hx), Ok(hy)) = (
            i64::try_from(late),
            i64::try_from(hop[0]),
            i64::try_from(hop[1]),
        ) else {
            return true;
        };
        let ((ax, ay), (bx, by)) = (self.src[ta as usize], self.src[tb as usize]);
        let (ya, yb) = (self.col_rows(ca), self.col_rows(cb));
        let (Some(&a_lo), Some(&a_hi), Some(&b_lo), Some(&b_hi)) =
            (ya.first(), ya.last(), yb.first(), yb.last())
        else {
            return true;
        };
        let (a_lo, a_hi, b_lo, b_hi): (u32, u32, u32, u32) =
            (a_lo.into(), a_hi.into(), b_lo.into(), b_hi.into());
        // Rows measured along the leg's direction.
        let s: i64 = if up { 1 } else { -1 };
        let (ay, by) = (i64::from(ay), i64::from(by));
        let ra = s * (i64::from(if up { a_hi } else { a_lo }) - ay);
        let rb_same = s * (i64::from(if up { b_hi } else { b_lo }) - by);
        let rb_opp = s * (by - i64::from(if up { b_lo } else { b_hi }));
        let (leg_same, leg_opp) = {
            let l = 2 * (ib - b0) as u32;
            if up { (l, l + 1) } else { (l + 1, l) }
        };
        // Cycle of A's copies, and T_A - T_B(unhindered) at row y.
        let la = hx * i64::from(x.abs_diff(ax)) + late;
        let lb = hx * i64::from(x.abs_diff(bx));
        let diff = |y: i64| la + hy * (y - ay).abs() - lb - hy * (y - by).abs();
        let inside = |d: i64, w: (u64, u64)| d >= 0 && w.0 <= d as u64 && d as u64 <= w.1;
        let in_a = |y: i64| (1..=ra).contains(&(s * (y - ay)));
        let dest = |ys: &[Y], y: i64| {
            u32::try_from(y)
                .ok()
                .and_then(Y::fits)
                .is_some_and(|y| ys.binary_search(&y).is_ok())
        };
        // The other tree's leg in the same direction.
        if rb_same >= 1 && !opposite_only {
            let (lo, hi) = (
                (s * ay + 1).max(s * by + 1),
                (s * ay + ra).min(s * by + rb_same),
            );
            if lo <= hi && inside(diff(s * lo), win(Some(leg_same))) {
                return true;
            }
        }
        // The other tree's source-row router in this column.
        if !opposite_only
            && in_a(by)
            && ((rb_same >= 1 && s * (by - ay) < ra) || (dest(ya, by) && dest(yb, by)))
            && inside(diff(by), win(None))
        {
            return true;
        }
        // The other tree's leg in the opposite direction: common destinations, where the time
        // difference, `c + 2 hop_y s y`, is in the window.
        if rb_opp >= 1 {
            let (Ok(w0), Ok(w1)) = (
                i64::try_from(win(Some(leg_opp)).0),
                i64::try_from(win(Some(leg_opp)).1),
            ) else {
                return true;
            };
            let c = la - lb - hy * s * (ay + by);
            let (lo, hi) = opposite_rows(c, (w0, w1), hy, s, (ay, ra), (by, rb_opp));
            if lo <= hi {
                let (y0, y1) = ((s * lo).min(s * hi), (s * lo).max(s * hi));
                let (Ok(y0), Ok(y1)) = (u32::try_from(y0), u32::try_from(y1)) else {
                    return true;
                };
                if share(ya, yb, (y0, y1)) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether packets `a` and `b` (tree, cycle they leave the root) would use one output of
    /// one router in the same cycle, were neither ever held up.
    fn collide(&self, a: (u32, u64), b: (u32, u64), hop: [u64; 2]) -> bool {
        self.meet(a, 0, b, hop)
    }

    /// Whether packet `a`, held up by at most `late` cycles at any router, can touch packet
    /// `b` moving unhindered: at a router of both trees, an output of both used when
    /// `T_b - T_a` is in `[0, late]` (`a` may use it in `b`'s cycle), or an input FIFO of
    /// both when it is in `[1, late]` (`a`, ahead in it, may still be there when `b` is
    /// ready). `T` is the unhindered cycle at the router: `offset + hop_x |x - sx| + hop_y
    /// |y - sy|`; its x part depends on the column alone, its y part on the row alone, so
    /// per shared column the rows of each time difference are a ray and/or a point
    /// ([`rows_where`]), where the trees' outputs and inputs are compared as row ranges and
    /// destination rows. O(columns) per pair; `true` when unsure.
    fn meet(&self, (ta, oa): (u32, u64), late: u64, (tb, ob): (u32, u64), hop: [u64; 2]) -> bool {
        let ((ax, ay), (bx, by)) = (self.src[ta as usize], self.src[tb as usize]);
        let ((a0, a1), (b0, b1)) = (self.cols(ta), self.cols(tb));
        if a0 == a1 || b0 == b1 {
            // A tree without destinations uses no output.
            return false;
        }
        let (sa, sb) = (self.span(ta), self.span(tb));
        let (x0, x1) = (sa.0.max(sb.0), sa.1.min(sb.1));
        if x0 > x1 {
            return false;
        }
        let (mut ca, mut cb) = (
            a0 + self.cols[a0..a1].partition_point(|c| c.x < x0),
            b0 + self.cols[b0..b1].partition_point(|c| c.x < x0),
        );
        let (hx, hy) = (hop[0] as i64, hop[1] as i64);
        let Ok(late) = i64::try_from(late) else {
            return true;
        };
        let delta = oa as i64 - ob as i64;
        let (east_a, west_a, east_b, west_b) = (
            self.cols[a1 - 1].x,
            self.cols[a0].x,
            self.cols[b1 - 1].x,
            self.cols[b0].x,
        );
        // `⌊(need + late) / hy⌋` and `⌊-need / hy⌋`, moved along with `x` (a division per
        // column was a fifth of this function's time).
        let (mut q0, mut q1) = (None, None);
        // `|y - ay| - |y - by|` is within `±|ay - by|`.
        let rows = i64::from(ay.abs_diff(by));
        // West of both sources, and east of both, `need` is the same in every column.
        let (west_src, east_src) = (ax.min(bx), ax.max(bx));
        let mut next = x0;
        while next <= x1 {
            let x = next;
            next += 1;
            // T_a - T_b = need + hy (|y - ay| - |y - by|); T_b - T_a in [0, late].
            let need = delta + hx * (i64::from(x.abs_diff(ax)) - i64::from(x.abs_diff(bx)));
            let (k0, k1) = (
                -floor_div_near(&mut q0, need + late, hy),
                floor_div_near(&mut q1, -need, hy),
            );
            if k1 - k0 > 16 {
                return true;
            }
            // No row of this column has such a difference (most columns, with the link
            // latencies of a real mesh): nothing of the trees read, and none of the columns
            // with the same `need` either.
            let (k0, k1) = (k0.max(-rows), k1.min(rows));
            if k0 > k1 {
                if x < west_src {
                    next = west_src;
                } else if x > east_src {
                    break;
                }
                continue;
            }
            while ca < a1 && self.cols[ca].x < x {
                ca += 1;
            }
            while cb < b1 && self.cols[cb].x < x {
                cb += 1;
            }
            let col_a = (ca < a1 && self.cols[ca].x == x).then(|| self.cols[ca]);
            let col_b = (cb < b1 && self.cols[cb].x == x).then(|| self.cols[cb]);
            for k in k0..=k1 {
                let inputs = -(need + hy * k) >= 1;
                for w in rows_where(ay, by, k).into_iter().flatten() {
                    if ay == by && w.0 <= ay && ay <= w.1 {
                        // x legs on one row: the same direction out, or (inputs) in.
                        let plus = |s: u32, east: u32| x >= s && x < east;
                        let minus = |s: u32, west: u32| x <= s && x > west;
                        if (plus(ax, east_a) && plus(bx, east_b))
                            || (minus(ax, west_a) && minus(bx, west_b))
                            || (inputs && ((x > ax && x > bx) || (x < ax && x < bx)))
                        {
                            return true;
                        }
                    }
                    let (Some(ka), Some(kb)) = (col_a, col_b) else {
                        continue;
                    };
                    let ends = |k: Col| (self.y(k.start as usize), self.y(k.end as usize - 1));
                    let ((loa, hia), (lob, hib)) = (ends(ka), ends(kb));
                    // +y out from the source row up to below the highest destination, in
                    // above the source row; -y likewise.
                    if hia > ay && hib > by {
                        if overlap((ay, hia - 1), (by, hib - 1), w) {
                            return true;
                        }
                        if inputs && overlap((ay + 1, hia), (by + 1, hib), w) {
                            return true;
                        }
                    }
                    if loa < ay && lob < by {
                        if overlap((loa + 1, ay), (lob + 1, by), w) {
                            return true;
                        }
                        if inputs && overlap((loa, ay - 1), (lob, by - 1), w) {
                            return true;
                        }
                    }
                    if share(self.col_rows(ka), self.col_rows(kb), w) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{NetParams, NetSim, tests::Rand};
    use crate::program::TreeBuilder;

    /// Random trees on a `w × h` mesh, as materialised routers and as shapes.
    /// A mesh's columns and rows: up to 23 × 23 when `big`, else up to 6 × 5.
    fn random_mesh(rand: &mut Rand, big: bool) -> (u32, u32) {
        if big {
            (4 + rand.below(20) as u32, 4 + rand.below(20) as u32)
        } else {
            (1 + rand.below(6) as u32, 1 + rand.below(5) as u32)
        }
    }

    /// A drain's packets: trees drawn from `n` (a few on big meshes, up to three per tree
    /// on small ones, so that FIFOs fill).
    fn random_batch(rand: &mut Rand, big: bool, n: u64) -> Vec<u32> {
        (0..rand.below(if big { 5 } else { 3 * n + 1 }))
            .map(|_| rand.below(n) as u32)
            .collect()
    }

    fn both(rand: &mut Rand, (w, h): (u32, u32), trees: u64, dests: u64) -> (Topology, Shapes) {
        let (topo, shapes, _) = both_listed(rand, (w, h), trees, dests);
        (topo, shapes)
    }

    /// The trees of `both`: each one's source and destination routers.
    type TreeList = Vec<((u32, u32), Vec<(u32, u32)>)>;

    /// [`both`], with the trees' list.
    fn both_listed(
        rand: &mut Rand,
        (w, h): (u32, u32),
        trees: u64,
        dests: u64,
    ) -> (Topology, Shapes, TreeList) {
        let mut target = lifchip_target::builtin("loihi-like").unwrap();
        target.mesh.width = w;
        target.mesh.height = h;
        target.mesh.cores_per_tile = 1;
        let mut b = TreeBuilder::new(&target);
        let mut list = Vec::new();
        for _ in 0..1 + rand.below(trees) {
            let src = (
                rand.below(u64::from(w)) as u32,
                rand.below(u64::from(h)) as u32,
            );
            let mut d: Vec<(u32, u32)> = (0..1 + rand.below(dests))
                .map(|_| {
                    (
                        rand.below(u64::from(w)) as u32,
                        rand.below(u64::from(h)) as u32,
                    )
                })
                .collect();
            d.sort_unstable();
            d.dedup();
            b.add(src, &d);
            list.push((src, d));
        }
        let shapes = Shapes::build((w, h), list.len(), 0, |i, out| {
            out.clone_from(&list[i].1);
            list[i].0
        });
        (b.finish(), shapes, list)
    }

    /// Rows are 16 bits up to a mesh 65,536 rows high (its last row 65,535 kept), 32 above.
    #[test]
    fn rows_take_16_bits_up_to_65536_rows() {
        let tree = |_: usize, out: &mut Vec<(u32, u32)>| {
            *out = vec![(0, 3), (0, 65_535)];
            (0, 0)
        };
        let AnyShapes::Narrow(narrow) = AnyShapes::build((1, 1 << 16), 1, 2, tree) else {
            panic!("wide rows");
        };
        assert_eq!(narrow.rows(0..2), [3, 65_535]);
        let tree = |_: usize, out: &mut Vec<(u32, u32)>| {
            *out = vec![(0, 65_536)];
            (0, 0)
        };
        let AnyShapes::Wide(wide) = AnyShapes::build((1, (1 << 16) + 1), 1, 1, tree) else {
            panic!("narrow rows");
        };
        assert_eq!(wide.rows(0..1), [65_536]);
        assert!(matches!(
            AnyShapes::lazy((2, 1 << 16), 1, 0),
            AnyShapes::Narrow(_)
        ));
        assert!(matches!(
            AnyShapes::lazy((1, (1 << 16) + 1), 1, 0),
            AnyShapes::Wide(_)
        ));
    }

    /// Shapes built tree by tree as the drains first take them (`Shapes::lazy`, every router
    /// of the mesh numbered) drain as the materialised trees do, and the trees built before
    /// are not built again.
    #[test]
    fn lazy_shapes_drain_like_the_materialised_trees() {
        let mut rand = Rand(0x5eed_1a2e_0000_0007);
        let mut built = 0;
        for case in 0..300 {
            let big = case % 2 == 1;
            let (w, h) = random_mesh(&mut rand, big);
            let (topo, _, list) = both_listed(&mut rand, (w, h), 12, if big { 12 } else { 5 });
            let p = NetParams {
                hop_cycles: rand.below(5),
                hop_y_cycles: rand.below(5),
                link_packets_per_cycle: 1 + rand.below(3) as u32,
                fifo_depth: 1 + rand.below(6) as u32,
            };
            let hop = [p.hop_cycles.max(1), p.hop_y_cycles.max(1)];
            // (Its reaches kept, each checked against its columns when asked.)
            // Also with 16-bit rows, as the emulator keeps them on such meshes.
            let mut lazy = Shapes::<u32>::lazy((w, h), list.len(), 0).with_hop(hop);
            let mut lazy16 = Shapes::<u16>::lazy((w, h), list.len(), 0).with_hop(hop);
            assert_eq!(lazy.routers, (w * h) as usize);
            let mut positions = Vec::new();
            let mut on_topo = NetSim::new(topo.routers);
            let mut on_lazy = NetSim::new(lazy.routers);
            let mut on_lazy16 = NetSim::new(lazy16.routers);
            let n = topo.roots.len() as u64;
            for round in 0..6 {
                let batch = random_batch(&mut rand, big, n);
                for &t in &batch {
                    let cols = lazy.cols.len();
                    lazy.ensure(t, &mut positions, |i, out| {
                        out.clone_from(&list[i].1);
                        list[i].0
                    });
                    built += usize::from(lazy.cols.len() > cols);
                    lazy16.ensure(t, &mut positions, |i, out| {
                        out.clone_from(&list[i].1);
                        list[i].0
                    });
                }
                let want = on_topo.drain(&topo, &batch, p);
                assert_eq!(
                    on_lazy.drain(&lazy, &batch, p),
                    want,
                    "case {case} round {round}"
                );
                assert_eq!(
                    on_lazy16.drain(&lazy16, &batch, p),
                    want,
                    "case {case} round {round}, 16-bit rows"
                );
            }
            // Asked again, a built tree is not built again; past the last tree, nothing is.
            let cols = lazy.cols.len();
            for t in 0..=n as u32 {
                if lazy.is_built(t) {
                    lazy.ensure(t, &mut positions, |_, _| panic!("built again"));
                }
            }
            assert_eq!(lazy.cols.len(), cols);
        }
        assert!(built > 500, "{built}");
    }

    /// The reaches [`Shapes::with_hop`] keeps are those of the trees' columns, for trees built
    /// before and after it; other latencies are scanned.
    #[test]
    fn kept_reaches_equal_the_scanned_ones() {
        let mut rand = Rand(0x5eed_4ea0_c4e5_0001);
        for case in 0..100 {
            let (w, h) = random_mesh(&mut rand, true);
            let (_, shapes, list) = both_listed(&mut rand, (w, h), 20, 30);
            let hop = [1 + rand.below(60), 1 + rand.below(60)];
            let kept = shapes.clone().with_hop(hop);
            let mut lazy = Shapes::<u32>::lazy((w, h), list.len(), 0).with_hop(hop);
            let mut positions = Vec::new();
            for t in 0..list.len() as u32 {
                lazy.ensure(t, &mut positions, |i, out| {
                    out.clone_from(&list[i].1);
                    list[i].0
                });
                let want = shapes.scan_reach(t, hop);
                assert!(want > 0 || list[t as usize].1 == [list[t as usize].0]);
                assert_eq!(kept.reaches[t as usize], want, "case {case} tree {t}");
                assert_eq!(lazy.reaches[t as usize], want, "case {case} tree {t}");
                assert_eq!(
                    kept.reach(t, [hop[0] + 1, hop[1]]),
                    shapes.scan_reach(t, [hop[0] + 1, hop[1]])
                );
            }
        }
    }

    /// Trees built from a bitmap of their routers ([`Shapes::ensure_bits`]) are those built
    /// from the sorted list, in any order of building, on meshes whose columns do and do not
    /// fill whole words of the bitmap.
    #[test]
    fn trees_from_bitmaps_equal_those_from_lists() {
        let mut rand = Rand(0x0b17_5eed_0000_0007);
        for case in 0..200 {
            let (w, h) = random_mesh(&mut rand, true);
            let h = if case % 4 == 0 { 64 * (1 + h % 2) } else { h };
            let (_, _, list) = both_listed(&mut rand, (w, h), 20, 40);
            let hop = [1 + rand.below(60), 1 + rand.below(60)];
            let mut from_list = Shapes::lazy((w, h), list.len(), 0).with_hop(hop);
            // With 16-bit rows, as the emulator builds them from bitmaps.
            let mut from_bits = Shapes::<u16>::lazy((w, h), list.len(), 0).with_hop(hop);
            let mut positions = Vec::new();
            let words = (w as usize * h as usize).div_ceil(64);
            let mut order: Vec<u32> = (0..list.len() as u32).collect();
            order.reverse();
            order.rotate_left(rand.below(list.len() as u64) as usize);
            for &t in &order {
                let (src, dests) = &list[t as usize];
                from_list.ensure(t, &mut positions, |_, out| {
                    out.clone_from(dests);
                    *src
                });
                let mut bits = vec![0u64; words];
                for &(x, y) in dests {
                    let b = (x * h + y) as usize;
                    bits[b / 64] |= 1 << (b % 64);
                }
                from_bits.ensure_bits(t, *src, &bits);
                // Built already: nothing changes.
                from_bits.ensure_bits(t, (0, 0), &[]);
            }
            let from_bits = from_bits.with_rows::<u32>();
            for t in 0..list.len() as u32 {
                let (a, b) = (from_list.cols(t), from_bits.cols(t));
                let cols = |s: &Shapes, (c0, c1): (usize, usize)| -> Vec<(u32, Vec<u32>, u32)> {
                    s.cols[c0..c1]
                        .iter()
                        .map(|c| {
                            let ys = s.rows(c.start..c.end);
                            (c.x, ys, c.mid - c.start)
                        })
                        .collect()
                };
                assert_eq!(
                    cols(&from_list, a),
                    cols(&from_bits, b),
                    "case {case} tree {t}"
                );
                assert_eq!(from_list.src[t as usize], from_bits.src[t as usize]);
                assert_eq!(from_list.reaches[t as usize], from_bits.reaches[t as usize]);
            }
        }
    }

    /// Every tree's shape has the materialised tree's nodes: walked side by side from the
    /// roots, the same children in each direction, the same ejections, routers numbered
    /// one-to-one, and as many routers in all.
    #[test]
    fn shapes_walk_like_the_materialised_trees() {
        let mut rand = Rand(0x7f4a_7c15_9e37_79b9);
        for case in 0..400 {
            let (w, h) = (1 + rand.below(12) as u32, 1 + rand.below(12) as u32);
            let (topo, shapes) = both(&mut rand, (w, h), 10, 30);
            assert_eq!(topo.routers, shapes.routers, "case {case}");
            let mut map = vec![NONE; topo.routers];
            for t in 0..topo.roots.len() as u32 {
                let mut stack = vec![(topo.root(t), shapes.root(t))];
                while let Some((a, b)) = stack.pop() {
                    let (va, vb) = (topo.view(a), shapes.view(b));
                    let r = &mut map[va.router as usize];
                    if *r == NONE {
                        *r = vb.router;
                    }
                    assert_eq!(*r, vb.router, "case {case} tree {t}");
                    assert_eq!(va.eject, vb.eject, "case {case} tree {t}");
                    for (ca, cb) in (0..4).map(|d| (va.child(d), vb.child(d))) {
                        match (ca, cb) {
                            (Some((na, _)), Some((nb, _))) => stack.push((na, nb)),
                            (None, None) => {}
                            _ => panic!("case {case} tree {t}: {va:?} {vb:?}"),
                        }
                    }
                }
            }
        }
    }

    /// Drains on shapes (pairwise contention-free check, then the walk and the simulation)
    /// equal the drains on the materialised trees, on small meshes (much contention) and
    /// big ones (little), with random link parameters.
    #[test]
    fn drains_on_shapes_match_the_materialised_trees() {
        let mut rand = Rand(0x1234_abcd_5678_ef01);
        let mut quick = (0, 0);
        for case in 0..400 {
            let big = case % 2 == 1;
            let (w, h) = random_mesh(&mut rand, big);
            let (topo, shapes) = both(&mut rand, (w, h), 12, if big { 12 } else { 5 });
            let p = NetParams {
                hop_cycles: rand.below(5),
                hop_y_cycles: rand.below(5),
                link_packets_per_cycle: 1 + rand.below(3) as u32,
                fifo_depth: 1 + rand.below(6) as u32,
            };
            let q = p.quick();
            let mut on_topo = NetSim::new(topo.routers);
            let mut on_shapes = NetSim::new(shapes.routers);
            // Also with 16-bit rows, as the emulator keeps them on such meshes.
            let shapes16 = shapes.with_rows::<u16>();
            let mut on_shapes16 = NetSim::new(shapes.routers);
            let n = topo.roots.len() as u64;
            for round in 0..6 {
                let batch = random_batch(&mut rand, big, n);
                let want = on_topo.drain(&topo, &batch, p);
                assert_eq!(
                    on_shapes.drain(&shapes, &batch, p),
                    want,
                    "case {case} round {round}"
                );
                assert_eq!(
                    on_shapes16.drain(&shapes16, &batch, p),
                    want,
                    "case {case} round {round}, 16-bit rows"
                );
                if !batch.is_empty() {
                    match shapes.quick(&batch, &q, &mut Vec::new()) {
                        Quick::Drain(d) => {
                            assert_eq!(d, want, "case {case} round {round}");
                            quick.0 += 1;
                        }
                        Quick::Contended(..) => {
                            // The walk over the materialised trees agrees.
                            let mut walk = NetSim::new(topo.routers);
                            assert_eq!(walk.ideal(&topo, &batch, p), None, "case {case}");
                            quick.1 += 1;
                        }
                        Quick::Unknown => {}
                    }
                }
            }
        }
        assert!(quick.0 > 200 && quick.1 > 5, "{quick:?}");
    }

    /// Contended drains on big meshes — a few packets with many destinations, one packet per
    /// link and cycle, deep FIFOs, so that the pairwise check finds collisions and the drain
    /// is simulated for the colliding packets only — equal the drains of the whole
    /// simulation on the materialised trees.
    #[test]
    fn split_drains_match_the_whole_simulation() {
        let mut rand = Rand(0x0ddb_a11c_afe0_1234);
        let (mut contended, mut partial, mut legs) = (0, 0, (0, 0));
        for case in 0..300 {
            let (w, h) = (3 + rand.below(10) as u32, 3 + rand.below(16) as u32);
            let (topo, shapes) = both(&mut rand, (w, h), 30, 40);
            let p = NetParams {
                hop_cycles: rand.below(4),
                hop_y_cycles: rand.below(4),
                link_packets_per_cycle: 1,
                fifo_depth: 8 + rand.below(9) as u32,
            };
            let q = p.quick();
            let mut on_topo = NetSim::new(topo.routers);
            let mut on_shapes = NetSim::new(shapes.routers);
            let n = topo.roots.len() as u64;
            for round in 0..8 {
                let batch: Vec<u32> = (0..2 + rand.below(7))
                    .map(|_| rand.below(n) as u32)
                    .collect();
                if matches!(
                    shapes.quick(&batch, &q, &mut Vec::new()),
                    Quick::Contended(..)
                ) {
                    contended += 1;
                }
                let want = on_topo.drain(&topo, &batch, p);
                assert_eq!(
                    on_shapes.drain(&shapes, &batch, p),
                    want,
                    "case {case} round {round}"
                );
            }
            partial += on_shapes.split_partial;
            legs.0 += on_shapes.legs_cut.0;
            legs.1 += on_shapes.legs_cut.1;
        }
        assert!(contended > 300 && partial > 100, "{contended} {partial}");
        // Simulations left legs out, and some legs were found to touch and simulated.
        assert!(legs.0 > 300 && legs.1 > 100, "{legs:?}");
    }

    /// Drains of more packets than a FIFO holds — a FIFO may fill, so the pairwise check and
    /// the split simulation apply only when [`Shapes::no_fill`] finds that none can, with the
    /// lateness measured — equal the whole simulation on the materialised trees.
    #[test]
    fn drains_beyond_the_fifo_depth_match_the_whole_simulation() {
        let mut rand = Rand(0x5eed_f1f0_dee9_0003);
        let (mut quick, mut split, mut fallbacks) = (0, 0, 0);
        for case in 0..300 {
            let (w, h) = (3 + rand.below(14) as u32, 3 + rand.below(16) as u32);
            let (topo, shapes) = both(&mut rand, (w, h), 40, 30);
            let p = NetParams {
                hop_cycles: rand.below(8),
                hop_y_cycles: rand.below(8),
                link_packets_per_cycle: 1 + u32::from(case % 5 == 0),
                fifo_depth: 1 + rand.below(4) as u32,
            };
            let q = p.quick();
            let mut on_topo = NetSim::new(topo.routers);
            let mut on_shapes = NetSim::new(shapes.routers);
            let n = topo.roots.len() as u64;
            for round in 0..8 {
                let batch: Vec<u32> = (0..u64::from(p.fifo_depth) + 1 + rand.below(12))
                    .map(|_| rand.below(n) as u32)
                    .collect();
                let want = on_topo.drain(&topo, &batch, p);
                match shapes.quick(&batch, &q, &mut Vec::new()) {
                    Quick::Drain(d) => {
                        assert_eq!(d, want, "case {case} round {round}");
                        quick += 1;
                    }
                    Quick::Contended(..) => split += 1,
                    Quick::Unknown => {}
                }
                assert_eq!(
                    on_shapes.drain(&shapes, &batch, p),
                    want,
                    "case {case} round {round}"
                );
            }
            fallbacks += on_shapes.fill_fallbacks;
        }
        eprintln!("quick {quick} split {split} fallbacks {fallbacks}");
        assert!(
            quick > 50 && split > 100 && fallbacks > 10,
            "{quick} {split} {fallbacks}"
        );
    }
}
