//! What the benchmarks measure with: the process's memory and latency percentiles.

use std::time::Duration;

/// `VmRSS` and `VmHWM` (peak) of this process, in KiB.
pub fn memory_kib() -> (u64, u64) {
    memory_kib_of("self")
}

/// `VmRSS` and `VmHWM` (peak) of process `pid` (`self` for this one), in KiB.
pub fn memory_kib_of(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `p` quantile (0–1) of `sorted` durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `d` in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
