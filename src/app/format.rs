//! Small text formatters for the page: byte sizes, percentages, durations,
//! rates and counts, written for people (decimal megabytes, rounded seconds).

/// "1 thread", "2 threads".
pub(crate) fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

/// "98.4 MB", "512 kB", "900 B".
pub(crate) fn bytes(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.0} kB", n / 1e3)
    } else {
        format!("{n:.0} B")
    }
}

/// Whole percent of `part` in `total`, clamped to 0..=100.
pub(crate) fn percent(part: f64, total: f64) -> f64 {
    if total > 0.0 {
        (part / total * 100.0).clamp(0.0, 100.0).floor()
    } else {
        0.0
    }
}

/// "3 s", "1 min 05 s", "1.2 s" for short spans.
pub(crate) fn duration_ms(ms: f64) -> String {
    let s = ms / 1000.0;
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 60.0 {
        format!("{s:.0} s")
    } else {
        let whole = s.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// Time left for a download at its average rate so far, if it can be told.
pub(crate) fn eta_ms(loaded: f64, total: f64, elapsed_ms: f64) -> Option<f64> {
    if loaded <= 0.0 || elapsed_ms < 250.0 || total <= loaded {
        return None;
    }
    let rate = loaded / elapsed_ms;
    Some((total - loaded) / rate)
}

/// "12.3 tokens/s".
pub(crate) fn rate(tokens_per_second: f64) -> String {
    if tokens_per_second >= 100.0 {
        format!("{tokens_per_second:.0} tokens/s")
    } else {
        format!("{tokens_per_second:.1} tokens/s")
    }
}
