//! Dimension-order (X, then Y) multicast routing: part of the chip's "ISA", shared by the
//! emulator's network model and the compiler's link-load reports.

use std::collections::BTreeSet;

use lifchip_target::Target;

use crate::ChipError;

/// A directed link between neighbouring routers of the mesh, from `from` to `to` (`(x, y)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    pub from: (u32, u32),
    pub to: (u32, u32),
}

/// The links of the X-then-Y multicast tree that carries one spike packet from the router at
/// `src` to the routers at `dests`.
///
/// Each destination's path first moves along x until the column matches, then along y; the
/// tree is the union of these paths, so a link shared by several destinations appears (and is
/// traversed) once: the packet is replicated where paths part. Links come sorted by
/// `(from, to)`. A destination equal to `src` needs no link. Every coordinate must lie in the
/// target's mesh.
pub fn xy_route(
    target: &Target,
    src: (u32, u32),
    dests: &[(u32, u32)],
) -> Result<Vec<Link>, ChipError> {
    let (w, h) = (target.mesh.width, target.mesh.height);
    for &(x, y) in std::iter::once(&src).chain(dests) {
        if x >= w || y >= h {
            return Err(ChipError::invalid(
                None,
                "route",
                format!("router ({x}, {y}) is outside the {w}x{h} mesh"),
            ));
        }
    }
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
    Ok(links.into_iter().collect())
}
