//! Property tests: no settings file or job file, however odd, makes loading panic. Documents
//! are generated over the keys the loader knows (taken from the serde structs themselves),
//! with arbitrary values in every key, and as raw bytes. The number of cases defaults to
//! 128 per property (PROPTEST_CASES overrides it).

use proptest::prelude::*;
use toml::Value;

use super::files::SETTINGS;
use super::jobs::raw::{RawJob, COMMON_JOB_KEYS, KIND_KEYS};
use super::parse::fields_of;

pub(crate) fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    // Failures are reported with their minimal input; no files beside the sources.
    c.failure_persistence = None;
    c
}

/// Text of every sort the keys meet: durations (overlong ones too), the words of the
/// choice keys, URLs, templates, anything.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}(ms|s|m|h|d|w)?( ?[0-9]{1,3}(s|m|h))?",
        Just("99999999999d".to_string()),
        Just(String::new()),
        "(minute|hour|day|day_noon|never|every|5min|10min|state_change|starttls|tls|none|info|warn|A|AAAA|MX|TXT|slack|discord|ntfy|generic|GET|POST)",
        "(http|https|ftp)://[a-z0-9.:@/%{}\\[\\]-]{0,24}",
        "[a-z./]{0,12}\\{target\\}[a-z./]{0,6}",
        "\\{\\{ ?[a-z_]{1,12}(\\|[a-z]{1,8}(\\([0-9]{1,10}\\))?)? ?\\}\\}",
        "\\{% (for a in range\\([0-9]{1,7}\\)|if [a-z_]{1,10}) %\\}x",
        "\\PC{0,16}",
        any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => text().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::Integer),
        2 => prop_oneof![Just(0i64), Just(-1), Just(1), Just(65_536), 1i64..1000].prop_map(Value::Integer),
        1 => any::<f64>().prop_map(Value::Float),
        1 => any::<bool>().prop_map(Value::Boolean),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z_ =/-]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A value of the type `key` takes (in any table), with arbitrary content: documents
/// that get past the types reach the checks of every value.
fn typed(key: &'static str) -> BoxedStrategy<Value> {
    let ints = || {
        prop_oneof![any::<i64>(), -2i64..70_000, Just(i64::MAX), Just(i64::MIN)]
            .prop_map(Value::Integer)
    };
    let texts =
        || prop::collection::vec(text().prop_map(Value::String), 0..4).prop_map(Value::Array);
    let map = || {
        prop::collection::btree_map(text(), text().prop_map(Value::String), 0..4)
            .prop_map(|m| Value::Table(m.into_iter().collect()))
    };
    match key {
        "failures_before_notify"
        | "retries"
        | "port"
        | "warn_days"
        | "min_size"
        | "history_days"
        | "max_concurrency"
        | "max_bytes"
        | "backups"
        | "smtp_port"
        | "imap_port"
        | "priority"
        | "max_connections" => ints().boxed(),
        "enabled"
        | "notify_recovery"
        | "follow_redirects"
        | "accept_invalid_certs"
        | "verify"
        | "warning_is_failure"
        | "bust_threading"
        | "digest" => any::<bool>().prop_map(Value::Boolean).boxed(),
        "notify" | "targets" | "command" => texts().boxed(),
        "expect" | "contact" | "alertcontact" | "admin" => {
            prop_oneof![text().prop_map(Value::String), texts()].boxed()
        }
        "expect_status" => prop_oneof![
            ints(),
            prop::collection::vec(-1i64..700, 0..4)
                .prop_map(|v| Value::Array(v.into_iter().map(Value::Integer).collect()))
        ]
        .boxed(),
        "headers" | "env" => map().boxed(),
        "json" => value().boxed(),
        "retry" | "expire" => prop_oneof![ints(), text().prop_map(Value::String)].boxed(),
        _ => text().prop_map(Value::String).boxed(),
    }
}

/// A table holding some of `keys`, each with a value of its type.
fn typed_table(keys: Vec<&'static str>) -> impl Strategy<Value = toml::Table> {
    prop::collection::vec(prop::sample::select(keys), 0..10)
        .prop_flat_map(|ks| {
            ks.into_iter()
                .map(|k| typed(k).prop_map(move |v| (k.to_string(), v)))
                .collect::<Vec<_>>()
        })
        .prop_map(|pairs| pairs.into_iter().collect())
}

/// A table holding some of `keys` (and now and then a key of no table) with any values.
fn table(keys: &'static [&'static str]) -> impl Strategy<Value = toml::Table> {
    let key = prop_oneof![
        9 => prop::sample::select(keys).prop_map(str::to_string),
        1 => "[a-z_]{1,10}",
    ];
    prop::collection::btree_map(key, value(), 0..8).prop_map(|m| m.into_iter().collect())
}

fn settings() -> impl Strategy<Value = toml::Table> {
    settings_with(table)
}

fn typed_settings() -> impl Strategy<Value = toml::Table> {
    settings_with(|keys| typed_table(keys.to_vec()).boxed())
}

