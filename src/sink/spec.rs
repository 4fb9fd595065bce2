//! [`SinkSpec`]: the sinks a configuration file can name, as data, built on demand.
//!
//! A reload compares the specs it reads with those running and builds only the new ones
//! (see [`super::SinkSet`]).

use std::fs::File;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{JsonLinesSink, Sink};

/// One sink of a configuration file: a table with a `kind` and that kind's keys (an unknown
/// kind or key is an error naming it). `name` names the sink in a [`super::SinkSet`] (default:
/// [`SinkSpec::name`]); `samples = false` writes events, audit records and drop reports only
/// ([`JsonLinesSink::samples`]; default `true`).
///
/// ```
/// use tickwatch::sink::SinkSpec;
///
/// #[derive(serde::Deserialize)]
/// struct File {
///     #[serde(default)]
///     sinks: Vec<SinkSpec>,
/// }
/// let file: File = toml::from_str(
///     "[[sinks]]\nkind = \"json_lines\"\npath = \"/var/log/engine.jsonl\"\n\n\
///      [[sinks]]\nkind = \"stdout\"\nsamples = false\n",
/// )?;
/// let names: Vec<String> = file.sinks.iter().map(SinkSpec::name).collect();
/// assert_eq!(names, ["json_lines:/var/log/engine.jsonl", "stdout"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SinkSpec {
    /// JSON lines appended to a file (created if missing; its directory must exist).
    JsonLines {
        /// The file.
        path: PathBuf,
        /// The member's name, if not `json_lines:<path>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Whether samples are written too (default `true`).
        #[serde(default = "yes")]
        samples: bool,
    },
    /// JSON lines on standard output.
    Stdout {
        /// The member's name, if not `stdout`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Whether samples are written too (default `true`).
        #[serde(default = "yes")]
        samples: bool,
    },
}

fn yes() -> bool {
    true
}

impl SinkSpec {
    /// The name given, else `json_lines:<path>` or `stdout`.
    pub fn name(&self) -> String {
        match self {
            SinkSpec::JsonLines { name: Some(n), .. } | SinkSpec::Stdout { name: Some(n), .. } => {
                n.clone()
            }
            SinkSpec::JsonLines { path, .. } => format!("json_lines:{}", path.display()),
            SinkSpec::Stdout { .. } => "stdout".to_owned(),
        }
    }

    /// Builds the sink: a file is opened for appending (created if missing, its parent
    /// directory never is). A failure's message names the path.
    pub fn build(&self) -> io::Result<Box<dyn Sink>> {
        match self {
            SinkSpec::JsonLines { path, samples, .. } => {
                let file = File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        let missing_dir = path
                            .parent()
                            .filter(|d| !d.as_os_str().is_empty() && !d.is_dir());
                        let msg = match missing_dir {
                            Some(d) => format!(
                                "sink file {}: directory {} does not exist ({e})",
                                path.display(),
                                d.display()
                            ),
                            None => format!("sink file {}: {e}", path.display()),
                        };
                        io::Error::new(e.kind(), msg)
                    })?;
                Ok(Box::new(JsonLinesSink::new(file).samples(*samples)))
            }
            SinkSpec::Stdout { samples, .. } => {
                Ok(Box::new(JsonLinesSink::stdout().samples(*samples)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Conf {
        #[serde(default)]
        sinks: Vec<SinkSpec>,
    }

    fn parse(text: &str) -> Result<Conf, toml::de::Error> {
        toml::from_str(text)
    }

    /// A directory of its own under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "tickwatch-spec-{tag}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn sink_specs_round_trip_through_toml_as_sinks_tables() {
        let conf = Conf {
            sinks: vec![
                SinkSpec::JsonLines {
                    path: "/var/log/a.jsonl".into(),
                    name: Some("audit".into()),
                    samples: false,
                },
                SinkSpec::JsonLines {
                    path: "b.jsonl".into(),
                    name: None,
                    samples: true,
                },
                SinkSpec::Stdout {
                    name: None,
                    samples: true,
                },
            ],
        };
        let text = toml::to_string(&conf).unwrap();
        assert_eq!(text.matches("[[sinks]]").count(), 3, "{text}");
        assert_eq!(parse(&text).unwrap(), conf, "{text}");
        assert_eq!(parse("").unwrap(), Conf { sinks: vec![] });
    }

    #[test]
    fn omitted_keys_take_their_defaults_and_names() {
        let conf = parse(
            "[[sinks]]\nkind = \"json_lines\"\npath = \"x/y.jsonl\"\n\n[[sinks]]\nkind = \"stdout\"\n",
        )
        .unwrap();
        assert_eq!(
            conf.sinks,
            [
                SinkSpec::JsonLines {
                    path: "x/y.jsonl".into(),
                    name: None,
                    samples: true,
                },
                SinkSpec::Stdout {
                    name: None,
                    samples: true,
                },
            ]
        );
        let names: Vec<String> = conf.sinks.iter().map(SinkSpec::name).collect();
        assert_eq!(names, ["json_lines:x/y.jsonl", "stdout"]);
        let named = SinkSpec::Stdout {
            name: Some("console".into()),
            samples: true,
        };
        assert_eq!(named.name(), "console");
    }

    #[test]
    fn an_unknown_key_or_kind_is_an_error_naming_it() {
        for (text, named) in [
            (
                "[[sinks]]\nkind = \"json_lines\"\npath = \"a\"\nsampels = true\n",
                "sampels",
            ),
            ("[[sinks]]\nkind = \"stdout\"\npath = \"a\"\n", "path"),
            ("[[sinks]]\nkind = \"syslog\"\n", "syslog"),
            ("[[sinks]]\npath = \"a\"\n", "kind"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(named), "{text:?}: {e}");
        }
    }

    #[test]
    fn build_in_a_missing_directory_is_an_error_naming_the_path() {
        let tmp = TempDir::new("missing");
        let path = tmp.0.join("no-such-dir").join("out.jsonl");
        let spec = SinkSpec::JsonLines {
            path: path.clone(),
            name: None,
            samples: true,
        };
        let e = spec.build().err().expect("a missing directory is an error");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(!path.parent().unwrap().exists(), "no directory is created");
    }
}
