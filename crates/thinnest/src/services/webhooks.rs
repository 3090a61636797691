//! Webhook operations the API and the dashboard share: the account's signing
//! secrets, and changes to its endpoints.

use crate::domain::actors::Actor;
use crate::domain::deliveries::Delivery;
use crate::domain::events::{Event, TestData};
use crate::domain::fields::Check;
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::webhooks::SealedSecrets;
use crate::domain::webhooks::{
    CreateEndpoint, Endpoint, EndpointDescription, MAX_GRACE_SECONDS, SigningSecretBody,
    UpdateEndpoint, check_events,
};
use crate::error::{Error, Result};
use crate::secrets::signing::SigningSecret;
use crate::services::found;
use crate::state::AppState;
use crate::store::deliveries::Redelivery;
use crate::store::webhooks::{EndpointChanges, EndpointFields};
use crate::webhooks::target::check_url;

/// The secrets that sign and verify for an account right now.
#[derive(Debug)]
pub struct SigningSecrets {
    pub current: SigningSecret,
    /// The rotated-out secret, while its grace period lasts, and when it ends.
    pub previous: Option<(SigningSecret, i64)>,
    /// The current secret as stored, to rotate from.
    pub current_sealed: String,
}

fn context(account_id: &str) -> String {
    format!("webhook-signing-secret:{account_id}")
}

fn open(state: &AppState, account_id: &str, sealed: &str) -> anyhow::Result<SigningSecret> {
    let bytes = state.sealer.open(sealed, &context(account_id))?;
    Ok(SigningSecret::from_stored(String::from_utf8(bytes)?))
}

