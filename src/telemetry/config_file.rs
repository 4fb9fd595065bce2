//! A [`Config`] from a TOML file: every error names the key and the line it is on, and
//! environment variables `TICKWATCH_SECTION__KEY` override the file.
//!
//! Loading is three checks in order, each stopping at its first error: the file's syntax
//! and types (an unknown key, a wrong type: the line and column of the offending text, the
//! key's dotted path), then each environment override applied on top (naming the
//! variable), then the value checks `start()` makes ([`Config::validate`]: the key, and its
//! line when the file sets it).

use std::fmt;
use std::path::Path;

use super::{Config, StartError};

/// Where a configuration error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSource {
    /// The file (or text) being loaded.
    File,
    /// An environment override: the variable's name.
    Env(String),
}

/// Why a configuration was refused: what, and where.
///
/// ```
/// let e = tickwatch::Config::from_toml("[pipeline]\nring_capacity = 100\nlevel = \"loud\"\n")
///     .unwrap_err();
/// assert_eq!(e.key.as_deref(), Some("pipeline.level"));
/// assert_eq!(e.line, Some(3));
/// assert!(e.to_string().starts_with("line 3, column 9: pipeline.level: "), "{e}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file or an environment variable.
    pub source: ConfigSource,
    /// The dotted path of the key (`pipeline.ring_capacity`), when it can be named.
    pub key: Option<String>,
    /// 1-based line in the file, when the error points into it.
    pub line: Option<usize>,
    /// 1-based column (in characters) in that line.
    pub column: Option<usize>,
    /// What is wrong and, where the check knows it, what is accepted.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ConfigSource::Env(var) = &self.source {
            write!(f, "environment variable {var}: ")?;
        }
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The prefix of an override variable; `__` separates the path's parts.
pub(crate) const ENV_PREFIX: &str = "TICKWATCH_";

impl Config {
    /// Reads `text` as TOML and checks it ([`Config::validate`]); no environment overrides.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_toml_with_env(text, std::iter::empty::<(String, String)>())
    }

    /// Reads `text`, applies the overrides among `env` (pairs of name and value; names not
    /// starting with `TICKWATCH_` or without a `__` are ignored), then checks the result.
    /// `TICKWATCH_PIPELINE__RING_CAPACITY=65536` sets `[pipeline] ring_capacity`;
    /// `TICKWATCH_MONITORING__BUDGET__LOGGING_CPU_RATIO=0.03` a key of an inline table. A
    /// value is read as a TOML value when it is one (`65536`, `true`, `"1s"`, `[1, 2]`),
    /// else as a string (`1s`, `info`).
    ///
    /// ```
    /// let env = [("TICKWATCH_PIPELINE__LEVEL".to_string(), "warn".to_string())];
    /// let c = tickwatch::Config::from_toml_with_env("[pipeline]\nlevel = \"info\"\n", env)?;
    /// assert_eq!(c.pipeline.level, tickwatch::Level::Warn);
    /// # Ok::<(), tickwatch::ConfigError>(())
    /// ```
    pub fn from_toml_with_env<I, K, V>(text: &str, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config: Config = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let overrides: Vec<(String, Vec<String>, String)> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let path = override_path(k.as_ref())?;
                Some((k.as_ref().to_owned(), path, v.as_ref().to_owned()))
            })
            .collect();
        if !overrides.is_empty() {
            // Parsed once more as a table, the overrides set into it one at a time, so an
            // error names the variable that caused it.
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
            for (var, path, raw) in overrides {
                let env_error = |message: String| ConfigError {
                    source: ConfigSource::Env(var.clone()),
                    key: Some(path.join(".")),
                    line: None,
                    column: None,
                    message,
                };
                set_path(&mut table, &path, parse_env_value(&raw)).map_err(env_error)?;
                config = toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e: toml::de::Error| env_error(e.message().to_owned()))?;
            }
        }
        config.validate().map_err(|e| validation_error(text, &e))?;
        Ok(config)
    }

    /// Reads the file at `path` and the process's `TICKWATCH_*` environment overrides
    /// ([`Config::from_toml_with_env`]). What `tickwatch-log check-config FILE` runs.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source: ConfigSource::File,
            key: None,
            line: None,
            column: None,
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::from_toml_with_env(&text, std::env::vars())
    }

    /// The configuration as TOML text, every key written out: [`Config::from_toml`] reads
    /// it back equal.
    pub fn to_toml(&self) -> String {
        // Every field is plain data with a TOML form: serialisation cannot fail.
        toml::to_string(self).unwrap_or_default()
    }
}

/// `TICKWATCH_PIPELINE__RING_CAPACITY` -> `["pipeline", "ring_capacity"]`.
fn override_path(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    if !rest.contains("__") {
        return None;
    }
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty path")?;
    let mut t = table;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is a value in the file, not a table"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

/// 1-based line and column (in characters) of byte `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The `[section]` (or `[[section]]`) header in force on the line of byte `at` (a header
/// on that line itself is not in force yet: its own name is the key in error), if any.
fn section_at(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at.min(text.len())).unwrap_or("");
    let before = &before[..before.rfind('\n').map_or(0, |i| i + 1)];
    before.lines().rev().find_map(|l| {
        let l = l.trim();
        let inner = l.strip_prefix('[')?.split(']').next()?;
        let inner = inner.trim_start_matches('[').trim();
        (!inner.is_empty()).then(|| inner.to_owned())
    })
}

