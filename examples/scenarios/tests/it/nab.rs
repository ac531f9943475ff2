//! The NAB corpus through the mesh scores exactly as the same detector run in memory.

use std::time::Duration;

use scenarios::nab::mesh::{NabRun, run};
use scenarios::nab::{self, CostMatrix, NabConfig, Scorer};
use scenarios::progress::Progress;

use crate::support::{TestResult, local_mesh};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_streamed_through_the_mesh_scores_as_in_memory() -> TestResult {
    let corpus = nab::load_configured()?;
    // Every series with a labelled window and a few without, to keep the test short.
    let corpus: Vec<_> = corpus
        .into_iter()
        .filter(|s| s.name().contains("realKnownCause") || s.name().contains("NoAnomaly"))
        .collect();
    let expected = Scorer::new(CostMatrix::STANDARD)
        .evaluate(&corpus, &nab::detect(&corpus, &NabConfig::default()))?;

    let (local, mesh, _dir) = local_mesh().await?;
    let outcome = run(
        &mesh,
        NabRun {
            corpus: corpus.clone(),
            rate: 0,
            timeout: Duration::from_secs(120),
        },
        &Progress::hidden(),
    )
    .await?;
    let rows: usize = corpus.iter().map(|s| s.len()).sum();
    assert_eq!(outcome.published, rows);
    assert_eq!(outcome.report.rows, expected.rows);
    assert_eq!(outcome.report.threshold, expected.threshold);
    assert!(
        (outcome.report.score - expected.score).abs() < 1e-9,
        "through the mesh {} vs in memory {}",
        outcome.report.score,
        expected.score
    );
    assert!(outcome.report.windows_detected > 0);
    assert!(outcome.latency.count > 0);
    local.shutdown().await?;
    Ok(())
}
