//! How many deliveries one endpoint gets at once: never more than its concurrency,
//! however many are due when a slot frees.

use std::time::Duration;

use serde_json::json;

use crate::deliveries::{app_with, endpoint, python_receiver};

#[tokio::test]
async fn an_endpoint_never_gets_more_deliveries_at_once_than_its_concurrency() {
    let app = app_with(&["--webhook-endpoint-concurrency", "1"]).await;
    let admin = app.account("owner@example.com").await;
    let Some(receiver) = python_receiver(&app, &admin.key).await else {
        return;
    };
    endpoint(
        &app,
        &admin.key,
        &receiver.url("/one?delay_ms=500"),
        json!(["agent.created"]),
    )
    .await;
    // Made at once, so that several are due whenever the one in flight is answered.
    const N: usize = 8;
    for i in 0..N {
        app.agent(&admin, &format!("agent {i}")).await;
    }
    let got = receiver.wait_for(N, Duration::from_secs(60)).await;
    let mut arrivals: Vec<f64> = got.iter().map(|r| r["at"].as_f64().expect("at")).collect();
    arrivals.sort_by(f64::total_cmp);
    // Each answer takes 500 ms: one at a time, arrivals are at least that far apart.
    for pair in arrivals.windows(2) {
        assert!(pair[1] - pair[0] >= 0.4, "two at once: {arrivals:?}");
    }
    assert_eq!(got.len(), N, "each once: {got:#?}");
}
