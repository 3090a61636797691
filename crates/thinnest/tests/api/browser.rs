//! The dashboard in headless Chromium (Debian's package), driven by playwright-core
//! from `tests/node/flows.mjs`; every page visited is saved under
//! `target/screenshots/`. `.ci/run` installs Chromium and playwright-core.

use std::path::Path;

use crate::support::TestApp;
use crate::support::identity::IdentityProvider;
use crate::support::receiver::{Kind, Receiver};

#[tokio::test]
async fn people_sign_up_make_a_key_invite_a_viewer_and_sign_in_with_google_in_a_real_browser() {
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() || !flows.join("node_modules/playwright-core").exists() {
        crate::support::missing_peer("Chromium or playwright-core");
        return;
    }
    let Some(idp) = IdentityProvider::start().await else {
        return;
    };
    let Some(receiver) = Receiver::start(Kind::PythonStdlib, "whsec_unknown").await else {
        return;
    };
    let mut flags = idp.flags("google");
    flags.push("--allow-private-webhook-targets".to_owned());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = TestApp::with_flags(&flags).await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    let out = tokio::process::Command::new("node")
        .arg(flows.join("flows.mjs"))
        .arg(&app.https)
        .arg(app.data_dir.path().join("outbox"))
        .arg(&screenshots)
        .arg(app.data_dir.path().join("tls/ca.pem"))
        .arg(&idp.api)
        .arg(receiver.url("/hooks"))
        .output()
        .await
        .expect("run node");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("browser flows passed"), "{log}");
}
