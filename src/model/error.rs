use thiserror::Error;

/// Everything that can go wrong while reading a checkpoint. Each variant names the file and,
/// where it applies, the tensor, so a user knows which download to repeat.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not an E5S1 model file (magic bytes {found:?}, expected \"E5S1\")")]
    BadMagic { file: String, found: [u8; 4] },
    #[error("{file}: truncated while reading {what}: needs {needed} bytes at offset {offset}, file has {len}")]
    Truncated { file: String, what: String, offset: u64, needed: u64, len: u64 },
    #[error("{file}: invalid header field {field} = {value} ({expected})")]
    BadHeader { file: String, field: &'static str, value: String, expected: String },
    #[error("{file}: tensor {name} is missing")]
    MissingTensor { file: String, name: String },
    #[error("{file}: tensor {name} has shape {found:?}, expected {expected:?} (a transposed or foreign export?)")]
    TensorShape { file: String, name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{file}: tensor {name} has {found} elements, expected {expected} (shape {shape:?})")]
    TensorSize { file: String, name: String, expected: usize, found: usize, shape: Vec<usize> },
    #[error("{file}: tensor {name} has byte length {byte_len} for {count} elements: neither f32 ({f32_len} B) nor Q4_0 ({q4_len} B)")]
    TensorDtype { file: String, name: String, count: usize, byte_len: u64, f32_len: u64, q4_len: u64 },
    #[error("{file}: tensor {name} lies at bytes {start}..{end}, beyond the end of the file ({len} B): the file is truncated")]
    TensorOutOfBounds { file: String, name: String, start: u64, end: u64, len: u64 },
    #[error("{file}: tensor {name} contains a non-finite value at element {index}")]
    NonFinite { file: String, name: String, index: usize },
    #[error("{file}: {message}")]
    Format { file: String, message: String },
}