/// The key being set where byte `at` is: the last `key =` on its line before it.
fn key_at(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at.min(text.len())).unwrap_or("");
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    // The key itself (an unknown key's span starts on it): up to the `=` after it.
    let here = text.get(at.min(text.len())..).unwrap_or("");
    let word: String = here
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if !word.is_empty() && here[word.len()..].trim_start().starts_with('=') {
        return Some(word);
    }
    let eq = line.rfind('=')?;
    let key = line[..eq].trim_end();
    let key = &key[key
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |i| i + 1)..];
    (!key.is_empty()).then(|| key.to_owned())
}

/// The keys of the inline tables still open at byte `at` on its line:
/// `budget = { bogus = 1 }` has `budget` open at `bogus`.
fn inline_parents(text: &str, at: usize) -> Vec<String> {
    let before = text.get(..at.min(text.len())).unwrap_or("");
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let mut open = Vec::new();
    for (i, c) in line.char_indices() {
        match c {
            '{' => open.push(key_at(line, i).unwrap_or_default()),
            '}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.retain(|k| !k.is_empty());
    open
}

fn dotted(section: Option<String>, parents: Vec<String>, key: Option<String>) -> Option<String> {
    let parts: Vec<String> = section.into_iter().chain(parents).chain(key).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    let Some(span) = e.span() else {
        return ConfigError {
            source: ConfigSource::File,
            key: None,
            line: None,
            column: None,
            message,
        };
    };
    let (line, column) = line_col(text, span.start);
    // serde's "unknown field `x`" names the key; else the key on that line.
    let named = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
        .map(str::to_owned);
    let key = dotted(
        section_at(text, span.start),
        inline_parents(text, span.start),
        named.or_else(|| key_at(text, span.start)),
    );
    ConfigError {
        source: ConfigSource::File,
        key,
        line: Some(line),
        column: Some(column),
        message,
    }
}

/// The key a validation error is about, and its line in `text` if the file sets it.
fn validation_error(text: &str, e: &StartError) -> ConfigError {
    // An array-of-tables section (`[[rules]]`): the key is the section, the line its n-th
    // table's header.
    let table = |name: &str, index: Option<usize>| {
        let header = format!("[[{name}]]");
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == header)
            .nth(index.unwrap_or(0))
            .map(|(i, _)| i + 1);
        ConfigError {
            source: ConfigSource::File,
            key: Some(match index {
                Some(i) => format!("{name}[{i}]"),
                None => name.to_owned(),
            }),
            line,
            column: None,
            message: e.to_string(),
        }
    };
    match e {
        StartError::AlertRules(r) => return table("rules", Some(r.index)),
        StartError::Section { key, .. } => return table(key, None),
        _ => {}
    }
    let key = match e {
        StartError::RingCapacity { .. } => Some("ring_capacity"),
        StartError::MaxStringLen { .. } => Some("max_string_len"),
        StartError::MaxSeries { .. } => Some("max_series"),
        StartError::Interval { option, .. } => Some(*option),
        StartError::LatencyBuckets { .. } => Some("latency_buckets"),
        StartError::TargetLevel { .. } => Some("targets"),
        _ => None,
    };
    let line = key.and_then(|k| {
        let mut in_pipeline = false;
        text.lines().position(|l| {
            let l = l.trim();
            if l.starts_with('[') {
                in_pipeline = l.trim_matches(|c| c == '[' || c == ']').trim() == "pipeline";
                return false;
            }
            in_pipeline
                && l.strip_prefix(k)
                    .is_some_and(|r| r.trim_start().starts_with('='))
        })
    });
    ConfigError {
        source: ConfigSource::File,
        key: key.map(|k| format!("pipeline.{k}")),
        line: line.map(|l| l + 1),
        column: None,
        message: e.to_string(),
    }
}

impl super::Telemetry {
    /// Starts an instance with every setting of `config` (and nothing else: add sinks and
    /// the rest with [`TelemetryBuilder::with_config`](super::TelemetryBuilder::with_config)).
    ///
    /// ```
    /// let config = tickwatch::Config::from_toml("[pipeline]\nring_capacity = 65536\n")?;
    /// let tw = tickwatch::Telemetry::from_config(config)?;
    /// tw.counter("orders_sent", &[]).add(1);
    /// tw.flush()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: Config) -> Result<super::Telemetry, StartError> {
        super::Telemetry::builder().with_config(config).start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_names_map_to_paths_and_others_are_ignored() {
        assert_eq!(
            override_path("TICKWATCH_PIPELINE__RING_CAPACITY"),
            Some(vec!["pipeline".into(), "ring_capacity".into()])
        );
        assert_eq!(override_path("TICKWATCH_LOG"), None);
        assert_eq!(override_path("TICKWATCH___X"), None);
        assert_eq!(override_path("PATH"), None);
    }

    #[test]
    fn env_values_are_toml_when_they_parse_and_strings_otherwise() {
        assert_eq!(parse_env_value("65536"), toml::Value::Integer(65536));
        assert_eq!(parse_env_value("true"), toml::Value::Boolean(true));
        assert_eq!(parse_env_value("1s"), toml::Value::String("1s".into()));
        assert_eq!(parse_env_value("\"1s\""), toml::Value::String("1s".into()));
    }

    #[test]
    fn lines_and_columns_count_characters() {
        assert_eq!(line_col("a\nbé c", 6), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
