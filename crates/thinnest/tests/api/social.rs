//! Sign-in with Google, GitHub and a generic OpenID Connect provider, end to end
//! against a real local provider process, and every refusal the flow must make.

use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::{PASSWORD, sign_in, signed_up};
use crate::support::TestApp;
use crate::support::browser::{Browser, Page};
use crate::support::identity::IdentityProvider;

/// A provider and an app that offers it (`google`, `github` or `oidc`).
pub(crate) async fn app_with(providers: &[&str]) -> Option<(IdentityProvider, TestApp)> {
    let idp = IdentityProvider::start().await?;
    let flags: Vec<String> = providers.iter().flat_map(|p| idp.flags(p)).collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = TestApp::with_flags(&flags).await;
    Some((idp, app))
}

/// Starts a flow and goes through the provider; returns the callback's address.
pub(crate) async fn through_provider(
    browser: &Browser,
    start: &str,
    form: &[(&str, &str)],
) -> String {
    let started = browser.post(start, form).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let at_provider = browser.get_url(started.location()).await;
    assert_eq!(
        at_provider.status,
        StatusCode::FOUND,
        "{}",
        at_provider.body
    );
    at_provider.location().to_owned()
}

/// A whole sign-in through `provider`: start, provider, callback.
pub(crate) async fn sign_in_with(browser: &Browser, provider: &str) -> Page {
    let callback = through_provider(browser, &format!("/app/oauth/{provider}"), &[]).await;
    browser.get_url(&callback).await
}

pub(crate) fn signed_in(page: &Page) {
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app"),
        "{}",
        page.body
    );
}

/// The flow stopped, for this reason, and the flow cookie is cleared.
pub(crate) fn refused(page: &Page, reason: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.body.contains(&format!("(reason: {reason})")),
        "expected {reason}: {}",
        page.body
    );
    assert!(
        page.headers
            .get("set-cookie")
            .is_some_and(|c| c.to_str().unwrap().contains("__Host-thinnest_oauth=;"))
    );
}

/// The flow cookie a start response set, as a `Cookie` header value.
pub(crate) fn flow_cookie(started: &Page) -> String {
    let set = started.headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// The sign-in page has the provider's button.
pub(crate) async fn offers(app: &TestApp, label: &str) {
    let login = Browser::new(app).get("/app/login").await;
    let button = format!("Continue with {label}");
    assert!(login.body.contains(&button), "{}", login.body);
}

pub(crate) async fn home_email(browser: &Browser) -> String {
    let home = browser.get("/app").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    home.body
}

#[tokio::test]
async fn google_sign_in_makes_an_account_and_the_same_identity_signs_in_again() {
    let Some((idp, app)) = app_with(&["google"]).await else {
        return;
    };
    offers(&app, "Google").await;

    idp.next_sign_in(json!({"sub": "g-123", "email": "grace@example.com"}))
        .await;
    let browser = Browser::new(&app);
    let started = browser.post("/app/oauth/google", &[]).await;
    let cookie = started.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-thinnest_oauth="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // The provider is sent a PKCE S256 challenge, a state and a nonce, and our exact
    // redirect URI.
    let authorize = started.location();
    assert!(authorize.starts_with(&format!("{}/authorize?", idp.issuer)));
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid+email+profile",
    ] {
        assert!(authorize.contains(part), "{authorize}");
    }
    let redirect = format!("{}/app/oauth/google/callback", app.https);
    let encoded: String = url_encode(&redirect);
    assert!(
        authorize.contains(&format!("redirect_uri={encoded}")),
        "{authorize}"
    );

    let callback = browser.get_url(authorize).await.location().to_owned();
    signed_in(&browser.get_url(&callback).await);
    assert!(home_email(&browser).await.contains("grace@example.com"));
    assert_eq!(
        app.db
            .count(&format!(
                "identities WHERE issuer = '{}' AND subject = 'g-123'",
                idp.issuer
            ))
            .await,
        1
    );

    // Again, from another browser: the same person, no new account.
    idp.next_sign_in(json!({"sub": "g-123", "email": "grace@example.com"}))
        .await;
    let again = Browser::new(&app);
    signed_in(&sign_in_with(&again, "google").await);
    assert_eq!(app.db.count("users").await, 1);
    assert_eq!(app.db.count("accounts").await, 1);

    // The link is in the audit log, and nothing of the flow is stored in clear.
    let audit = app
        .db
        .count("audit_log WHERE action = 'user.identity_linked'")
        .await;
    assert_eq!(audit, 1);
    let dump = app.db.dump().await;
    let state = query_value(&callback, "state");
    let code = query_value(&callback, "code");
    let flow_token = cookie.split(';').next().unwrap().split('=').nth(1).unwrap();
    crate::support::assert_not_stored(&dump, &[&state, &code, flow_token]);
}

