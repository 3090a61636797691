//! Operations the API and the dashboard share, as plain functions over the store
//! and the integrations.

pub mod agents;
pub mod billing;
pub mod bootstrap;
pub mod conversations;
pub mod embed;
pub mod knowledge;
pub mod mail;
pub mod webhooks;

use crate::domain::fields::Invalid;
use crate::domain::ids::Id;
use crate::error::{Error, Result};
use crate::store::StoreError;

/// Failed field checks answer 422 with the problems per field.
impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Error {
        Error::Invalid {
            message: invalid.message,
            fields: invalid.fields,
        }
    }
}

/// The store's failures are ours: 500, with the cause in the log only.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        Error::Internal(e.into())
    }
}

/// The object id in a path or a form: text of another shape names nothing, so it is a 404
/// without a query, the same answer as for an id that names nothing here.
pub fn found<T: Id>(text: &str) -> Result<T> {
    T::parse(text).ok_or_else(|| Error::not_found(T::NOUN))
}
