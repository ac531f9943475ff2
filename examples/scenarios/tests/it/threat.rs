//! The network threat detection mesh at test size: alerts read back from the
//! `detection.alerts` product find every injected attack kind with precision and recall of
//! at least 0.9, and sampling keeps the ingest rate near its target.

use std::time::Duration;

use scenarios::progress::Progress;
use scenarios::threat::mesh::{ThreatRun, run};
use scenarios::threat::{AttackKind, ScenarioConfig};

use crate::support::{TestResult, local_mesh};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_kind_is_found_through_the_mesh() -> TestResult {
    let (local, mesh, _dir) = local_mesh().await?;
    let outcome = run(
        &mesh,
        ThreatRun {
            config: ScenarioConfig::small(),
            seed: 3,
            rate: 0,
            timeout: Duration::from_secs(180),
        },
        &Progress::hidden(),
    )
    .await?;
    eprintln!("{}\n{}", outcome.report, outcome.sampling);
    for kind in AttackKind::ALL {
        let k = outcome
            .report
            .kind(kind)
            .ok_or("kind missing from the report")?;
        assert!(k.episodes >= 4, "{kind}: {} episodes", k.episodes);
        assert!(k.precision() >= 0.9, "{kind}: precision {}", k.precision());
        assert!(k.recall() >= 0.9, "{kind}: recall {}", k.recall());
    }
    assert_eq!(
        outcome.alert_rows, outcome.alerts,
        "the product holds each alert once"
    );
    assert!(outcome.reputation_entries > 0);
    assert!(
        outcome.raw_flows > outcome.published as u64,
        "sampling dropped flows"
    );
    assert!(outcome.sampling.near_target > 0.5, "{}", outcome.sampling);
    local.shutdown().await?;
    Ok(())
}
