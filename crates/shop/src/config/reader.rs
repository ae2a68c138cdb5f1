//! The reader the sections share: each value from the [`Source`] or, when unset, the default
//! declared in [`SETTINGS`](super::SETTINGS) — never a default of its own — recorded for the report
//! (secrets masked), and every problem collected as one line naming the variable.

use std::str::FromStr;

use super::settings::declared;
use super::{problem, ConfigError, Origin, Source};
use crate::secret::Secret;

pub(super) struct Reader<'a> {
    pub(super) source: &'a Source,
    pub(super) errors: Vec<ConfigError>,
    /// Each setting read, its shown value and its origin, in the order read.
    pub(super) report: Vec<(&'static str, String, Origin)>,
}

/// The declared default of `name`: every name the reader reads is a declared setting.
fn default_text(name: &str) -> &'static str {
    declared(name)
        .unwrap_or_else(|| panic!("{name} is read but not declared in SETTINGS"))
        .default
}

/// The declared default of `name` as a `T`.
fn default_value<T: FromStr>(name: &str) -> T {
    default_text(name)
        .parse()
        .unwrap_or_else(|_| panic!("the declared default of {name} does not parse"))
}

impl<'a> Reader<'a> {
    pub(super) fn new(source: &'a Source) -> Reader<'a> {
        Reader {
            source,
            errors: Vec::new(),
            report: Vec::new(),
        }
    }

    /// The value of `name` when set, without recording it.
    pub(super) fn raw(&mut self, name: &'static str) -> Option<(String, Origin)> {
        self.source.get(name)
    }

    /// The value or `default`, recorded for the report. Only for a value whose fallback is not
    /// a default (the publishable key, which may come from its alias).
    pub(super) fn value(&mut self, name: &'static str, default: &str) -> String {
        let (value, origin) = self
            .raw(name)
            .unwrap_or_else(|| (default.to_string(), Origin::Default));
        let secret = declared(name).is_some_and(|s| s.secret);
        let shown = if value.is_empty() {
            "(not set)".to_string()
        } else if secret && super::settings::CAPABILITY_URLS.contains(&name) {
            crate::secret::redact_capability_url(&value)
        } else if secret && super::settings::USER_IS_SECRET_URLS.contains(&name) {
            crate::secret::redact_url_user(&value)
        } else if secret && (value.contains("://") || name == super::settings::DATABASE_URL) {
            // (`sqlite:caisse.db` too: a URL without `//`, with nothing secret in it.)
            crate::secret::redact_url(&value)
        } else if secret {
            Secret::new(value.clone()).masked()
        } else {
            value.clone()
        };
        self.report.push((name, shown, origin));
        value
    }

    /// The value or the declared default, recorded for the report.
    pub(super) fn text(&mut self, name: &'static str) -> String {
        self.text_with(name, &[])
    }

    /// Like [`Reader::text`], the declared default's `{SETTING}` placeholders filled in from `vars`
    /// (`(SETTING, effective value)`).
    pub(super) fn text_with(&mut self, name: &'static str, vars: &[(&str, &str)]) -> String {
        let mut default = default_text(name).to_string();
        for (var, value) in vars {
            default = default.replace(&format!("{{{var}}}"), value);
        }
        self.value(name, &default)
    }

    /// The value parsed as a `T`; on a mistake, `problem` (of the parser's error) is recorded
    /// and the declared default stands in so that the other checks go on.
    pub(super) fn parsed<T: FromStr>(
        &mut self,
        name: &'static str,
        problem: impl FnOnce(T::Err) -> String,
    ) -> T {
        let text = self.text(name);
        text.parse().unwrap_or_else(|e| {
            let why = problem(e);
            self.fail(name, why);
            default_value(name)
        })
    }

    pub(super) fn number<T: FromStr>(&mut self, name: &'static str) -> T {
        self.parsed(name, |_| "must be a whole number".to_string())
    }

    pub(super) fn flag(&mut self, name: &'static str) -> bool {
        let text = self.text(name);
        flag_value(&text).unwrap_or_else(|| {
            self.fail(name, "must be true or false");
            flag_value(default_text(name)).expect("declared flags are true or false")
        })
    }

    /// One of `options`, compared exactly.
    pub(super) fn choice<T: Copy>(
        &mut self,
        name: &'static str,
        options: &[(&str, T)],
        problem: &str,
    ) -> T {
        let text = self.text(name);
        self.pick(name, &text, options, problem)
    }

    /// One of `options` (lower case), in any case.
    pub(super) fn choice_any_case<T: Copy>(
        &mut self,
        name: &'static str,
        options: &[(&str, T)],
        problem: &str,
    ) -> T {
        let text = self.text(name).to_ascii_lowercase();
        self.pick(name, &text, options, problem)
    }

    fn pick<T: Copy>(
        &mut self,
        name: &'static str,
        text: &str,
        options: &[(&str, T)],
        problem: &str,
    ) -> T {
        let find = |t: &str| options.iter().find(|(o, _)| *o == t).map(|(_, v)| *v);
        find(text).unwrap_or_else(|| {
            self.fail(name, problem);
            find(default_text(name)).expect("a declared default is one of its options")
        })
    }

    pub(super) fn fail(&mut self, name: &str, text: impl Into<String>) {
        self.errors.push(problem(name, text));
    }
}

fn flag_value(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
