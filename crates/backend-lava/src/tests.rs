use super::*;

#[test]
fn sign_modes_match_lava_clip_and_truncate() {
    // Lava: clip to the mode's range with 8 bits, then drop 8 - bits (+1 if mixed) low bits.
    assert!(SignMode::Excitatory.keeps(255, 8));
    assert!(!SignMode::Excitatory.keeps(256, 8));
    assert!(!SignMode::Excitatory.keeps(-1, 8));
    assert!(SignMode::Inhibitory.keeps(-255, 8));
    assert!(!SignMode::Inhibitory.keeps(-256, 8));
    assert!(SignMode::Mixed.keeps(-256, 8));
    assert!(!SignMode::Mixed.keeps(255, 8));
    assert!(SignMode::Mixed.keeps(254, 8));
    assert!(!SignMode::Mixed.keeps(3, 8));
    assert!(SignMode::Excitatory.keeps(128, 1));
    assert!(!SignMode::Excitatory.keeps(64, 1));
    assert!(SignMode::Mixed.keeps(-256, 1));
    assert!(!SignMode::Mixed.keeps(128, 1));
    assert_eq!(
        SignMode::fitting([0i64, 3, 255].into_iter(), 8),
        Some(SignMode::Excitatory)
    );
    assert_eq!(
        SignMode::fitting([0i64, -3].into_iter(), 8),
        Some(SignMode::Inhibitory)
    );
    assert_eq!(
        SignMode::fitting([-256i64, 0].into_iter(), 8),
        Some(SignMode::Mixed)
    );
    assert_eq!(SignMode::fitting([-3i64, 4].into_iter(), 8), None);
}
