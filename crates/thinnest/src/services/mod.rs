//! Operations the API and the dashboard share, as plain functions over the store
//! and the integrations.

pub mod billing;
pub mod bootstrap;
pub mod mail;
pub mod webhooks;

use crate::domain::fields::Invalid;
use crate::error::Error;
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
