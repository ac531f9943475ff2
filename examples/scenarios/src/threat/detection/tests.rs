use super::*;
use crate::threat::model::Protocol;
use crate::threat::{ScenarioConfig, detect, publish};

const T0: i64 = 1_714_521_600_000;

fn flow(src: &str, dst: &str, dst_port: i32, packets: i64, bytes: i64, start: i64) -> Flow {
    Flow {
        customer: "acme".into(),
        src_ip: src.into(),
        dst_ip: dst.into(),
        src_port: 40_000,
        dst_port,
        protocol: Protocol::Tcp,
        bytes,
        packets,
        start,
        end: start + 5,
        sampling: 1,
        src_reputation: None,
        dst_reputation: None,
        reputation_category: None,
        attack: None,
    }
}

fn feed(detection: &mut Detection, flows: impl IntoIterator<Item = Flow>) -> Vec<Alert> {
    flows
        .into_iter()
        .flat_map(|f| detection.observe(&f))
        .collect()
}

#[test]
fn a_sweep_is_a_scan_and_a_service_check_is_not() {
    let mut detection = Detection::new(DetectionConfig::default());
    // A monitoring host checks 12 ports of a server every 10 s for two minutes.
    let checks = (0..12).flat_map(|round| {
        (0..12).map(move |p| {
            flow(
                "10.1.0.10",
                "10.1.1.10",
                8000 + p,
                3,
                180,
                T0 + round * 10_000 + i64::from(p) * 15,
            )
        })
    });
    assert!(feed(&mut detection, checks).is_empty());
    // A scanner sweeps ports 1..200 at 50 ports/s, sampled 1-in-4.
    let sweep = (1..=200).filter(|p| p % 4 == 0).map(|p| {
        let mut f = flow(
            "45.1.2.3",
            "10.1.1.10",
            p,
            1,
            44,
            T0 + 130_000 + i64::from(p) * 20,
        );
        f.sampling = 4;
        f
    });
    let alerts = feed(&mut detection, sweep);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert.kind, AttackKind::PortScan);
    assert_eq!(alert.src_ip.as_deref(), Some("45.1.2.3"));
    assert!(
        alert.score >= 40.0 && alert.evidence.contains("distinct ports"),
        "{alert:?}"
    );
}

#[test]
fn a_flood_is_volumetric_and_a_flash_crowd_is_not() {
    let mut detection = Detection::new(DetectionConfig::default());
    let client = |i: i64| format!("93.{}.{}.7", i % 200, i / 200);
    // A media server: 80 s of 20 client flows/s of 200 packets (4000 packets/s), then a 4x
    // flash crowd for 20 s: 16000 packets/s from hundreds of sources, above the rate floor,
    // but not ten times the usual.
    let normal = (0..80 * 20).map(|i| {
        let at = T0 + i * 50;
        flow(&client(i % 3000), "10.1.1.10", 443, 200, 50_000, at)
    });
    assert!(feed(&mut detection, normal).is_empty());
    let crowd = (0..20 * 80).map(|i| {
        let at = T0 + 80_000 + i * 12;
        flow(&client(i % 5000), "10.1.1.10", 443, 200, 50_000, at)
    });
    assert!(feed(&mut detection, crowd).is_empty());
    // A database dump: millions of packets from one source.
    let dump = flow(
        "10.1.3.10",
        "10.1.1.10",
        873,
        500_000,
        700_000_000,
        T0 + 101_000,
    );
    assert!(feed(&mut detection, [dump]).is_empty());
    // 60 sources, 1000 packets each in one second: 15 times the usual.
    let flood = (0..60).map(|i| {
        flow(
            &client(7000 + i),
            "10.1.1.10",
            80,
            1000,
            60_000,
            T0 + 110_000 + i * 15,
        )
    });
    let alerts = feed(&mut detection, flood);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind, AttackKind::Volumetric);
    assert_eq!(alerts[0].dst_ip.as_deref(), Some("10.1.1.10"));
}

#[test]
fn alerts_do_not_depend_on_how_customers_interleave() {
    let published = publish(&ScenarioConfig::small(), 1);
    let config = DetectionConfig::default();
    let mut in_order = detect(&config, &published.flows);
    // Each customer's flows as one block, customers in reverse order of name.
    let mut grouped = published.flows.clone();
    grouped.sort_by(|a, b| b.customer.cmp(&a.customer));
    let mut by_customer = detect(&config, &grouped);
    assert!(!in_order.is_empty());
    in_order.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    by_customer.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    assert_eq!(in_order, by_customer);
}

#[test]
fn labels_are_never_read() {
    let published = publish(&ScenarioConfig::small(), 2);
    let config = DetectionConfig::default();
    let with_labels = detect(&config, &published.flows);
    let unlabelled: Vec<Flow> = published
        .flows
        .into_iter()
        .map(|f| Flow { attack: None, ..f })
        .collect();
    assert_eq!(with_labels, detect(&config, &unlabelled));
}

#[test]
fn memory_stays_within_the_key_bound() {
    let published = publish(&ScenarioConfig::small(), 3);
    let config = DetectionConfig {
        max_keys: 500,
        ..DetectionConfig::default()
    };
    let mut detection = Detection::new(config);
    for f in &published.flows {
        detection.observe(f);
    }
    let stats = detection.stats();
    // Per customer: scan, beacon and prevalence and cooldown tables, two each for floods and
    // exfiltration (open bucket and history), each within the bound (LRU entries may exceed
    // it by one transiently).
    assert!(stats.keys <= stats.customers * 8 * 501, "{stats:?}");
    assert!(stats.evicted_keys > 0, "{stats:?}");
}

#[test]
fn unparseable_addresses_are_skipped() {
    let mut detection = Detection::new(DetectionConfig::default());
    assert!(
        detection
            .observe(&flow("not-an-ip", "10.0.0.1", 80, 1, 40, T0))
            .is_empty()
    );
    assert_eq!(detection.stats().skipped, 1);
}
