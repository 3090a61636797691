//! GitHub: OAuth 2 (no OpenID Connect), so who the user is comes from its REST API:
//! the numeric user id is the subject, and the address is the primary verified one.

use oauth2::basic::BasicClient;
use oauth2::url::Url;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::{FlowError, FlowSecrets, Http, ProviderIdentity};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct GitHub {
    /// Identities are keyed by this and the user id: the authorization server's origin.
    issuer: String,
    client_id: ClientId,
    client_secret: ClientSecret,
    authorize: AuthUrl,
    token: TokenUrl,
    api: String,
}

#[derive(Deserialize)]
struct User {
    id: u64,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

impl GitHub {
    pub fn new(
        client_id: &str,
        client_secret: &str,
        authorize: Url,
        token: Url,
        api: Url,
    ) -> GitHub {
        GitHub {
            issuer: authorize.origin().ascii_serialization(),
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: ClientSecret::new(client_secret.to_owned()),
            authorize: AuthUrl::from_url(authorize),
            token: TokenUrl::from_url(token),
            api: api.as_str().trim_end_matches('/').to_owned(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn client(&self, redirect_uri: &str) -> Result<Client, FlowError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| FlowError::Provider(format!("redirect URI: {e}")))?;
        Ok(BasicClient::new(self.client_id.clone())
            .set_client_secret(self.client_secret.clone())
            .set_auth_uri(self.authorize.clone())
            .set_token_uri(self.token.clone())
            .set_redirect_uri(redirect))
    }

    pub fn authorize_url(&self, redirect_uri: &str, flow: &FlowSecrets) -> Result<Url, FlowError> {
        let verifier = PkceCodeVerifier::new(flow.verifier.clone());
        let (url, _) = self
            .client(redirect_uri)?
            .authorize_url(|| CsrfToken::new(flow.state.clone()))
            .add_scope(Scope::new("read:user".to_owned()))
            .add_scope(Scope::new("user:email".to_owned()))
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
        let response = self
            .client(redirect_uri)?
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(http)
            .await
            .map_err(|e| FlowError::refused("token_exchange", e))?;
        let token = response.access_token().secret();
        let headers = [
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
        ];
        let api = |what: &str| format!("{}/{what}", self.api);
        let user: User = http
            .get_json(&api("user"), token, &headers)
            .await
            .map_err(|e| FlowError::Provider(format!("GET /user: {e}")))?;
        let emails: Vec<Email> = http
            .get_json(&api("user/emails"), token, &headers)
            .await
            .map_err(|e| FlowError::Provider(format!("GET /user/emails: {e}")))?;
        let verified_email = emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .map(|e| e.email);
        Ok(ProviderIdentity {
            issuer: self.issuer.clone(),
            subject: user.id.to_string(),
            verified_email,
        })
    }
}
