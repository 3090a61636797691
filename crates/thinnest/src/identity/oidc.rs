//! OpenID Connect providers (Google, Auth0, Keycloak, …), found by discovery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::url::Url;
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use tokio::sync::Mutex;

use super::{FlowError, FlowSecrets, Http, ProviderIdentity};

/// How long discovered metadata and signing keys are used before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct Oidc {
    /// The configured issuer, and the same with or without a trailing slash: a
    /// discovery URL does not tell which one the provider uses.
    issuers: Vec<IssuerUrl>,
    client_id: ClientId,
    client_secret: ClientSecret,
    metadata: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

impl Oidc {
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> Oidc {
        let other = match issuer.strip_suffix('/') {
            Some(bare) => bare.to_owned(),
            None => format!("{issuer}/"),
        };
        Oidc {
            issuers: [issuer.to_owned(), other]
                .into_iter()
                .filter_map(|i| IssuerUrl::new(i).ok())
                .collect(),
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: ClientSecret::new(client_secret.to_owned()),
            metadata: Mutex::new(None),
        }
    }

    pub fn is_issuer(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i.as_str() == iss)
    }

    /// The provider's discovery document and keys, fetched at most every ten minutes.
    /// Discovery itself checks that the document names our configured issuer.
    async fn client(&self, http: &Http, redirect_uri: &str) -> Result<Client, FlowError> {
        let cached = self.metadata.lock().await.clone();
        let metadata = match cached {
            Some((at, metadata)) if at.elapsed() < METADATA_TTL => metadata,
            // Fetched without holding the lock, so a slow provider delays only the
            // requests that need it; concurrent fetches just overwrite each other.
            _ => {
                let metadata = Arc::new(self.discover(http).await?);
                *self.metadata.lock().await = Some((Instant::now(), metadata.clone()));
                metadata
            }
        };
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| FlowError::Provider(format!("redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            CoreProviderMetadata::clone(&metadata),
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(redirect))
    }

    /// Discovery checks that the document names the issuer it was fetched for.
    async fn discover(&self, http: &Http) -> Result<CoreProviderMetadata, FlowError> {
        let mut failure = String::from("no issuer");
        for issuer in &self.issuers {
            match CoreProviderMetadata::discover_async(issuer.clone(), http).await {
                Ok(metadata) => return Ok(metadata),
                Err(e) => failure = e.to_string(),
            }
        }
        Err(FlowError::Provider(format!("discovery: {failure}")))
    }

    pub async fn authorize_url(
        &self,
        http: &Http,
        redirect_uri: &str,
        flow: &FlowSecrets,
    ) -> Result<Url, FlowError> {
        let verifier = PkceCodeVerifier::new(flow.verifier.clone());
        let (state, nonce) = (flow.state.clone(), flow.nonce.clone());
        let (url, _, _) = self
            .client(http, redirect_uri)
            .await?
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        Ok(url)
    }

    pub async fn finish(
        &self,
        http: &Http,
        redirect_uri: &str,
        flow: &FlowSecrets,
        code: String,
    ) -> Result<ProviderIdentity, FlowError> {
        let client = self.client(http, redirect_uri).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| FlowError::Provider(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(http)
            .await
            .map_err(|e| FlowError::refused("token_exchange", e))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| FlowError::refused("no_id_token", "the token response has none"))?;
        // Signature (with the provider's published keys), issuer, audience, expiry, nonce.
        let claims =
            match id_token.claims(&client.id_token_verifier(), &Nonce::new(flow.nonce.clone())) {
                Ok(claims) => claims,
                Err(e) => {
                    // The provider may have rotated its keys: fetch them again next time.
                    *self.metadata.lock().await = None;
                    let reason = match e {
                        ClaimsVerificationError::Expired(_) => "id_token_expired",
                        ClaimsVerificationError::InvalidAudience(_) => "id_token_audience",
                        ClaimsVerificationError::InvalidIssuer(_) => "id_token_issuer",
                        ClaimsVerificationError::InvalidNonce(_) => "id_token_nonce",
                        ClaimsVerificationError::SignatureVerification(_) => "id_token_signature",
                        _ => "id_token_invalid",
                    };
                    return Err(FlowError::refused(reason, e));
                }
            };
        let verified_email = claims
            .email()
            .filter(|_| claims.email_verified() == Some(true))
            .map(|email| email.as_str().to_owned());
        Ok(ProviderIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            verified_email,
        })
    }
}
