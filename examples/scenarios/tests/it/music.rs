//! The music streaming mesh at test size: every domain publishes, the recommender beats the
//! popularity baseline on held-out interactions, the sink holds every interaction once and
//! the trends are queryable as a product.

use std::time::Duration;

use scenarios::music::mesh::{MusicRun, run};
use scenarios::music::{World, WorldConfig};
use scenarios::progress::Progress;

use crate::support::{TestResult, local_mesh};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_beat_popularity_and_every_product_is_filled() -> TestResult {
    let (local, mesh, _dir) = local_mesh().await?;
    let world = World::generate(WorldConfig::small(), 11);
    let interactions = world
        .events()
        .filter(|e| matches!(e, scenarios::music::MusicEvent::Interaction(_)))
        .count();
    let outcome = run(
        &mesh,
        MusicRun {
            world,
            rate: 0,
            timeout: Duration::from_secs(180),
        },
        &Progress::hidden(),
    )
    .await?;
    eprintln!("{}", outcome.evaluation);

    assert_eq!(outcome.published.get("interactions"), Some(&interactions));
    for domain in ["users", "songs", "podcasts", "interactions"] {
        assert!(
            outcome.published.get(domain).is_some_and(|n| *n > 0),
            "{domain}"
        );
    }
    let evaluation = &outcome.evaluation;
    assert!(
        evaluation.cases >= 200,
        "{} held-out cases",
        evaluation.cases
    );
    assert!(
        evaluation.model.hit_rate >= 1.3 * evaluation.baseline.hit_rate,
        "hit rate@10 {:.3} vs popularity {:.3}",
        evaluation.model.hit_rate,
        evaluation.baseline.hit_rate
    );
    assert_eq!(
        outcome.history_rows, interactions as u64,
        "the sink holds each interaction once"
    );
    assert!(outcome.trend_rows > 0);
    assert!(!outcome.top_genres.is_empty());
    assert_eq!(outcome.samples.len(), 3);
    assert!(outcome.samples.iter().all(|s| !s.items.is_empty()));
    assert!(outcome.latency.count > 0);

    // The service answers over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(scenarios::serve::serve(
        listener,
        outcome.state.clone(),
        shutdown.clone(),
    ));
    let user = outcome.samples[0].user_id;
    let http = reqwest::Client::new();
    let body: serde_json::Value = http
        .get(format!("{base}/recommendations/{user}?k=10"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let items = body["items"].as_array().ok_or("no items")?;
    assert_eq!(items.len(), 10, "{body}");
    assert!(
        items
            .iter()
            .all(|i| i["title"].is_string() && i["reason"]["type"].is_string())
    );
    let refused = http
        .get(format!("{base}/recommendations/someone"))
        .send()
        .await?;
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let trends: serde_json::Value = http
        .get(format!("{base}/trends?dimension=genre&k=3"))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        trends["top"].as_array().is_some_and(|t| !t.is_empty()),
        "{trends}"
    );
    shutdown.cancel();
    server.await??;
    local.shutdown().await?;
    Ok(())
}
