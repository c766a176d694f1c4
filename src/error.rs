//! One error type for the library; the binary maps it to an exit code.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    #[error("{0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A problem with what the user asked for (flags, formats, names): exit code 2.
    #[error("{0}")]
    Usage(String),

    /// A problem with an input file's content that stops the run: exit code 1.
    #[error("{path}:{line}: {message}")]
    Input {
        path: String,
        line: u64,
        message: String,
    },

    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// Exit code for the binary: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
