//! What the benchmark binaries share: sizes from the environment and the report format the
//! comparison scripts read (one JSON object per measure on stdout, a readable line on stderr).

/// `name` from the environment as a number, or `default`.
pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reports one measure of the Rust side.
pub(crate) fn report(name: &str, value: f64, unit: &str, extra: serde_json::Value) {
    println!(
        "{}",
        serde_json::json!({ "side": "rust", "measure": name, "value": value, "unit": unit, "extra": extra })
    );
    eprintln!("rust  {name:<34} {value:>14.0} {unit} {extra}");
}

/// The `p`th percentile (nearest rank) of sorted values; 0 for none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
