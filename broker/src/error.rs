//! The broker's error type.

use pulsar::proto::ServerError;

/// Everything that can go wrong inside the broker library.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A disk operation failed.
    #[error("storage I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A frame broke the wire protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A frame was larger than the advertised maximum.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Declared frame size.
        size: usize,
        /// The broker's limit.
        limit: usize,
    },
    /// The CRC32C of a payload did not match.
    #[error("payload checksum mismatch")]
    Checksum,
    /// A topic name could not be parsed.
    #[error("invalid topic name {0:?}")]
    InvalidTopic(String),
    /// The topic does not exist and auto-creation is off.
    #[error("topic {0} not found")]
    TopicNotFound(String),
    /// The subscription does not exist.
    #[error("subscription {0} not found")]
    SubscriptionNotFound(String),
    /// An exclusive subscription already has a consumer, or similar.
    #[error("consumer busy: {0}")]
    ConsumerBusy(String),
    /// A Key_Shared consumer's hash ranges are invalid or taken.
    #[error("consumer assign error: {0}")]
    ConsumerAssign(String),
    /// An exclusive producer is already connected.
    #[error("producer busy: {0}")]
    ProducerBusy(String),
    /// Credentials were missing or wrong.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// A request referred to an unknown producer or consumer id.
    #[error("{0}")]
    NotFound(String),
    /// A schema conflicts with the registered one.
    #[error("incompatible schema: {0}")]
    IncompatibleSchema(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The socket failed.
    #[error("connection I/O: {0}")]
    Socket(#[from] std::io::Error),
    /// The broker is shutting down or the topic is closed.
    #[error("service not ready: {0}")]
    NotReady(String),
}

impl BrokerError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        BrokerError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// The Pulsar error code clients understand for this error.
    pub fn server_error(&self) -> ServerError {
        match self {
            BrokerError::Socket(_) => ServerError::UnknownError,
            BrokerError::Io { .. } | BrokerError::Corrupt(_) => ServerError::PersistenceError,
            BrokerError::Protocol(_) | BrokerError::FrameTooLarge { .. } => {
                ServerError::UnknownError
            }
            BrokerError::Checksum => ServerError::ChecksumError,
            BrokerError::InvalidTopic(_) => ServerError::InvalidTopicName,
            BrokerError::TopicNotFound(_) => ServerError::TopicNotFound,
            BrokerError::SubscriptionNotFound(_) => ServerError::SubscriptionNotFound,
            BrokerError::ConsumerBusy(_) => ServerError::ConsumerBusy,
            BrokerError::ConsumerAssign(_) => ServerError::ConsumerAssignError,
            BrokerError::ProducerBusy(_) => ServerError::ProducerBusy,
            BrokerError::Authentication(_) => ServerError::AuthenticationError,
            BrokerError::NotFound(_) => ServerError::ConsumerNotFound,
            BrokerError::IncompatibleSchema(_) => ServerError::IncompatibleSchema,
            BrokerError::NotReady(_) => ServerError::ServiceNotReady,
        }
    }
}

/// Result alias for the broker library.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
