//! What `caisse-bench` reads of the processes it measures: peak memory and CPU time from `/proc`,
//! and caisse's own write histograms from its `/metrics`.

/// Peak resident memory of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) a process has used, or with `None` every PostgreSQL process
/// together. Linux counts in ticks of 1/100 s (`USER_HZ`).
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    let ticks = |stat: &str| -> Option<(String, f64)> {
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_string();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some((name, used / 100.0))
    };
    match pid {
        Some(pid) => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| ticks(&s))
            .map_or(0.0, |(_, t)| t),
        None => std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter_map(|s| ticks(&s))
            .filter(|(name, _)| name == "postgres")
            .map(|(_, t)| t)
            .sum(),
    }
}

/// `(sum, count)` of caisse's write histograms (wait, SQLite turn, commit), from `/metrics`.
pub async fn write_profile(http: &reqwest::Client, url: &str) -> [(f64, f64); 3] {
    let text = http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default();
    let read = |series: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    [
        "caisse_db_write_wait_seconds",
        "caisse_db_write_turn_seconds",
        "caisse_db_commit_seconds",
    ]
    .map(|name| (read(&format!("{name}_sum")), read(&format!("{name}_count"))))
}
