//! Routes of the chip's mesh as the chip format checks them: the one X-then-Y multicast rule
//! lives in `lifchip_target` ([`lifchip_target::xy_route`]); this adds the check that every
//! router is on the configuration's mesh.

use lifchip_target::{Link, Target};

use crate::ChipError;

/// The links of the X-then-Y multicast tree from the router at `src` to the routers at
/// `dests` (see [`lifchip_target::xy_route`]), or an error when a router is outside the
/// target's mesh.
pub fn xy_route(
    target: &Target,
    src: (u32, u32),
    dests: &[(u32, u32)],
) -> Result<Vec<Link>, ChipError> {
    let mesh = &target.mesh;
    if let Some(&(x, y)) = std::iter::once(&src)
        .chain(dests)
        .find(|&&at| !mesh.contains(at))
    {
        return Err(ChipError::invalid(
            None,
            "route",
            format!(
                "router ({x}, {y}) is outside the {}x{} mesh",
                mesh.width, mesh.height
            ),
        ));
    }
    Ok(lifchip_target::xy_route(src, dests.iter().copied()))
}