/// The identity is the issuer and subject, not the email: a new subject with a
/// known address does not get into that account.
#[tokio::test]
async fn another_subject_with_the_same_email_is_not_the_same_person() {
    let Some((idp, app)) = app_with(&["google"]).await else {
        return;
    };
    idp.next_sign_in(json!({"sub": "first", "email": "same@example.com"}))
        .await;
    signed_in(&sign_in_with(&Browser::new(&app), "google").await);
    idp.next_sign_in(json!({"sub": "second", "email": "same@example.com"}))
        .await;
    let page = sign_in_with(&Browser::new(&app), "google").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(page.body.contains("already exists"), "{}", page.body);
    assert_eq!(app.db.count("identities").await, 1);

    // Nor does a provider get the Admin of a workspace made by `thinnest bootstrap`
    // (no password yet): its owner signs in first, then connects.
    app.account("boot@example.com").await;
    idp.next_sign_in(json!({"sub": "third", "email": "boot@example.com"}))
        .await;
    let page = sign_in_with(&Browser::new(&app), "google").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert_eq!(app.db.count("identities").await, 1);
}

#[tokio::test]
async fn github_sign_in_takes_the_primary_verified_email() {
    let Some((idp, app)) = app_with(&["github"]).await else {
        return;
    };
    idp.next_sign_in(json!({"github_id": 77, "email": "octo@example.com"}))
        .await;
    let browser = Browser::new(&app);
    let started = browser.post("/app/oauth/github", &[]).await;
    let authorize = started.location();
    for part in [
        "code_challenge_method=S256",
        "state=",
        "scope=read%3Auser+user%3Aemail",
    ] {
        assert!(authorize.contains(part), "{authorize}");
    }
    let callback = browser.get_url(authorize).await.location().to_owned();
    signed_in(&browser.get_url(&callback).await);
    assert!(home_email(&browser).await.contains("octo@example.com"));
    let issuer = idp.issuer.clone();
    let key = format!("identities WHERE issuer = '{issuer}' AND subject = '77'");
    assert_eq!(app.db.count(&key).await, 1);

    // A primary address GitHub has not verified is not taken, nor is a verified
    // secondary one.
    idp.next_sign_in(
        json!({"github_id": 78, "email": "unverified@example.com", "email_verified": false}),
    )
    .await;
    let page = sign_in_with(&Browser::new(&app), "github").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("no verified email"), "{}", page.body);
    assert_eq!(app.db.count("users").await, 1);
}

