//! Mesh geometry: dimension-order (X, then Y) multicast routes between routers. The one
//! routing rule of the chip, used by the compiler (link loads, routing-table entries), the chip
//! format and the emulator's network model.

use crate::Mesh;

/// A directed link between neighbouring routers of the mesh, from `from` to `to` (`(x, y)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    pub from: (u32, u32),
    pub to: (u32, u32),
}

impl Mesh {
    /// Whether router `(x, y)` is on the mesh.
    pub fn contains(&self, (x, y): (u32, u32)) -> bool {
        x < self.width && y < self.height
    }
}

/// Routers between `a` and `b` along the mesh (Manhattan distance).
pub fn hops(a: (u32, u32), b: (u32, u32)) -> u64 {
    u64::from(a.0.abs_diff(b.0) + a.1.abs_diff(b.1))
}

/// The links of the X-then-Y multicast tree that carries one spike packet from the router at
/// `src` to the routers at `dests`.
///
/// Each destination's path first moves along x until the column matches, then along y; the
/// tree is the union of these paths, so a link shared by several destinations appears (and is
/// traversed) once: the packet is replicated where paths part. Links come sorted by
/// `(from, to)`. A destination equal to `src` needs no link. Pure geometry: checking that the
/// routers lie on a mesh is the caller's job ([`Mesh::contains`]).
///
/// The union has a simple shape, built directly in time proportional to the destinations and
/// links (no per-hop set): the x leg runs along `src`'s row from `src` out to the westmost and
/// eastmost destination columns, and each destination column has a y leg from `src`'s row out
/// to its southmost and northmost destinations.
pub fn xy_route(src: (u32, u32), dests: impl IntoIterator<Item = (u32, u32)>) -> Vec<Link> {
    let mut links = Vec::new();
    for_each_xy_link(src, dests, |link| links.push(link));
    links.sort_unstable();
    links
}

/// The links of [`xy_route`]'s tree, each given to `f` once, in no particular order: for
/// callers that only count them (link loads), without collecting and sorting.
pub fn for_each_xy_link(
    src: (u32, u32),
    dests: impl IntoIterator<Item = (u32, u32)>,
    mut f: impl FnMut(Link),
) {
    // (column, lowest y, highest y) of the destinations, one entry per column.
    let mut cols: Vec<(u32, u32, u32)> = dests.into_iter().map(|(x, y)| (x, y, y)).collect();
    if cols.is_empty() {
        return;
    }
    cols.sort_unstable();
    cols.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 = kept.1.min(next.1);
            kept.2 = kept.2.max(next.2);
            true
        } else {
            false
        }
    });
    let (sx, sy) = src;
    let (west, east) = (cols[0].0, cols[cols.len() - 1].0);
    let mut link = |from: (u32, u32), to: (u32, u32)| f(Link { from, to });
    for x in sx..east {
        link((x, sy), (x + 1, sy));
    }
    for x in west.saturating_add(1)..=sx {
        link((x, sy), (x - 1, sy));
    }
    for &(x, lo, hi) in &cols {
        for y in sy..hi {
            link((x, y), (x, y + 1));
        }
        for y in lo.saturating_add(1)..=sy {
            link((x, y), (x, y - 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_tree_shares_its_common_links() {
        assert!(xy_route((1, 1), [(1, 1)]).is_empty());
        let link = |from, to| Link { from, to };
        assert_eq!(
            xy_route((0, 0), [(2, 1)]),
            vec![
                link((0, 0), (1, 0)),
                link((1, 0), (2, 0)),
                link((2, 0), (2, 1))
            ]
        );
        // Both destinations share the x leg and the first y link.
        assert_eq!(xy_route((0, 0), [(2, 1), (2, 2)]).len(), 4);
        assert_eq!(hops((0, 3), (2, 1)), 4);
    }

    /// The union of the per-destination X-then-Y paths, hop by hop (the definition).
    fn naive(src: (u32, u32), dests: &[(u32, u32)]) -> Vec<Link> {
        let mut links = BTreeSet::new();
        for &dst in dests {
            let mut at = src;
            while at.0 != dst.0 {
                let next = if dst.0 > at.0 {
                    (at.0 + 1, at.1)
                } else {
                    (at.0 - 1, at.1)
                };
                links.insert(Link { from: at, to: next });
                at = next;
            }
            while at.1 != dst.1 {
                let next = if dst.1 > at.1 {
                    (at.0, at.1 + 1)
                } else {
                    (at.0, at.1 - 1)
                };
                links.insert(Link { from: at, to: next });
                at = next;
            }
        }
        links.into_iter().collect()
    }

    #[test]
    fn the_direct_tree_is_the_union_of_the_paths() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(n)) as u32
        };
        for trial in 0..3000 {
            let size = 1 + next(if trial % 3 == 0 { 4 } else { 12 });
            let src = (next(size), next(size));
            let count = next(12);
            let dests: Vec<(u32, u32)> = (0..count).map(|_| (next(size), next(size))).collect();
            assert_eq!(
                xy_route(src, dests.clone()),
                naive(src, &dests),
                "{src:?} {dests:?}"
            );
        }
        assert!(xy_route((3, 3), []).is_empty());
        assert_eq!(xy_route((0, 0), [(0, 0), (0, 0)]), Vec::new());
    }
}
