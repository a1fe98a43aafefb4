//! Mesh geometry: dimension-order (X, then Y) multicast routes between routers. The one
//! routing rule of the chip, used by the compiler (link loads, routing-table entries), the chip
//! format and the emulator's network model.

use std::collections::BTreeSet;

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
pub fn xy_route(src: (u32, u32), dests: impl IntoIterator<Item = (u32, u32)>) -> Vec<Link> {
    let mut links = BTreeSet::new();
    for dst in dests {
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

#[cfg(test)]
mod tests {
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
}
