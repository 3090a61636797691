//! The HTTP client that talks to identity providers: no redirects followed, a
//! timeout, and a cap on what it reads.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error(transparent)]
    Response(#[from] openidconnect::http::Error),
    #[error("the response is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("unexpected status {0}")]
    Status(reqwest::StatusCode),
    #[error("unreadable JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Clone)]
pub struct Http(reqwest::Client);

/// How the OAuth libraries send their requests through us.
impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

impl Http {
    pub fn new() -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("thinnest/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Http(client))
    }

    /// Sends a request built by the OAuth libraries.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = self.0.execute(reqwest::Request::try_from(request)?).await?;
        let mut built = openidconnect::http::Response::builder().status(response.status());
        if let Some(headers) = built.headers_mut() {
            headers.extend(
                response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        Ok(built.body(read_capped(response).await?)?)
    }

    /// GETs JSON from an API with a bearer token; any status but 200 is an error.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        bearer: &str,
        headers: &[(&str, &str)],
    ) -> Result<T, HttpError> {
        let mut request = self.0.get(url).bearer_auth(bearer);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(HttpError::Status(response.status()));
        }
        Ok(serde_json::from_slice(&read_capped(response).await?)?)
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
