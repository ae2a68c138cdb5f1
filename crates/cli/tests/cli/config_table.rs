//! The README's configuration table, `caisse config check` and the declaration of the settings
//! (`caisse_shop::config::SETTINGS`) agree: the same variables, in the same order, and the same
//! defaults.
//!
//! The rule for the README's "default" column: when a setting has a default, the cell starts with
//! it, exactly, in backticks (`` `300` ``, `` `http://{CAISSE_LISTEN}` ``); when it has none, the
//! cell starts with "none" or "—". Prose may follow either ("(`caisse dev`: …)"). In the
//! "variable" column, each name is in backticks; a name after "alias" is an alias of the row's
//! setting.

use std::collections::BTreeSet;

use caisse_shop::config::{ALIASES, SETTINGS};

use crate::support::{run, text};

/// One row of the table: its setting names, their aliases, and the default cell.
struct Row {
    names: Vec<String>,
    aliases: Vec<String>,
    default: String,
}

/// The text of each `code span` in `cell`, with whether the word "alias" comes right before it.
fn code_spans(cell: &str) -> Vec<(String, bool)> {
    let mut spans = Vec::new();
    let mut rest = cell;
    let mut before = String::new();
    while let Some(start) = rest.find('`') {
        before.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        let is_alias = before.trim_end().ends_with("alias");
        spans.push((after[..end].to_string(), is_alias));
        before.clear();
        rest = &after[end + 1..];
    }
    spans
}

/// The rows of the table under "## Configuration".
fn readme_rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Configuration\n"))
        .expect("a Configuration section in the README");
    let rows: Vec<Row> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert!(cells.len() >= 3, "a row of three cells: {line}");
            let spans = code_spans(cells[0]);
            Row {
                names: spans.iter().filter(|s| !s.1).map(|s| s.0.clone()).collect(),
                aliases: spans.iter().filter(|s| s.1).map(|s| s.0.clone()).collect(),
                default: cells[1].to_string(),
            }
        })
        .collect();
    assert!(rows.len() > 10, "the configuration table was not found");
    rows
}

/// `caisse config check --for tool` with nothing set: each printed line's name, value and origin.
fn config_check_lines() -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["config", "check", "--for", "tool"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    stdout
        .lines()
        .filter(|l| !l.starts_with("configuration OK"))
        .map(|line| {
            let (name, rest) = line.split_once(' ').expect("name, value, origin");
            let (value, origin) = rest.trim().rsplit_once("  (").expect("an origin");
            (
                name.to_string(),
                value.to_string(),
                origin.trim_end_matches(')').to_string(),
            )
        })
        .collect()
}

#[test]
fn the_readme_table_lists_what_config_check_prints() {
    let rows = readme_rows();
    let in_readme: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    let printed = config_check_lines();
    let printed_names: Vec<&str> = printed.iter().map(|l| l.0.as_str()).collect();

    let readme_set: BTreeSet<&str> = in_readme.iter().copied().collect();
    let printed_set: BTreeSet<&str> = printed_names.iter().copied().collect();
    assert_eq!(
        readme_set.len(),
        in_readme.len(),
        "a variable twice in the README"
    );
    assert_eq!(
        readme_set.difference(&printed_set).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "in the README's table but not printed by `caisse config check`"
    );
    assert_eq!(
        printed_set.difference(&readme_set).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "printed by `caisse config check` but missing from the README's table"
    );
    // config check prints every declared setting, once, in the declaration's order, which is
    // the table's order.
    let declared: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(printed_names, declared);
    assert_eq!(
        in_readme, declared,
        "the README's table is in another order"
    );

    for row in &rows {
        for alias in &row.aliases {
            assert!(
                ALIASES
                    .iter()
                    .any(|(a, name)| a == alias && row.names.iter().any(|n| n == name)),
                "{alias} is not a declared alias of {:?}",
                row.names
            );
        }
    }
}

#[test]
fn the_readme_table_gives_the_declared_defaults() {
    let mut wrong = Vec::new();
    for row in readme_rows() {
        for name in &row.names {
            let Some(setting) = SETTINGS.iter().find(|s| s.name == name) else {
                continue; // the test above names it
            };
            let cell = &row.default;
            if setting.default.is_empty() {
                if !(cell.starts_with("none") || cell.starts_with('—')) {
                    wrong.push(format!(
                        "{name} has no default: its cell must start with none or —, not {cell:?}"
                    ));
                }
            } else {
                let expected = format!("`{}`", setting.default);
                if !cell.starts_with(&expected) {
                    wrong.push(format!(
                        "{name}: its cell must start with {expected}, not {cell:?}"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the README's defaults disagree with SETTINGS:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn config_check_shows_the_declared_defaults() {
    for (name, value, origin) in config_check_lines() {
        assert_eq!(origin, "default", "{name}: nothing is set");
        let setting = SETTINGS.iter().find(|s| s.name == name).unwrap();
        if setting.default.is_empty() {
            assert_eq!(value, "(not set)", "{name}");
        } else if !setting.default.contains('{') {
            // Defaults naming another setting are filled in; the others are shown as declared.
            assert_eq!(value, setting.default, "{name}");
        }
    }
}
