//! Dense tensors of weights and biases, and index lists, with their YAML/blob representations.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a tensor's values live in `weights.bin` (directory net format only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// Byte offset of the first value inside the blob payload.
    pub offset: u64,
    /// Number of 4-byte values.
    pub count: u64,
}

/// A row-major f32 tensor. A scalar has shape `[]` and one value.
///
/// In YAML a tensor is written as a number (scalar), a flat list (1-D), a list of rows (2-D), or
/// `{shape: [..], values: [..]}` for any rank.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub(crate) blob: Option<BlobRef>,
}

/// A list of indices (u32), e.g. the pre/post sides of a sparse synapse list.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Indices {
    pub data: Vec<u32>,
    pub(crate) blob: Option<BlobRef>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            shape,
            data,
            blob: None,
        }
    }

    pub fn scalar(value: f32) -> Self {
        Tensor::new(Vec::new(), vec![value])
    }

    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor::new(shape, vec![0.0; n])
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values for `n` elements: a scalar is repeated, anything else must hold exactly `n`.
    pub fn broadcast(&self, n: usize) -> Option<Vec<f32>> {
        if self.shape.is_empty() && self.data.len() == 1 {
            Some(vec![self.data[0]; n])
        } else if self.data.len() == n {
            Some(self.data.clone())
        } else {
            None
        }
    }

    /// True when every value is a whole number (chip-unit tensors must be).
    pub fn is_integral(&self) -> bool {
        self.data.iter().all(|v| v.is_finite() && v.fract() == 0.0)
    }
}

impl Indices {
    pub fn new(data: Vec<u32>) -> Self {
        Indices { data, blob: None }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TensorRepr {
    Scalar(f32),
    Flat(Vec<f32>),
    Rows(Vec<Vec<f32>>),
    Shaped(ShapedRepr),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapedRepr {
    shape: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<BlobRef>,
}

impl Serialize for Tensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr = match self.blob {
            Some(blob) => ShapedRepr {
                shape: self.shape.clone(),
                values: None,
                blob: Some(blob),
            },
            None => ShapedRepr {
                shape: self.shape.clone(),
                values: Some(self.data.clone()),
                blob: None,
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Tensor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let repr = TensorRepr::deserialize(d).map_err(|e| {
            untagged_message(
                e,
                "expected a number, a list of numbers, a list of rows of numbers, or {shape: [..], values: [..]}",
            )
        })?;
        match repr {
            TensorRepr::Scalar(v) => Ok(Tensor::scalar(v)),
            TensorRepr::Flat(v) => Ok(Tensor::new(vec![v.len()], v)),
            TensorRepr::Rows(rows) => {
                let cols = rows.first().map_or(0, Vec::len);
                if rows.iter().any(|r| r.len() != cols) {
                    return Err(D::Error::custom(
                        "tensor rows have different lengths; every row must have the same number of values",
                    ));
                }
                let shape = vec![rows.len(), cols];
                Ok(Tensor::new(shape, rows.into_iter().flatten().collect()))
            }
            TensorRepr::Shaped(ShapedRepr {
                shape,
                values,
                blob,
            }) => {
                let Some(expected) = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
                    return Err(D::Error::custom(format!(
                        "tensor of shape {shape:?}: the number of values overflows"
                    )));
                };
                match (values, blob) {
                    (Some(values), None) => {
                        if values.len() != expected {
                            return Err(D::Error::custom(format!(
                                "tensor of shape {shape:?} needs {expected} values, got {}",
                                values.len()
                            )));
                        }
                        Ok(Tensor::new(shape, values))
                    }
                    (None, Some(blob)) => {
                        if blob.count != expected as u64 {
                            return Err(D::Error::custom(format!(
                                "tensor of shape {shape:?} needs {expected} values, blob holds {}",
                                blob.count
                            )));
                        }
                        Ok(Tensor {
                            shape,
                            data: Vec::new(),
                            blob: Some(blob),
                        })
                    }
                    _ => Err(D::Error::custom(
                        "a shaped tensor needs exactly one of `values` or `blob`",
                    )),
                }
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum IndicesRepr {
    Flat(Vec<u32>),
    Blob { blob: BlobRef },
}

impl Serialize for Indices {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.blob {
            Some(blob) => IndicesRepr::Blob { blob }.serialize(s),
            None => self.data.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Indices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = IndicesRepr::deserialize(d).map_err(|e| {
            untagged_message(
                e,
                "expected a list of indices (integers from 0 to 4294967295) or {blob: {offset, count}}",
            )
        })?;
        Ok(match repr {
            IndicesRepr::Flat(data) => Indices::new(data),
            IndicesRepr::Blob { blob } => Indices {
                data: Vec::new(),
                blob: Some(blob),
            },
        })
    }
}

/// serde's "data did not match any variant of untagged enum X" names a private type and not
/// what the field takes: say that instead. Other errors (syntax, limits) pass unchanged.
fn untagged_message<E: serde::de::Error>(e: E, expected: &str) -> E {
    let text = e.to_string();
    if text.starts_with("data did not match any variant of untagged enum") {
        E::custom(expected)
    } else {
        e
    }
}
