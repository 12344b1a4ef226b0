//! Why a rule or an alert change was refused.

/// A rule field that is not allowed: the API answers 422 naming `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidRule {
    /// The body's field, dotted (`params.after_min`, `scope.geofence_ids`).
    pub field: String,
    pub message: String,
}

impl InvalidRule {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> InvalidRule {
        InvalidRule {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why acknowledging or resolving an alert by hand failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// No alert has this id.
    #[error("alert not found")]
    NotFound,
    /// The alert is already resolved, or (acknowledging) already acknowledged.
    #[error("alert is already {0}")]
    Already(&'static str),
    /// The database refused or the connection broke.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
}
