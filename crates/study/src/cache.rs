//! What a sweep keeps between runs, and the keys that decide whether it is still valid: every
//! finished point (`points/NNNN.json`), the trained net (`net.json`), each fine-tuned net
//! (`qat/KEY.json`) and the float reference (`reference.json`) carry the fingerprint of
//! everything they depend on and are reused only while it matches.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The fingerprint of a composite key (see [`lifchip_files::Fingerprint`]): the values of
/// existing sweep results depend on it, so it must not change.
pub fn key(parts: &[&str]) -> String {
    let mut h = lifchip_files::Fingerprint::new();
    for part in parts {
        h.part(part);
    }
    h.hex()
}

/// A JSON file written by an earlier run, if it is there and parses.
pub fn read<T: DeserializeOwned>(path: &Path) -> Option<T> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// `DIR/points/NNNN.json`.
pub fn point_file(out: &Path, index: usize) -> PathBuf {
    out.join("points").join(format!("{index:04}.json"))
}

/// The float net on the same images (`DIR/reference.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Reference {
    pub key: String,
    pub rate_accuracy: Option<f64>,
    pub spiking_accuracy: Option<f64>,
    pub spiking_predictions: Vec<usize>,
    pub note: Option<String>,
}

/// What `DIR/net.json` records about the trained net.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainedNet {
    pub fingerprint: String,
    pub config: String,
    pub seconds: f64,
    pub rate_test_accuracy: Option<f64>,
}

/// What `DIR/qat/KEY.json` records about a fine-tuned net.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QatStamp {
    pub key: String,
    pub weight_format: String,
    pub seconds: f64,
    pub epochs: usize,
    pub train_images: usize,
}

/// Removes temporary files an interrupted run may have left (names only the sweep and its
/// atomic writers use).
pub fn remove_leftovers(out: &Path) {
    for sub in ["", "points", "plots", "chips", "data", "qat"] {
        let dir = out.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with(".tmp")
                || name.starts_with(".pooled-")
                || (sub == "plots" && name.starts_with('.') && name.ends_with(".png"))
                || (sub == "chips" && name.starts_with('.') && name.contains(".chip.tmp-"))
                || (sub == "data"
                    && name.starts_with('.')
                    && (name.contains(".tmp-") || name.contains(".old-")))
                || ((sub.is_empty() || sub == "qat")
                    && (name.starts_with(".lifchip-net-") || name.starts_with(".lifchip-old-")));
            if ours {
                let p = entry.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        // Existing sweep results hold keys made this way: these values must not change.
        assert_eq!(key(&[]), "cbf29ce484222325");
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(
            key(&["lifchip-sweep-qat-base-1", "x"]),
            key(&["lifchip-sweep-qat-base-1", "x"])
        );
    }

    #[test]
    fn leftovers_of_interrupted_runs_are_removed_and_results_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for sub in ["points", "data", "chips"] {
            std::fs::create_dir_all(out.join(sub)).unwrap();
        }
        std::fs::create_dir_all(out.join("data/.mnist-14x14.tmp-abc")).unwrap();
        std::fs::create_dir_all(out.join("data/mnist-14x14")).unwrap();
        std::fs::write(out.join("points/.tmpXYZ"), b"x").unwrap();
        std::fs::write(out.join("points/0000.json"), b"{}").unwrap();
        remove_leftovers(out);
        assert!(!out.join("data/.mnist-14x14.tmp-abc").exists());
        assert!(out.join("data/mnist-14x14").is_dir());
        assert!(!out.join("points/.tmpXYZ").exists());
        assert!(out.join("points/0000.json").is_file());
    }
}
