//! Every manifest under deploy/kubernetes, read into the typed Kubernetes API structs and
//! written back: what does not survive the round trip is a field Kubernetes does not know.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use serde::Deserialize;
use serde_json::Value;

fn kubernetes() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

/// The kustomization fields these files use; anything else is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Kustomization {
    api_version: String,
    kind: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Vec<Value>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    images: Vec<ImageOverride>,
    #[serde(default)]
    patches: Vec<PatchRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct ImageOverride {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRef {
    target: PatchTarget,
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PatchTarget {
    group: Option<String>,
    version: String,
    kind: String,
    name: String,
}

fn kustomization(dir: &Path) -> Kustomization {
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let k: Kustomization = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{}/kustomization.yaml: {e}", dir.display()));
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");
    k
}

/// Reads `value` as `T` and back; panics naming `file` when anything differs.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(file: &str, value: &Value) -> T {
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{file}: not a valid object of its kind: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, value,
        "{file}: a field is unknown, misspelled or mistyped (left: as Kubernetes reads it)"
    );
    typed
}

/// Checks one manifest by its kind; returns its kind and name.
fn check(file: &str, value: &Value) -> (String, String) {
    let kind = value["kind"].as_str().unwrap_or_default().to_owned();
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match kind.as_str() {
        "Deployment" => drop(round_trip::<Deployment>(file, value)),
        "Service" => drop(round_trip::<Service>(file, value)),
        "Job" => drop(round_trip::<Job>(file, value)),
        "ConfigMap" => drop(round_trip::<ConfigMap>(file, value)),
        "Secret" => drop(round_trip::<Secret>(file, value)),
        "PersistentVolumeClaim" => drop(round_trip::<PersistentVolumeClaim>(file, value)),
        other => panic!("{file}: no typed check for kind {other:?}"),
    }
    (kind, name)
}

/// The base's manifests by (kind, name), each checked.
fn base() -> BTreeMap<(String, String), Value> {
    let dir = kubernetes().join("base");
    let k = kustomization(&dir);
    let mut docs = BTreeMap::new();
    for resource in &k.resources {
        let text = std::fs::read_to_string(dir.join(resource))
            .unwrap_or_else(|e| panic!("base/{resource}: {e}"));
        let value: Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("base/{resource}: not YAML: {e}"));
        let key = check(&format!("base/{resource}"), &value);
        assert!(docs.insert(key.clone(), value).is_none(), "{key:?} twice");
    }
    docs
}

fn job(docs: &BTreeMap<(String, String), Value>, name: &str) -> Job {
    serde_json::from_value(docs[&("Job".to_owned(), name.to_owned())].clone()).unwrap()
}

fn env_value(c: &k8s_openapi::api::core::v1::Container, name: &str) -> Option<String> {
    c.env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .clone()
}

/// The shard Job is Indexed with completions = parallelism = SHARDS, and the merge Job waits
/// for the same number of shards.
fn check_shard_counts(docs: &BTreeMap<(String, String), Value>, where_: &str) -> i32 {
    let shards = job(docs, "fleetbench-shards");
    let spec = shards.spec.unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"), "{where_}");
    let n = spec.completions.unwrap();
    assert_eq!(
        spec.parallelism,
        Some(n),
        "{where_}: parallelism != completions"
    );
    let pod = spec.template.spec.unwrap();
    let shard = &pod.containers[0];
    assert_eq!(env_value(shard, "SHARDS"), Some(n.to_string()), "{where_}");
    let args = shard.args.clone().unwrap();
    assert!(
        args.contains(&"--shard=auto/$(SHARDS)".to_owned()),
        "{where_}: {args:?}"
    );
    let merge = job(docs, "fleetbench-merge")
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let wait = &merge.init_containers.unwrap()[0];
    assert_eq!(
        env_value(wait, "SHARDS"),
        Some(n.to_string()),
        "{where_}: merge waits for another N"
    );
    n
}

#[test]
fn every_base_manifest_is_a_valid_typed_object() {
    let docs = base();
    for kind in [
        "Deployment",
        "Service",
        "Job",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
    ] {
        assert!(docs.keys().any(|(k, _)| k == kind), "no {kind} in the base");
    }
    check_shard_counts(&docs, "base");

    // The Service carries HTTP over TCP and CoAP over UDP.
    let service: Service = serde_json::from_value(
        docs[&("Service".to_owned(), "fleetbench-gateway".to_owned())].clone(),
    )
    .unwrap();
    let ports = service.spec.unwrap().ports.unwrap();
    let protocols: Vec<_> = ports
        .iter()
        .map(|p| (p.port, p.protocol.clone().unwrap_or_default()))
        .collect();
    assert_eq!(protocols, vec![(8080, "TCP".into()), (5683, "UDP".into())]);

    // Every container asks for CPU and memory.
    for ((kind, name), value) in &docs {
        let pod = match kind.as_str() {
            "Job" => value["spec"]["template"]["spec"].clone(),
            "Deployment" => value["spec"]["template"]["spec"].clone(),
            _ => continue,
        };
        for c in pod["containers"].as_array().unwrap() {
            let requests = &c["resources"]["requests"];
            assert!(
                requests["cpu"].is_string() && requests["memory"].is_string(),
                "{kind}/{name}"
            );
        }
    }

    // The scenario is valid and the common start is an RFC 3339 instant.
    let config: ConfigMap = serde_json::from_value(
        docs[&("ConfigMap".to_owned(), "fleetbench-scenario".to_owned())].clone(),
    )
    .unwrap();
    let data = config.data.unwrap();
    fleetbench_runner::Scenario::from_str(&data["scenario.toml"], "scenario.toml")
        .unwrap_or_else(|e| panic!("the ConfigMap's scenario.toml: {e}"));
    time::OffsetDateTime::parse(
        &data["START_AT"],
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
}

#[test]
fn the_example_overlay_patches_into_valid_objects() {
    let dir = kubernetes().join("overlays/example");
    let k = kustomization(&dir);
    assert_eq!(k.resources, vec!["../../base".to_owned()]);
    let mut docs = base();
    assert!(!k.patches.is_empty());
    for p in &k.patches {
        let key = (p.target.kind.clone(), p.target.name.clone());
        let doc = docs
            .get_mut(&key)
            .unwrap_or_else(|| panic!("patch {} targets {key:?}, not in the base", p.path));
        let text = std::fs::read_to_string(dir.join(&p.path)).unwrap();
        let patch: json_patch::Patch = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a JSON patch: {e}", p.path));
        json_patch::patch(doc, &patch).unwrap_or_else(|e| panic!("{}: {e}", p.path));
        check(&format!("overlays/example/{} applied", p.path), doc);
    }
    assert_eq!(check_shard_counts(&docs, "overlay"), 4);
}
