//! Issue 23's "done when", each target beside the ratio this run measured: one block that says
//! which targets a run met. Ratios within one run hold on a shared machine where absolute
//! figures do not.

/// What one run measured, as the targets need it.
pub struct Figures {
    pub postgres: bool,
    pub effect_rate: f64,
    pub raw_rate: f64,
    /// The seed's Node stack on the same load, or why it was not measured.
    pub node_rate: Result<f64, String>,
    pub dup_rate: f64,
    pub health_rate: f64,
    /// p99 of checkout through caisse and of the sandbox alone, 16 clients, ms.
    pub checkout_p99: f64,
    pub sandbox_p99: f64,
    /// The highest `VmHWM` of `caisse serve` over the run, MiB.
    pub peak_rss: f64,
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}

pub fn print(f: &Figures) {
    let effect = f.effect_rate / f.raw_rate;
    let floor = if f.postgres { 0.5 } else { 1.0 };
    let duplicates = f.dup_rate / f.health_rate;
    let overhead = f.checkout_p99 - f.sandbox_p99;
    println!("\nratios against issue 23's targets (this run)");
    println!(
        "  webhook effect / raw commits            {effect:>6.2}x  (>= {floor:.1})  {}",
        verdict(effect >= floor)
    );
    if !f.postgres {
        match &f.node_rate {
            Ok(node) => {
                let ratio = f.effect_rate / node;
                println!(
                    "  webhook effect / the seed's Node stack  {ratio:>6.2}x  (>= 5)  {}",
                    verdict(ratio >= 5.0)
                );
            }
            Err(why) => println!("  webhook effect / the seed's Node stack  not measured: {why}"),
        }
    }
    println!(
        "  duplicates / GET /healthz               {duplicates:>6.2}x  (>= 0.5)  {}",
        verdict(duplicates >= 0.5)
    );
    if !f.postgres {
        println!(
            "  checkout p99 over the sandbox's, 16 clients  {overhead:+.1} ms  (< 10 ms)  {}",
            verdict(overhead < 10.0)
        );
    }
    println!(
        "  peak RSS of caisse serve                {:>6.1} MiB  (< 100 MB)  {}",
        f.peak_rss,
        verdict(f.peak_rss * 1.048_576 < 100.0)
    );
}
