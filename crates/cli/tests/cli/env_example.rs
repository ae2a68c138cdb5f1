//! The repository's `.env.example` and the declaration of the settings
//! (`caisse_shop::config::SETTINGS`) agree: every setting once, in the declared order, its line
//! showing its default exactly, a description above it, and no variable caisse does not read.
//!
//! The file's rule: each variable is one `NAME=value` line, commented out (`#NAME=default`) unless
//! serve requires it, in which case it stands uncommented with an empty value to fill in; the
//! comment line right above says what it does.

use caisse_shop::config::SETTINGS;

/// Read by serve without being one of caisse's settings (the log filter).
const OUTSIDE: &[(&str, &str)] = &[("RUST_LOG", "info,sqlx=warn,tower_http=info")];

/// Settings `caisse serve` refuses to start without.
const REQUIRED: &[&str] = &[
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "CAISSE_GUEST_COOKIE_SECRET",
];

/// `(name, value, commented, description)` of each assignment line.
fn entries() -> Vec<(String, String, bool, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
    let text = std::fs::read_to_string(path).expect(".env.example at the repository's root");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let (commented, assignment) = match line.strip_prefix('#') {
            Some(rest) => (true, rest),
            None => (false, *line),
        };
        let Some((name, value)) = assignment.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            continue;
        }
        let description = i
            .checked_sub(1)
            .and_then(|j| lines[j].strip_prefix("# "))
            .unwrap_or_default()
            .to_string();
        out.push((name.to_string(), value.to_string(), commented, description));
    }
    out
}

#[test]
fn env_example_lists_every_setting_with_its_default_and_nothing_else() {
    let found = entries();
    let names: Vec<&str> = found.iter().map(|e| e.0.as_str()).collect();
    let expected: Vec<&str> = SETTINGS
        .iter()
        .map(|s| s.name)
        .chain(OUTSIDE.iter().map(|o| o.0))
        .collect();
    assert_eq!(
        names, expected,
        "the settings, in their declared order, then RUST_LOG"
    );
    for (name, value, commented, description) in &found {
        let default = SETTINGS
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.default)
            .or_else(|| OUTSIDE.iter().find(|o| o.0 == name).map(|o| o.1))
            .unwrap();
        assert_eq!(value, default, "{name}: the line shows the default");
        let required = REQUIRED.contains(&name.as_str());
        assert_eq!(
            !commented, required,
            "{name}: only the required settings stand uncommented"
        );
        assert!(
            description.len() > 10,
            "{name}: a one-line description above it"
        );
        if default.is_empty() && !required {
            assert!(
                description.ends_with("Default: none."),
                "{name}: says it has no default"
            );
        }
    }
}
