//! [`PerNeuron`]: an integer parameter of a chip-unit population, one value for all neurons or
//! a list with one value per neuron.

use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, SeqAccess, Visitor},
};

/// An integer parameter of a `chip_lif` population. In YAML either a number (every neuron) or a
/// flat list of numbers, one per neuron in the population's row-major order. Integers are
/// stored exactly (no float round trip), so a 32-bit threshold keeps every bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerNeuron<T> {
    /// One value for every neuron.
    All(T),
    /// One value per neuron; the net's validation checks the length.
    Each(Vec<T>),
}

impl<T: Copy> PerNeuron<T> {
    /// The value of neuron `n`: the scalar for any `n`, else the list's entry (`None` past its
    /// end).
    pub fn get(&self, n: usize) -> Option<T> {
        match self {
            PerNeuron::All(v) => Some(*v),
            PerNeuron::Each(list) => list.get(n).copied(),
        }
    }

    /// The value of neuron `n`, or `fallback` past the end of a list.
    pub fn at(&self, n: usize, fallback: T) -> T {
        self.get(n).unwrap_or(fallback)
    }

    /// Whether this parameter has a value for each of `n` neurons (a scalar, or exactly `n`
    /// values).
    pub fn fits(&self, n: usize) -> bool {
        match self {
            PerNeuron::All(_) => true,
            PerNeuron::Each(list) => list.len() == n,
        }
    }

    /// Number of values written (1 for a scalar).
    pub fn len(&self) -> usize {
        match self {
            PerNeuron::All(_) => 1,
            PerNeuron::Each(list) => list.len(),
        }
    }

    /// Never true for a scalar; true for an empty list.
    pub fn is_empty(&self) -> bool {
        matches!(self, PerNeuron::Each(list) if list.is_empty())
    }

    /// The written values with their neuron index (`None` for a scalar, which applies to all).
    pub fn entries(&self) -> Box<dyn Iterator<Item = (Option<usize>, T)> + '_> {
        match self {
            PerNeuron::All(v) => Box::new(std::iter::once((None, *v))),
            PerNeuron::Each(list) => Box::new(list.iter().enumerate().map(|(i, &v)| (Some(i), v))),
        }
    }

    /// The same parameter with every value mapped by `f`.
    pub fn map<U>(&self, f: impl Fn(T) -> U) -> PerNeuron<U> {
        match self {
            PerNeuron::All(v) => PerNeuron::All(f(*v)),
            PerNeuron::Each(list) => PerNeuron::Each(list.iter().map(|&v| f(v)).collect()),
        }
    }
}

impl<T: Copy + PartialEq> PerNeuron<T> {
    /// True when the parameter is the scalar `v` (what `skip_serializing_if` tests).
    pub fn is_all(&self, v: T) -> bool {
        matches!(self, PerNeuron::All(x) if *x == v)
    }
}

impl<T: Default> Default for PerNeuron<T> {
    fn default() -> Self {
        PerNeuron::All(T::default())
    }
}

impl<T> From<T> for PerNeuron<T> {
    fn from(v: T) -> Self {
        PerNeuron::All(v)
    }
}

impl<T> From<Vec<T>> for PerNeuron<T> {
    fn from(v: Vec<T>) -> Self {
        PerNeuron::Each(v)
    }
}

impl<T: Serialize> Serialize for PerNeuron<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PerNeuron::All(v) => v.serialize(s),
            PerNeuron::Each(list) => list.serialize(s),
        }
    }
}

/// The integer types a [`PerNeuron`] holds.
pub trait PerNeuronInt: Copy + TryFrom<i64> + TryFrom<u64> {
    /// The type's range, for messages.
    const RANGE: &'static str;
}

impl PerNeuronInt for u32 {
    const RANGE: &'static str = "0..=4294967295";
}

impl PerNeuronInt for i64 {
    const RANGE: &'static str = "-9223372036854775808..=9223372036854775807";
}

const EXPECTING: &str = "an integer, or a list of integers with one per neuron";

fn from_i64<T: PerNeuronInt, E: de::Error>(v: i64) -> Result<T, E> {
    T::try_from(v).map_err(|_| E::custom(format!("{v} is outside {}", T::RANGE)))
}

fn from_u64<T: PerNeuronInt, E: de::Error>(v: u64) -> Result<T, E> {
    T::try_from(v).map_err(|_| E::custom(format!("{v} is outside {}", T::RANGE)))
}

/// A whole-valued float (`100.0`) is taken as its integer; anything else is refused.
fn from_f64<T: PerNeuronInt, E: de::Error>(v: f64) -> Result<T, E> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e18 {
        from_i64(v as i64)
    } else {
        Err(E::custom(format!(
            "{v} is not an integer (chip-unit parameters are integers)"
        )))
    }
}

struct Element<T>(T);

