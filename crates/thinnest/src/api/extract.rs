//! Extractors whose rejections use our error envelope instead of axum's plain text.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use serde::de::DeserializeOwned;

use crate::domain::ids::Id;
use crate::error::{Error, Result};

/// A JSON body. Unknown fields, wrong types and bad syntax become 4xx envelopes.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Self, Error> {
        let Json(value) = <Json<T> as FromRequest<S>>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// An optional JSON body: absent when the request has no `Content-Type`.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Option<Self>, Error> {
        let value = <Json<T> as OptionalFromRequest<S>>::from_request(req, state).await?;
        Ok(value.map(|Json(v)| ApiJson(v)))
    }
}

/// Query parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct ApiQuery<T>(pub T);

/// Path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct ApiPath<T>(pub T);

/// The object id in a path: text of another shape names nothing, so it is a 404
/// without a query, the same answer as for an id that names nothing here.
pub fn found<T: Id>(text: &str) -> Result<T> {
    T::parse(text).ok_or_else(|| Error::not_found(T::NOUN))
}
