//! docs/scenario.schema.json (the JSON Schema editors use to check scenario TOML, e.g. taplo /
//! Even Better TOML) is generated from the runner's types and is not stale; it accepts every
//! shipped scenario, each of which also parses; and it rejects the mistakes it can see.
//! Regenerate it with `UPDATE_SCHEMA=1 cargo test -p fleetbench-runner --test schema`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use fleetbench_runner::Scenario;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&fleetbench_runner::scenario::json_schema())
        .expect("a valid draft-07 schema")
}

#[test]
fn the_committed_schema_is_the_one_generated_from_the_types() {
    let generated =
        serde_json::to_string_pretty(&fleetbench_runner::scenario::json_schema()).unwrap() + "\n";
    let path = root().join("docs/scenario.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "docs/scenario.schema.json is stale: regenerate it with \
         UPDATE_SCHEMA=1 cargo test -p fleetbench-runner --test schema"
    );
}

fn as_json(toml_text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(toml_text).unwrap();
    serde_json::to_value(value).unwrap()
}

#[test]
fn every_shipped_scenario_validates_against_the_schema_and_parses() {
    let validator = validator();
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&text))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    assert!(n >= 9, "expected the nine shipped scenarios, found {n}");
}

#[test]
fn the_schema_rejects_what_it_can_see() {
    let validator = validator();
    let base = std::fs::read_to_string(root().join("scenarios/tiny.toml")).unwrap();
    assert!(validator.is_valid(&as_json(&base)));
    for (from, to) in [
        ("name = \"tiny\"", "name = \"tiny one\""),
        ("count = 20", "count = 0"),
        ("rate = 50", "rate = -1"),
        ("interval = \"5ms\"", "interval = 5"),
        ("interval = \"5ms\"", "intervall = \"5ms\""),
        ("kind = \"any\"", "kind = \"everything\""),
        (
            "distribution = \"fixed\", value = \"20ms\"",
            "distribution = \"fixed\", mean = \"20ms\"",
        ),
        ("endpoint = \"/3/0/0\"", "endpoint = \"3/0/0\""),
    ] {
        assert!(base.contains(from), "{from}");
        let bad = base.replacen(from, to, 1);
        assert!(!validator.is_valid(&as_json(&bad)), "accepted `{to}`");
        assert!(
            Scenario::from_str(&bad, "bad.toml").is_err(),
            "runner accepted `{to}`"
        );
    }
}
