//! Identifying a widget visitor: a user hash computed by Python's `hmac`, optional
//! verification, and short-lived JWTs keyed apart from the hash.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::widget::{SHOP, python_hash, session, setup};

#[tokio::test]
async fn a_hash_made_with_python_verifies_the_visitor_and_nothing_else_does() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (admin, agent, secret) = setup(&app, "required").await;
    let hash = python_hash(&secret, "user_42").await;
    let visitor = json!({"agent_id": agent, "user_id": "user_42", "user_name": "Ada", "user_email": "ada@example.com", "user_hash": hash});
    let (status, created, cors) = session(&app, SHOP, visitor.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(cors.as_deref(), Some(SHOP));
    assert_eq!(
        (created["user_id"].as_str(), created["user_name"].as_str()),
        (Some("user_42"), Some("Ada"))
    );

    // A hash made for another user, none at all, or garbage: refused, readable by the page.
    let other = python_hash(&secret, "user_43").await;
    for body in [
        json!({"agent_id": agent, "user_id": "user_42", "user_hash": other}),
        json!({"agent_id": agent, "user_id": "user_42"}),
        json!({"agent_id": agent}),
        json!({"agent_id": agent, "user_id": "user_42", "user_hash": "zz"}),
    ] {
        let (status, body, cors) = session(&app, SHOP, body).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_user_hash"))
        );
        assert_eq!(cors.as_deref(), Some(SHOP));
    }
    // The visitor's conversation carries the verified identity.
    let token = created["session_token"].as_str().unwrap();
    app.request(Method::POST, "/widget/messages")
        .header("origin", SHOP)
        .bearer_auth(token)
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    let (_, conversations) = app
        .get(&format!("/conversations?agent_id={agent}"), &admin.key)
        .await;
    let mine = &conversations["data"][0];
    assert_eq!(
        (mine["user_id"].as_str(), mine["user_email"].as_str()),
        (Some("user_42"), Some("ada@example.com"))
    );

    // During a rotation's grace period the old secret's hash still verifies; after, not.
    let (_, rotated) = app
        .post(
            "/webhooks/signing-secret/rotate",
            &admin.key,
            json!({"grace_seconds": 600}),
        )
        .await;
    assert_eq!(
        session(&app, SHOP, visitor.clone()).await.0,
        StatusCode::CREATED
    );
    let new_hash = python_hash(rotated["secret"].as_str().unwrap(), "user_42").await;
    let fresh = json!({"agent_id": agent, "user_id": "user_42", "user_hash": new_hash});
    assert_eq!(session(&app, SHOP, fresh).await.0, StatusCode::CREATED);
    app.post(
        "/webhooks/signing-secret/rotate",
        &admin.key,
        json!({"grace_seconds": 0}),
    )
    .await;
    let (status, body, _) = session(&app, SHOP, visitor).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_user_hash"))
    );
}

#[tokio::test]
async fn optional_verification_makes_unverified_visitors_anonymous() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, secret) = setup(&app, "optional").await;
    let (status, anonymous, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": "user_1", "user_name": "Mallory", "user_hash": "00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (anonymous["user_id"].clone(), anonymous["user_name"].clone()),
        (Value::Null, Value::Null)
    );
    let hash = python_hash(&secret, "user_1").await;
    let (_, known, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": "user_1", "user_hash": hash}),
    )
    .await;
    assert_eq!(known["user_id"], "user_1");
}

/// An HS256 JWT made with Python's standard library, as a customer's server might:
/// keyed by the base64-decoded part of the secret after `whsec_`.
async fn python_jwt(secret: &str, claims: Value, alg: &str) -> String {
    jwt_keyed(secret, claims, alg, "decoded").await
}

/// An HS256 JWT keyed by the secret's decoded bytes, or by its string (`raw`), which
/// is the key of user hashes and must not verify.
async fn jwt_keyed(secret: &str, claims: Value, alg: &str, key: &str) -> String {
    let script = "import base64, hashlib, hmac, json, sys\n\
        b = lambda d: base64.urlsafe_b64encode(d).rstrip(b'=').decode()\n\
        secret = sys.argv[1]\n\
        key = secret.encode() if sys.argv[4] == 'raw' else base64.b64decode(secret.removeprefix('whsec_'))\n\
        head = b(json.dumps({'alg': sys.argv[3], 'typ': 'JWT'}).encode())\n\
        body = b(sys.argv[2].encode())\n\
        sig = b(hmac.new(key, f'{head}.{body}'.encode(), hashlib.sha256).digest())\n\
        print(f'{head}.{body}.{sig}')";
    let out = tokio::process::Command::new("python3")
        .args(["-c", script, secret, &claims.to_string(), alg, key])
        .output()
        .await
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_short_lived_jwt_identifies_a_visitor_instead_of_a_hash() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, secret) = setup(&app, "required").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = python_jwt(
        &secret,
        json!({"sub": "user_7", "name": "Grace", "exp": now + 600}),
        "HS256",
    )
    .await;
    let (status, created, _) =
        session(&app, SHOP, json!({"agent_id": agent, "user_jwt": good})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["user_id"].as_str(), created["user_name"].as_str()),
        (Some("user_7"), Some("Grace"))
    );
    for token in [
        python_jwt(&secret, json!({"sub": "user_7", "exp": now - 120}), "HS256").await,
        // Expired a moment ago, or expiring now: no leeway, no session born dead.
        python_jwt(&secret, json!({"sub": "user_7", "exp": now - 5}), "HS256").await,
        python_jwt(&secret, json!({"sub": "user_7", "exp": now}), "HS256").await,
        // Keyed by the secret string, as user hashes are: refused.
        jwt_keyed(
            &secret,
            json!({"sub": "user_7", "exp": now + 600}),
            "HS256",
            "raw",
        )
        .await,
        python_jwt(
            &secret,
            json!({"sub": "user_7", "exp": now + 7200}),
            "HS256",
        )
        .await,
        python_jwt(&secret, json!({"sub": "user_7"}), "HS256").await,
        python_jwt(&secret, json!({"sub": "user_7", "exp": now + 600}), "none").await,
        python_jwt(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            json!({"sub": "user_7", "exp": now + 600}),
            "HS256",
        )
        .await,
        "not.a.jwt".to_owned(),
    ] {
        let (status, body, _) =
            session(&app, SHOP, json!({"agent_id": agent, "user_jwt": token})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_user_token")),
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_user_hash_of_a_jwt_signing_input_is_not_a_jwt_signature() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, secret) = setup(&app, "required").await;
    // An attacker picks a "user id" that is a JWT's signing input for any sub...
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({"sub": "admin", "exp": now + 600}).to_string();
    let input = format!("{head}.{}", URL_SAFE_NO_PAD.encode(claims));
    // ...and gets the customer's server to hash it, as it hashes any user id.
    let hash = python_hash(&secret, &input).await;
    let (status, _, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": input, "user_hash": hash}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "a valid hash for that id");
    // The hash's bytes as the token's signature do not make a token.
    let signature = URL_SAFE_NO_PAD.encode(hex::decode(&hash).unwrap());
    let forged = format!("{input}.{signature}");
    let (status, body, _) =
        session(&app, SHOP, json!({"agent_id": agent, "user_jwt": forged})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_user_token"))
    );
}
