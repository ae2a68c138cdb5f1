//! Where values come from: the environment over an optional `caisse.toml`, whose keys are the
//! settings' names in lower case. Empty strings count as unset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::settings::{declared, ALIASES, NOT_SETTINGS, SETTINGS};
use super::{problem, ConfigError, Origin};

/// The raw values: the environment over the optional file, empty strings counting as unset.
#[derive(Clone, Debug, Default)]
pub struct Source {
    env: BTreeMap<String, String>,
    pub(super) file: BTreeMap<String, String>,
    /// The settings `caisse dev` filled in (shown as coming from it).
    dev: std::collections::BTreeSet<String>,
    /// What is wrong with the file's keys (an unknown one), reported with the other problems so
    /// that `config check` still shows the rest.
    pub(super) problems: Vec<ConfigError>,
    pub file_path: Option<PathBuf>,
}

impl Source {
    /// The process environment and `path` (or `./caisse.toml` when it exists).
    pub fn from_process(path: Option<&Path>) -> Result<Source, ConfigError> {
        let mut source = Source {
            env: std::env::vars().collect(),
            ..Source::default()
        };
        let default = Path::new("caisse.toml");
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default.exists() => Some(default.to_path_buf()),
            None => None,
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| problem("--config", format!("cannot read {}: {e}", path.display())))?;
            (source.file, source.problems) = parse_file(&text, &path.display().to_string());
            source.file_path = Some(path);
        }
        Ok(source)
    }

    /// A source from explicit pairs, as if they were environment variables (tests, embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Source {
        Source {
            env: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Source::default()
        }
    }

    /// The value of `name`, from the environment or the file, when set and not empty.
    pub fn get_raw(&self, name: &str) -> Option<String> {
        self.get(name).map(|(v, _)| v)
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_string(), value.to_string());
    }

    /// Like [`Source::set`], for a value `caisse dev` chose: `config check` says so.
    pub fn set_by_dev(&mut self, name: &str, value: &str) {
        self.set(name, value);
        self.dev.insert(name.to_string());
    }

    /// The environment's `CAISSE_…` variables that are no setting, each named with the setting
    /// it is closest to: `CAISSE_SHIPING_COUNTRIES` set by mistake would otherwise leave the
    /// real setting at its default without a word.
    pub fn unknown_variables(&self) -> Vec<ConfigError> {
        self.env
            .keys()
            .filter(|k| k.starts_with("CAISSE_") && !k.starts_with("CAISSE_TEST_"))
            .filter(|k| declared(k).is_none() && !NOT_SETTINGS.contains(&k.as_str()))
            .map(|k| {
                let hint = closest(k)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                problem(
                    k,
                    format!("is not a setting caisse knows{hint}; it is ignored"),
                )
            })
            .collect()
    }

    pub(super) fn get(&self, name: &str) -> Option<(String, Origin)> {
        let non_empty = |v: &String| !v.trim().is_empty();
        if let Some(v) = self.env.get(name).filter(|v| non_empty(v)) {
            let origin = if self.dev.contains(name) {
                Origin::Dev
            } else {
                Origin::Env
            };
            return Some((v.trim().to_string(), origin));
        }
        self.file
            .get(&name.to_ascii_lowercase())
            .filter(|v| non_empty(v))
            .map(|v| (v.trim().to_string(), Origin::File))
    }
}

/// The declared setting nearest to `name` (at most three letters apart), for a typo's hint.
fn closest(name: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|s| (edit_distance(name, s.name), s.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, s)| s)
}

/// Levenshtein distance over bytes (setting names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The settings of the file named `name`, and a problem (named after the file) for each key that
/// is none, each value that is neither text nor a number, and a file that is not TOML (with its
/// line and column; then nothing of it is read, and the environment's settings stand alone, so
/// that `config check` still shows them).
pub(super) fn parse_file(text: &str, name: &str) -> (BTreeMap<String, String>, Vec<ConfigError>) {
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(e) => {
            let e: toml::de::Error = e;
            let at = e.span().map_or(String::new(), |span| {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            });
            return (
                BTreeMap::new(),
                vec![problem(name, format!("{at}{}", e.message()))],
            );
        }
    };
    let known: Vec<String> = SETTINGS
        .iter()
        .map(|s| s.name)
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .map(str::to_ascii_lowercase)
        .collect();
    let mut out = BTreeMap::new();
    let mut unknown = Vec::new();
    for (key, value) in table {
        if !known.contains(&key) {
            unknown.push(problem(name, format!("unknown setting `{key}`")));
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                unknown.push(problem(
                    name,
                    format!("`{key}` must be a string or a number"),
                ));
                continue;
            }
        };
        out.insert(key, text);
    }
    (out, unknown)
}
