//! Error types of this crate. Every error names the file it is about.

use std::path::PathBuf;

/// Why a model file could not be read, checked or converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The file could not be opened, read, written, synced or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is corrupt or truncated: its bytes do not follow the format.
    #[error("{}: corrupt or truncated: {detail}", path.display())]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, and where (byte offset) when known.
        detail: String,
    },
    /// The file is well formed but holds something this converter does not handle
    /// (another model kind, a quantized dtype, a missing tensor, an unexpected shape).
    #[error("{}: unsupported: {detail}", path.display())]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// What is not supported.
        detail: String,
    },
}

impl ConvertError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ConvertError::Io { path: path.into(), source }
    }
    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        ConvertError::Corrupt { path: path.into(), detail: detail.into() }
    }
    pub(crate) fn unsupported(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        ConvertError::Unsupported { path: path.into(), detail: detail.into() }
    }
}

/// Why a pinned package could not be fetched, verified, unpacked or turned into a model.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file or folder could not be created, read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `pip download` could not be run or failed.
    #[error("pip download {package}: {detail}")]
    Pip {
        /// `name==version` of the package.
        package: String,
        /// What went wrong (exit status and the tail of pip's output).
        detail: String,
    },
    /// A downloaded or cached file does not have the pinned sha256.
    #[error("{}: sha256 mismatch: expected {expected}, got {actual}", path.display())]
    HashMismatch {
        /// The file whose hash is wrong.
        path: PathBuf,
        /// The pinned sha256.
        expected: String,
        /// The sha256 of the file's bytes.
        actual: String,
    },
    /// An archive is corrupt, of an unknown kind, or holds an unsafe entry
    /// (absolute path, `..`, link).
    #[error("{}: {detail}", path.display())]
    Archive {
        /// The archive concerned.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An HTTP download failed (official models, for users with internet).
    #[error("downloading {url}: {detail}")]
    Download {
        /// What was fetched.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A model name this crate has no pins for.
    #[error("unknown model {0:?} (offline: \"tiny.en\", \"base\", \"gemma3-270m\", \"smollm2-135m\"; `foreman models list` names those downloaded with internet)")]
    UnknownModel(String),
    /// An official model that has not been downloaded yet.
    #[error("model {0:?} is not downloaded yet: run `foreman models fetch {0}` (needs internet)")]
    NotFetched(String),
    /// The unpacked model could not be converted.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

impl PackageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageError::Io { path: path.into(), source }
    }
    pub(crate) fn archive(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        PackageError::Archive { path: path.into(), detail: detail.into() }
    }
}