/// The account's secrets, creating the first one when the account has none yet.
pub async fn signing_secrets(state: &AppState, account_id: &str) -> anyhow::Result<SigningSecrets> {
    let row = match state.store.webhook_secrets(account_id).await? {
        Some(row) => row,
        None => {
            let (_, sealed) = seal_new(state, account_id)?;
            state
                .store
                .insert_webhook_secret(account_id, &sealed)
                .await?;
            // Another request may have stored one first: read back whichever won.
            state
                .store
                .webhook_secrets(account_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the signing secret vanished"))?
        }
    };
    let SealedSecrets {
        current_sealed,
        previous_sealed,
        previous_expires_at,
    } = row;
    let previous = match (previous_sealed, previous_expires_at) {
        (Some(sealed), Some(until)) if until > now_ms() => {
            Some((open(state, account_id, &sealed)?, until))
        }
        _ => None,
    };
    Ok(SigningSecrets {
        current: open(state, account_id, &current_sealed)?,
        previous,
        current_sealed,
    })
}

/// A new secret for the account, and its sealed form to store.
pub fn seal_new(state: &AppState, account_id: &str) -> anyhow::Result<(SigningSecret, String)> {
    let secret = SigningSecret::generate()?;
    let sealed = state
        .sealer
        .seal(secret.expose().as_bytes(), &context(account_id))?;
    Ok((secret, sealed))
}

/// Replaces the account's signing secret; the previous one counts for `grace` seconds.
pub async fn rotate(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    grace: u64,
) -> Result<SigningSecretBody> {
    let mut check = Check::new();
    if grace > MAX_GRACE_SECONDS {
        check.fail("grace_seconds", "must be between 0 and 604800");
    }
    check.finish()?;
    let current = signing_secrets(state, account_id).await?;
    let (secret, sealed) = seal_new(state, account_id)?;
    let until = now_ms() + i64::try_from(grace * 1000).unwrap_or(i64::MAX);
    let rotated = state
        .store
        .rotate_webhook_secret(account_id, &current.current_sealed, &sealed, until, actor)
        .await?;
    if !rotated {
        return Err(Error::Conflict(
            "The signing secret was rotated by another request at the same moment; read it again."
                .to_owned(),
        ));
    }
    Ok(SigningSecretBody {
        secret: secret.expose().to_owned(),
        previous_expires_at: Some(rfc3339(until)),
    })
}

/// Checks an endpoint's fields; returns the URL and the events as stored.
fn check_fields(
    state: &AppState,
    check: &mut Check,
    url: &str,
    events: &[String],
    description: &str,
) -> (String, String) {
    let url = check_target(state, check, url);
    let events = check_events(check, events);
    check.field::<EndpointDescription>("description", description);
    (url, events)
}

/// Checks an endpoint's URL; returns it as stored.
fn check_target(state: &AppState, check: &mut Check, url: &str) -> String {
    match check_url(url, state.config.webhooks.allow_private_webhook_targets) {
        Ok(url) => url.to_string(),
        Err(problem) => {
            check.fail("url", problem);
            String::new()
        }
    }
}

/// Checks and adds an endpoint, within the account's limit.
pub async fn create(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    body: CreateEndpoint,
) -> Result<Endpoint> {
    let mut check = Check::new();
    let description = body.description.unwrap_or_default();
    let (url, events) = check_fields(state, &mut check, &body.url, &body.events, &description);
    check.finish()?;
    let fields = EndpointFields {
        url: &url,
        events: &events,
        description: &description,
        enabled: body.enabled.unwrap_or(true),
    };
    let max = i64::from(state.config.webhooks.webhook_endpoint_limit);
    state
        .store
        .create_webhook_endpoint(account_id, &fields, max, actor)
        .await?
        .ok_or_else(|| {
            Error::Conflict(format!(
                "This account already has {max} webhook endpoints, the most it may have; delete one first."
            ))
        })
}

/// The account's endpoint with this id, or not found.
pub async fn find_endpoint(state: &AppState, account_id: &str, id: &str) -> Result<Endpoint> {
    state
        .store
        .webhook_endpoint(account_id, &found::<EndpointId>(id)?)
        .await?
        .ok_or_else(|| Error::not_found("webhook endpoint"))
}

/// Changes the fields sent of an endpoint, and only those: concurrent changes of
/// other fields stay.
pub async fn update(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    id: &str,
    body: UpdateEndpoint,
) -> Result<Endpoint> {
    // Not found before invalid, as ever; nothing read here is written back.
    let current = find_endpoint(state, account_id, id).await?;
    let mut check = Check::new();
    let url = body.url.map(|url| check_target(state, &mut check, &url));
    let events = body.events.map(|events| check_events(&mut check, &events));
    if let Some(description) = &body.description {
        check.field::<EndpointDescription>("description", description);
    }
    check.finish()?;
    let changes = EndpointChanges {
        url: url.as_deref(),
        events: events.as_deref(),
        description: body.description.as_deref(),
        enabled: body.enabled,
    };
    state
        .store
        .update_webhook_endpoint(account_id, &current.id, &changes, actor)
        .await?
        .ok_or_else(|| Error::not_found("webhook endpoint"))
}

/// Refuses work for a disabled endpoint.
fn require_enabled(endpoint: &Endpoint) -> Result<()> {
    if !endpoint.enabled {
        return Err(Error::Conflict(
            "This endpoint is disabled; enable it (PATCH {\"enabled\": true}) first.".to_owned(),
        ));
    }
    Ok(())
}

/// Queues a delivery of an enabled endpoint again, now: same event id, same body.
pub async fn redeliver_one(
    state: &AppState,
    account_id: &str,
    endpoint: &str,
    delivery: &str,
) -> Result<Delivery> {
    let endpoint = find_endpoint(state, account_id, endpoint).await?;
    let delivery = &found::<DeliveryId>(delivery)?;
    require_enabled(&endpoint)?;
    match state
        .store
        .redeliver(account_id, &endpoint.id, delivery)
        .await?
    {
        Redelivery::Queued(row) => Ok(*row),
        Redelivery::NotFound => Err(Error::not_found("delivery")),
        Redelivery::InFlight => Err(Error::Conflict(
            "This delivery is being attempted right now; look at its log in a moment.".to_owned(),
        )),
    }
}

/// Queues a `webhook.test` event for this endpoint only.
pub async fn send_test(state: &AppState, account_id: &str, id: &str) -> Result<Delivery> {
    let endpoint = find_endpoint(state, account_id, id).await?;
    require_enabled(&endpoint)?;
    let event = Event::WebhookTest(TestData {
        endpoint_id: endpoint.id.clone(),
        message: "A test event sent from thinnest.".to_owned(),
    });
    state
        .store
        .queue_test_event(account_id, &endpoint.id, &event)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("the test delivery vanished")))
}