fn settings_with<S: Strategy<Value = toml::Table> + 'static>(
    table: impl Fn(&'static [&'static str]) -> S,
) -> impl Strategy<Value = toml::Table> {
    let section = |name: &'static str| {
        let schema = SETTINGS
            .children
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, s)| *s)
            .expect("a settings section");
        (schema.keys)()
    };
    (
        prop::option::of(table(section("general"))),
        prop::option::of(table(section("logging"))),
        prop::option::of(table(section("email"))),
        prop::option::of(table(section("defaults"))),
        prop::option::of(table(section("serve"))),
        prop::option::of(table(section("pushover"))),
        prop::collection::vec(table(section("commands")), 0..3),
        prop::collection::vec(table(section("webhooks")), 0..3),
        prop::collection::vec(table(section("peers")), 0..3),
    )
        .prop_map(
            |(general, logging, email, defaults, serve, pushover, commands, webhooks, peers)| {
                let mut doc = toml::Table::new();
                // Always this folder: a generated `jobs_dir` could name any on the machine.
                let mut general = general.unwrap_or_default();
                general.insert("jobs_dir".into(), Value::String("jobs".into()));
                doc.insert("general".into(), Value::Table(general));
                for (name, t) in [
                    ("logging", logging),
                    ("email", email),
                    ("defaults", defaults),
                    ("serve", serve),
                    ("pushover", pushover),
                ] {
                    if let Some(t) = t {
                        doc.insert(name.into(), Value::Table(t));
                    }
                }
                for (name, list) in [
                    ("commands", commands),
                    ("webhooks", webhooks),
                    ("peers", peers),
                ] {
                    if !list.is_empty() {
                        doc.insert(
                            name.into(),
                            Value::Array(list.into_iter().map(Value::Table).collect()),
                        );
                    }
                }
                doc
            },
        )
}

fn jobs() -> impl Strategy<Value = toml::Table> {
    jobs_with(table(fields_of::<RawJob>()).boxed())
}

fn typed_jobs() -> impl Strategy<Value = toml::Table> {
    // A kind's own keys, mostly, so the checks of each kind are reached.
    let per_kind: Vec<Vec<&'static str>> = KIND_KEYS
        .iter()
        .map(|(_, own)| {
            let mut keys = own.to_vec();
            keys.extend(COMMON_JOB_KEYS.iter().filter(|k| **k != "targets"));
            keys
        })
        .collect();
    let keys = prop::sample::select(per_kind).prop_flat_map(typed_table);
    jobs_with(keys.boxed())
}

fn jobs_with(table: BoxedStrategy<toml::Table>) -> impl Strategy<Value = toml::Table> {
    let kinds: Vec<&'static str> = KIND_KEYS.iter().map(|(k, _)| *k).collect();
    let job = (
        table,
        prop::option::of(prop::sample::select(kinds)),
        prop::option::of("[a-z {}]{1,8}"),
    )
        .prop_map(|(mut t, kind, name)| {
            // Mostly real kinds and names, so validation goes past the first question.
            if let Some(k) = kind {
                t.insert("kind".into(), Value::String(k.into()));
            }
            if let Some(n) = name {
                t.insert("name".into(), Value::String(n));
            }
            t
        });
    prop::collection::vec(job, 0..4).prop_map(|jobs| {
        let mut doc = toml::Table::new();
        doc.insert(
            "job".into(),
            Value::Array(jobs.into_iter().map(Value::Table).collect()),
        );
        doc
    })
}

/// Loads `settings` and `job_file` from a fresh folder; the outcome does not matter, only
/// that there is one.
fn load(settings: &[u8], job_file: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("jobs")).expect("jobs dir");
    std::fs::write(dir.path().join("settings.toml"), settings).expect("settings");
    std::fs::write(dir.path().join("jobs/j.toml"), job_file).expect("job file");
    let _ = crate::config::load(&dir.path().join("settings.toml"));
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn no_settings_and_job_files_over_the_known_keys_make_loading_panic(
        s in settings(),
        j in jobs(),
    ) {
        // Some values have no TOML form (a table key TOML cannot write): nothing to load.
        let (Ok(s), Ok(j)) = (toml::to_string(&s), toml::to_string(&j)) else {
            return Ok(());
        };
        load(s.as_bytes(), j.as_bytes());
    }

    #[test]
    fn no_values_of_the_right_types_make_loading_panic(
        s in typed_settings(),
        j in typed_jobs(),
    ) {
        let (Ok(s), Ok(j)) = (toml::to_string(&s), toml::to_string(&j)) else {
            return Ok(());
        };
        load(s.as_bytes(), j.as_bytes());
    }

    #[test]
    fn no_bytes_make_loading_panic(
        s in prop::collection::vec(any::<u8>(), 0..256),
        j in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        load(&s, &j);
    }

    #[test]
    fn no_text_near_toml_makes_loading_panic(
        s in "(\\[general\\]\n|\\[\\[job\\]\\]\n|[a-z_]{1,12} = |\"[^\"\n]{0,10}\"\n|[0-9]{1,20}\n|\\[|\\]|=|\n){0,24}",
        j in "(\\[\\[job\\]\\]\n|name = \"x\"\n|kind = \"(http|tcp|command|passive)\"\n|[a-z_]{1,12} = |\"[^\"\n]{0,10}\"\n|[0-9]{1,20}\n|\\[|\\]|=|\n){0,24}",
    ) {
        load(s.as_bytes(), j.as_bytes());
    }
}
