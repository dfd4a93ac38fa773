use thiserror::Error;

use crate::model::ModelError;
use crate::tokenize::TokenizeError;

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error("invalid encoder setting: {0}")]
    Config(String),
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
    #[error("trunk feature store {path}: {message}")]
    Store { path: String, message: String },
    #[error("backend {0} is not compiled into this build (enable the cargo feature of the same name)")]
    BackendUnavailable(String),
}