impl<'de, T: PerNeuronInt> Deserialize<'de> for Element<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: PerNeuronInt> Visitor<'_> for V<T> {
            type Value = Element<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                from_i64(v).map(Element)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                from_u64(v).map(Element)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                from_f64(v).map(Element)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de, T: PerNeuronInt> Deserialize<'de> for PerNeuron<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: PerNeuronInt> Visitor<'de> for V<T> {
            type Value = PerNeuron<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTING)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                from_i64(v).map(PerNeuron::All)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                from_u64(v).map(PerNeuron::All)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                from_f64(v).map(PerNeuron::All)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // The list was parsed already; its length is bounded by the file's size.
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(Element(v)) = seq.next_element::<Element<T>>()? {
                    out.push(v);
                }
                Ok(PerNeuron::Each(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Holder {
        t: PerNeuron<i64>,
        d: PerNeuron<u32>,
    }

    #[test]
    fn scalar_and_list_round_trip() {
        let h: Holder = serde_yaml::from_str("t: 5\nd: [1, 2, 3]\n").unwrap();
        assert_eq!(h.t, PerNeuron::All(5));
        assert_eq!(h.d, PerNeuron::Each(vec![1, 2, 3]));
        assert_eq!(h.d.get(2), Some(3));
        assert_eq!(h.d.get(3), None);
        assert_eq!(h.t.get(1000), Some(5));
        let text = serde_yaml::to_string(&h).unwrap();
        assert_eq!(serde_yaml::from_str::<Holder>(&text).unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"{"t":5,"d":[1,2,3]}"#);
    }

    #[test]
    fn large_integers_stay_exact() {
        // 2^24 + 1 is not a float32; it must survive.
        let h: Holder = serde_yaml::from_str("t: [16777217, -16777217]\nd: 4294967295\n").unwrap();
        assert_eq!(h.t, PerNeuron::Each(vec![16_777_217, -16_777_217]));
        assert_eq!(h.d, PerNeuron::All(u32::MAX));
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let e = serde_yaml::from_str::<Holder>("t: 1\nd: -1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("-1 is outside 0..=4294967295"), "{e}");
        let e = serde_yaml::from_str::<Holder>("t: 1\nd: [1, 2.5]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2.5 is not an integer"), "{e}");
        let e = serde_yaml::from_str::<Holder>("t: 1\nd: [1, [2]]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected an integer"), "{e}");
        let e = serde_yaml::from_str::<Holder>("t: abc\nd: 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("one per neuron"), "{e}");
        // Whole-valued floats are integers.
        let h: Holder = serde_yaml::from_str("t: 100.0\nd: [2.0]\n").unwrap();
        assert_eq!((h.t, h.d), (PerNeuron::All(100), PerNeuron::Each(vec![2])));
    }

    #[test]
    fn fits_and_entries() {
        let p = PerNeuron::Each(vec![7u32, 8]);
        assert!(p.fits(2) && !p.fits(3));
        assert!(PerNeuron::All(1u32).fits(123));
        assert_eq!(
            p.entries().collect::<Vec<_>>(),
            vec![(Some(0), 7), (Some(1), 8)]
        );
        assert_eq!(
            PerNeuron::All(3u32).entries().collect::<Vec<_>>(),
            vec![(None, 3)]
        );
        assert_eq!(p.map(i64::from), PerNeuron::Each(vec![7i64, 8]));
        assert!(PerNeuron::All(0u32).is_all(0) && !p.is_all(0));
    }

    const NET: &str = r#"
name: per-neuron
populations:
  - {name: in, shape: [2], neuron: {kind: input}}
  - name: hid
    shape: [3]
    neuron:
      kind: chip_lif
      current_decay: [1, 2, 3]
      current_decay_2: 4
      voltage_decay: [0, 15, 7]
      threshold: [10, 20, 16777217]
      refractory: [0, 1, 2]
projections:
  - {name: w, from: in, to: hid, ops: [{kind: dense, weights: [[1, 2], [3, 4], [5, 6]]}]}
"#;

    #[test]
    fn chip_lif_takes_lists_and_round_trips() {
        let net = crate::from_yaml_str(NET).unwrap();
        let crate::Neuron::ChipLif(c) = &net.populations[1].neuron else {
            panic!("chip_lif expected");
        };
        assert_eq!(c.threshold.get(2), Some(16_777_217));
        assert_eq!(c.voltage_decay, PerNeuron::Each(vec![0, 15, 7]));
        assert_eq!(c.current_decay_2, PerNeuron::All(4));
        let text = crate::to_yaml_string(&net).unwrap();
        assert_eq!(crate::from_yaml_str(&text).unwrap(), net);
        // A scalar second decay of 0 is left out, as before per-neuron lists.
        let zero = NET.replace("current_decay_2: 4", "current_decay_2: 0");
        let text = crate::to_yaml_string(&crate::from_yaml_str(&zero).unwrap()).unwrap();
        assert!(!text.contains("current_decay_2"), "{text}");
    }

    #[test]
    fn chip_lif_list_lengths_are_checked_per_field() {
        let bad = NET
            .replace("threshold: [10, 20, 16777217]", "threshold: [10, 20]")
            .replace("refractory: [0, 1, 2]", "refractory: [0, 1, 2, 3]");
        let e = crate::from_yaml_str(&bad).unwrap_err().to_string();
        assert!(
            e.contains("populations[1] (hid): chip_lif threshold has 2 values, expected one integer or a list of 3 (one per neuron)"),
            "{e}"
        );
        assert!(
            e.contains("chip_lif refractory has 4 values, expected one integer or a list of 3"),
            "{e}"
        );
        assert!(!e.contains("voltage_decay"), "{e}");
        let empty = NET.replace("voltage_decay: [0, 15, 7]", "voltage_decay: []");
        let e = crate::from_yaml_str(&empty).unwrap_err().to_string();
        assert!(e.contains("chip_lif voltage_decay has 0 values"), "{e}");
    }
}