#[tokio::test]
async fn any_openid_connect_provider_by_its_discovery_url() {
    let Some((idp, app)) = app_with(&["oidc"]).await else {
        return;
    };
    offers(&app, "Acme SSO").await;
    idp.next_sign_in(json!({"sub": "auth0|abc", "email": "sso@example.com"}))
        .await;
    let browser = Browser::new(&app);
    signed_in(&sign_in_with(&browser, "oidc").await);
    assert!(home_email(&browser).await.contains("sso@example.com"));
    // A provider that is not configured is not there.
    let page = Browser::new(&app).post("/app/oauth/google", &[]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

/// Replaces one query parameter of a URL.
pub(crate) fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == name => format!("{k}={value}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

pub(crate) fn query_value(url: &str, name: &str) -> String {
    url.split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

pub(crate) fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_wrong_state_a_replayed_code_and_another_browser_are_refused() {
    let Some((_idp, app)) = app_with(&["google"]).await else {
        return;
    };
    // A state this browser's flow did not derive.
    let browser = Browser::new(&app);
    let callback = through_provider(&browser, "/app/oauth/google", &[]).await;
    let forged = with_param(&callback, "state", &"f".repeat(64));
    refused(&browser.get_url(&forged).await, "state_mismatch");
    assert_eq!(app.db.count("users").await, 0);

    // The genuine callback works once. Replayed, even with a copy of the flow
    // cookie, its state is spent; without the cookie it is not even looked up.
    let browser = Browser::new(&app);
    let started = browser.post("/app/oauth/google", &[]).await;
    let cookie = flow_cookie(&started);
    let callback = browser
        .get_url(started.location())
        .await
        .location()
        .to_owned();
    signed_in(&browser.get_url(&callback).await);
    let copy = Browser::new(&app);
    refused(
        &copy.get_url_with_cookie(&callback, &cookie).await,
        "state_used",
    );
    refused(&browser.get_url(&callback).await, "no_flow_cookie");

    // A code from one flow injected into another flow of the same browser: the
    // PKCE verifier does not match, and the provider refuses the exchange.
    let browser = Browser::new(&app);
    let first = through_provider(&browser, "/app/oauth/google", &[]).await;
    let second = through_provider(&browser, "/app/oauth/google", &[]).await;
    let injected = with_param(&second, "code", &query_value(&first, "code"));
    refused(&browser.get_url(&injected).await, "token_exchange");

    // A callback opened in a browser that did not start the flow (login CSRF).
    let victim = Browser::new(&app);
    let attacker = Browser::new(&app);
    let callback = through_provider(&attacker, "/app/oauth/google", &[]).await;
    refused(&victim.get_url(&callback).await, "no_flow_cookie");
    assert_eq!(app.db.count("users").await, 1);
}

/// GitHub has no nonce: PKCE alone stops a code injected into another flow.
#[tokio::test]
async fn a_github_code_injected_into_another_flow_is_refused() {
    let Some((_idp, app)) = app_with(&["github"]).await else {
        return;
    };
    let browser = Browser::new(&app);
    let first = through_provider(&browser, "/app/oauth/github", &[]).await;
    let second = through_provider(&browser, "/app/oauth/github", &[]).await;
    let injected = with_param(&second, "code", &query_value(&first, "code"));
    refused(&browser.get_url(&injected).await, "token_exchange");
    assert_eq!(app.db.count("users").await, 0);
}

/// A flow started on one instance finishes on another (they share the database),
/// and its state is then spent on both.
#[tokio::test]
async fn a_flow_started_on_one_instance_finishes_on_another_once() {
    let Some((_idp, app)) = app_with(&["google"]).await else {
        return;
    };
    let other = app.second_instance().await;
    let browser = Browser::new(&app);
    let started = browser.post("/app/oauth/google", &[]).await;
    let cookie = flow_cookie(&started);
    let callback = browser
        .get_url(started.location())
        .await
        .location()
        .to_owned();
    let on_other = callback.replace(&app.https, &other.https);
    let done = Browser::new(&other)
        .get_url_with_cookie(&on_other, &cookie)
        .await;
    signed_in(&done);
    refused(
        &Browser::new(&app)
            .get_url_with_cookie(&callback, &cookie)
            .await,
        "state_used",
    );
}

#[tokio::test]
async fn bad_nonce_other_audience_bad_signature_expiry_or_issuer_are_refused() {
    let Some((idp, app)) = app_with(&["google", "oidc"]).await else {
        return;
    };
    for (tamper, reason) in [
        ("nonce", "id_token_nonce"),
        ("audience", "id_token_audience"),
        ("expired", "id_token_expired"),
        ("signature", "id_token_signature"),
        ("iss", "other_issuer"),
    ] {
        idp.next_sign_in(json!({"tamper": tamper})).await;
        let page = sign_in_with(&Browser::new(&app), "google").await;
        refused(&page, reason);
    }
    assert_eq!(app.db.count("users").await, 0);

    // Mix-up: a response to a flow started with one provider, delivered to the
    // callback of another.
    idp.next_sign_in(json!({})).await;
    let browser = Browser::new(&app);
    let callback = through_provider(&browser, "/app/oauth/oidc", &[]).await;
    let mixed = callback.replace("/app/oauth/oidc/callback", "/app/oauth/google/callback");
    refused(&browser.get_url(&mixed).await, "other_provider");

    // An error from the provider (the user said no) stops the flow too.
    let browser = Browser::new(&app);
    let callback = through_provider(&browser, "/app/oauth/google", &[]).await;
    let denied = format!("{callback}&error=access_denied");
    refused(&browser.get_url(&denied).await, "provider_error");
    assert_eq!(app.db.count("users").await, 0);

    // A provider that names itself in `iss` (RFC 9207) is believed.
    idp.next_sign_in(json!({"tamper": "iss_own"})).await;
    let browser = Browser::new(&app);
    let callback = through_provider(&browser, "/app/oauth/google", &[]).await;
    assert!(callback.contains("iss="), "{callback}");
    signed_in(&browser.get_url(&callback).await);
}

#[tokio::test]
async fn a_password_account_is_joined_only_with_its_password() {
    let Some((idp, app)) = app_with(&["google"]).await else {
        return;
    };
    signed_up(&app, "pat@example.com").await;
    // The provider's spelling of the address does not matter.
    idp.next_sign_in(json!({"sub": "pat-google", "email": "Pat@Example.COM"}))
        .await;
    let browser = Browser::new(&app);
    let page = sign_in_with(&browser, "google").await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app/oauth/link")
    );
    let form = browser.get("/app/oauth/link").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("pat@example.com"), "{}", form.body);
    // Not signed in yet, and not linked.
    assert_eq!(browser.get("/app").await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.db.count("identities").await, 0);

    let wrong = browser
        .post("/app/oauth/link", &[("password", "not-the-password")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert_eq!(app.db.count("identities").await, 0);
    // Another browser cannot finish it: the link waits in this browser only.
    let other = Browser::new(&app)
        .post("/app/oauth/link", &[("password", PASSWORD)])
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);

    signed_in(
        &browser
            .post("/app/oauth/link", &[("password", PASSWORD)])
            .await,
    );
    assert_eq!(app.db.count("identities").await, 1);
    assert_eq!(app.db.count("users").await, 1);
    // From now on Google alone signs Pat in.
    idp.next_sign_in(json!({"sub": "pat-google", "email": "pat@example.com"}))
        .await;
    signed_in(&sign_in_with(&Browser::new(&app), "google").await);
    // The password still works too.
    signed_in(&sign_in(&Browser::new(&app), "pat@example.com", PASSWORD).await);
}

#[tokio::test]
async fn an_unconfirmed_sign_up_goes_to_whoever_the_provider_verified() {
    let Some((idp, app)) = app_with(&["google"]).await else {
        return;
    };
    // Someone signs up with Una's address and never confirms it.
    let squatter = Browser::new(&app);
    squatter
        .post(
            "/app/signup",
            &[
                ("email", "una@example.com"),
                ("password", "squatters-password-1"),
            ],
        )
        .await;
    let link = app.emailed_token("una@example.com").await;
    // Una signs in with Google, which verified the address.
    idp.next_sign_in(json!({"sub": "una", "email": "una@example.com"}))
        .await;
    signed_in(&sign_in_with(&Browser::new(&app), "google").await);
    // The squatter's link no longer does anything.
    let page = squatter
        .post(
            "/app/verify-email",
            &[("token", &link), ("password", "squatters-password-1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert_eq!(app.db.count("users").await, 1);
}
