//! Checks the deployment files under `deploy/` (and the example config) without a cluster:
//! every Kubernetes manifest parses, the probes are gRPC health probes on the gRPC port, the
//! Service/PDB/HPA point at the Deployment's pods, only the documented `LIVEPK_*` variables are
//! used, kustomization lists every manifest, and the Dockerfile is a multi-stage build.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

const GRPC_PORT: u64 = 50051;
const METRICS_PORT: u64 = 9464;

/// The environment variables the server reads (issue 2, item 2). The manifests may use no other.
const ALLOWED_ENV: &[&str] = &[
    "LIVEPK_LISTEN",
    "LIVEPK_REDIS_URL",
    "LIVEPK_KEY_PREFIX",
    "LIVEPK_DATABASE_URL",
    "LIVEPK_AUTH_TOKEN",
    "LIVEPK_ADMIN_TOKEN",
    "LIVEPK_METRICS_LISTEN",
    "LIVEPK_LOG_FORMAT",
    "LIVEPK_ADDRESS_FILE",
    "LIVEPK_INSECURE",
    "LIVEPK_MAX_CLOCK_SKEW_MS",
];

/// Secret keys: these must not be in the ConfigMap.
const SECRET_ENV: &[&str] =
    &["LIVEPK_AUTH_TOKEN", "LIVEPK_ADMIN_TOKEN", "LIVEPK_REDIS_URL", "LIVEPK_DATABASE_URL"];

/// Files in deploy/k8s that kustomization.yaml must NOT list.
const NOT_IN_KUSTOMIZATION: &[&str] = &["kustomization.yaml", "secret.example.yaml"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k8s_dir() -> PathBuf {
    repo().join("deploy").join("k8s")
}

struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

fn yaml_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(k8s_dir())
        .expect("deploy/k8s exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml") | Some("yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in deploy/k8s");
    files
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every YAML document of every file under deploy/k8s (multi-document files included).
fn load_docs() -> Vec<Doc> {
    let mut docs = Vec::new();
    for path in yaml_files() {
        let text = fs::read_to_string(&path).unwrap();
        let file = file_name(&path);
        for de in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(de).unwrap_or_else(|e| panic!("{file}: {e}"));
            if value.is_null() {
                continue; // empty document, e.g. a trailing `---`
            }
            docs.push(Doc { file: file.clone(), value });
        }
    }
    docs
}

fn find<'a>(docs: &'a [Doc], kind: &str) -> Vec<&'a Doc> {
    docs.iter().filter(|d| d.kind() == kind).collect()
}

fn one<'a>(docs: &'a [Doc], kind: &str) -> &'a Doc {
    let found = find(docs, kind);
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0]
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("string key").to_owned();
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                    };
                    (k, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn deployment(docs: &[Doc]) -> &Doc {
    let d = one(docs, "Deployment");
    assert_eq!(d.name(), "livepk");
    d
}

fn pod_labels(docs: &[Doc]) -> BTreeMap<String, String> {
    let labels = string_map(&deployment(docs).value["spec"]["template"]["metadata"]["labels"]);
    assert!(!labels.is_empty(), "pod template has no labels");
    labels
}

fn container(docs: &[Doc]) -> &Value {
    let containers = deployment(docs).value["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    containers
        .iter()
        .find(|c| c["name"].as_str() == Some("livepk"))
        .expect("a container named livepk")
}

/// `selector` (a plain label map) selects pods carrying `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn every_document_has_api_version_kind_and_name() {
    let docs = load_docs();
    assert!(docs.len() >= 7, "expected at least 7 documents, got {}", docs.len());
    for d in &docs {
        assert!(
            d.value["apiVersion"].as_str().is_some_and(|s| !s.is_empty()),
            "{}: missing apiVersion",
            d.file
        );
        assert!(!d.kind().is_empty(), "{}: missing kind", d.file);
        assert!(!d.name().is_empty(), "{}: missing metadata.name", d.file);
    }
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Secret",
        "Kustomization",
    ] {
        assert!(!find(&docs, kind).is_empty(), "no {kind} under deploy/k8s");
    }
}

#[test]
fn deployment_probes_are_grpc_health_checks_on_the_grpc_port() {
    let docs = load_docs();
    let spec = &deployment(&docs).value["spec"];
    assert!(spec["replicas"].as_u64().unwrap_or(0) >= 3, "want >= 3 replicas");
    let c = container(&docs);
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        let grpc = &c[probe]["grpc"];
        assert_eq!(
            grpc["port"].as_u64(),
            Some(GRPC_PORT),
            "{probe} must be a native gRPC probe on port {GRPC_PORT}"
        );
        assert!(
            c[probe]["httpGet"].is_null()
                && c[probe]["tcpSocket"].is_null()
                && c[probe]["exec"].is_null(),
            "{probe} must be only a gRPC probe"
        );
        // The empty service name asks for the server's overall health.
        if let Some(service) = grpc.get("service") {
            assert!(service.as_str().is_some(), "{probe}.grpc.service is a string");
        }
    }
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"].as_u64(), Some(30));
}

#[test]
fn deployment_exposes_grpc_and_metrics_ports_and_sets_resources() {
    let docs = load_docs();
    let c = container(&docs);
    let ports: BTreeMap<String, u64> = c["ports"]
        .as_sequence()
        .expect("container ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["containerPort"].as_u64().expect("containerPort"),
            )
        })
        .collect();
    assert_eq!(ports.get("grpc"), Some(&GRPC_PORT));
    assert_eq!(ports.get("metrics"), Some(&METRICS_PORT));

    let requests = &c["resources"]["requests"];
    assert!(requests["cpu"].as_str().is_some(), "cpu request set (the HPA needs it)");
    assert!(requests["memory"].as_str().is_some(), "memory request set");
    assert!(c["resources"]["limits"]["memory"].as_str().is_some(), "memory limit set");

    let ann = string_map(&deployment(&docs).value["spec"]["template"]["metadata"]["annotations"]);
    assert_eq!(ann.get("prometheus.io/scrape").map(String::as_str), Some("true"));
    assert_eq!(
        ann.get("prometheus.io/port").map(String::as_str),
        Some(METRICS_PORT.to_string().as_str())
    );
}

#[test]
fn environment_uses_only_documented_livepk_variables() {
    let docs = load_docs();
    let allowed: BTreeSet<&str> = ALLOWED_ENV.iter().copied().collect();
    let c = container(&docs);

    // Names set directly on the container, if any.
    if let Some(env) = c["env"].as_sequence() {
        for e in env {
            let name = e["name"].as_str().expect("env name");
            assert!(allowed.contains(name), "container env {name} is not a LIVEPK_* setting");
        }
    }

    // envFrom: exactly the ConfigMap and the Secret, both of which must exist.
    let env_from = c["envFrom"].as_sequence().expect("envFrom");
    let cm_ref: Vec<&str> =
        env_from.iter().filter_map(|e| e["configMapRef"]["name"].as_str()).collect();
    let secret_ref: Vec<&str> =
        env_from.iter().filter_map(|e| e["secretRef"]["name"].as_str()).collect();
    assert_eq!(cm_ref, ["livepk-config"]);
    assert_eq!(secret_ref, ["livepk-secrets"]);

    let cm = find(&docs, "ConfigMap")
        .into_iter()
        .find(|d| d.name() == "livepk-config")
        .expect("ConfigMap livepk-config");
    let cm_data = string_map(&cm.value["data"]);
    for key in cm_data.keys() {
        assert!(allowed.contains(key.as_str()), "ConfigMap key {key} is not a LIVEPK_* setting");
        assert!(!SECRET_ENV.contains(&key.as_str()), "{key} belongs in the Secret");
    }
    assert_eq!(cm_data.get("LIVEPK_LISTEN").map(String::as_str), Some("0.0.0.0:50051"));
    assert_eq!(cm_data.get("LIVEPK_METRICS_LISTEN").map(String::as_str), Some("0.0.0.0:9464"));
    assert!(
        matches!(
            cm_data.get("LIVEPK_LOG_FORMAT").map(String::as_str),
            None | Some("json") | Some("text")
        ),
        "LIVEPK_LOG_FORMAT is text or json"
    );

    let secret = find(&docs, "Secret")
        .into_iter()
        .find(|d| d.name() == "livepk-secrets")
        .expect("example Secret livepk-secrets");
    let mut secret_keys: BTreeSet<String> =
        string_map(&secret.value["stringData"]).into_keys().collect();
    secret_keys.extend(string_map(&secret.value["data"]).into_keys());
    for key in &secret_keys {
        assert!(allowed.contains(key.as_str()), "Secret key {key} is not a LIVEPK_* setting");
    }
    let want: BTreeSet<String> = SECRET_ENV.iter().map(|s| s.to_string()).collect();
    assert_eq!(secret_keys, want, "the example Secret carries every secret setting");
}

#[test]
fn service_pdb_and_hpa_target_the_deployment() {
    let docs = load_docs();
    let labels = pod_labels(&docs);
    let selector = string_map(&deployment(&docs).value["spec"]["selector"]["matchLabels"]);
    assert!(selects(&selector, &labels), "Deployment selector matches its own pods");

    let services = find(&docs, "Service");
    let main = services.iter().find(|s| s.name() == "livepk").expect("Service livepk");
    let svc_type = main.value["spec"]["type"].as_str().unwrap_or("ClusterIP");
    assert_eq!(svc_type, "ClusterIP");
    for svc in &services {
        let sel = string_map(&svc.value["spec"]["selector"]);
        assert!(selects(&sel, &labels), "Service {} selects the livepk pods", svc.name());
        for p in svc.value["spec"]["ports"].as_sequence().expect("service ports") {
            let target = &p["targetPort"];
            let ok = match target {
                Value::String(name) => name == "grpc" || name == "metrics",
                Value::Number(n) => [GRPC_PORT, METRICS_PORT].contains(&n.as_u64().unwrap()),
                Value::Null => [GRPC_PORT, METRICS_PORT].contains(&p["port"].as_u64().unwrap()),
                _ => false,
            };
            assert!(ok, "Service {} port {:?} targets a container port", svc.name(), p);
        }
    }
    let main_ports: BTreeMap<String, u64> = main.value["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["port"].as_u64().unwrap()))
        .collect();
    assert_eq!(main_ports.get("grpc"), Some(&GRPC_PORT));
    assert_eq!(main_ports.get("metrics"), Some(&METRICS_PORT));

    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb.value["apiVersion"].as_str(), Some("policy/v1"));
    let pdb_sel = string_map(&pdb.value["spec"]["selector"]["matchLabels"]);
    assert!(selects(&pdb_sel, &labels), "PDB selects the livepk pods");
    let spec = &pdb.value["spec"];
    assert!(
        spec["minAvailable"].as_u64().is_some_and(|n| n >= 1)
            || spec["maxUnavailable"].as_u64() == Some(1),
        "PDB keeps replicas available"
    );

    let hpa = one(&docs, "HorizontalPodAutoscaler");
    assert_eq!(hpa.value["apiVersion"].as_str(), Some("autoscaling/v2"));
    let target = &hpa.value["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("Deployment"));
    assert_eq!(target["name"].as_str(), Some(deployment(&docs).name()));
    let min = hpa.value["spec"]["minReplicas"].as_u64().expect("minReplicas");
    let max = hpa.value["spec"]["maxReplicas"].as_u64().expect("maxReplicas");
    assert!(min >= 3 && max >= min, "HPA range {min}..{max}");
    let cpu = hpa.value["spec"]["metrics"]
        .as_sequence()
        .expect("HPA metrics")
        .iter()
        .find(|m| m["resource"]["name"].as_str() == Some("cpu"))
        .expect("HPA scales on CPU");
    assert_eq!(cpu["resource"]["target"]["averageUtilization"].as_u64(), Some(70));
}

#[test]
fn kustomization_lists_every_manifest_except_the_example_secret() {
    let docs = load_docs();
    let kust = one(&docs, "Kustomization");
    assert_eq!(kust.file, "kustomization.yaml");
    let listed: BTreeSet<String> = kust.value["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("resource path").to_owned())
        .collect();
    let expected: BTreeSet<String> = yaml_files()
        .iter()
        .map(|p| file_name(p))
        .filter(|f| !NOT_IN_KUSTOMIZATION.contains(&f.as_str()))
        .collect();
    assert_eq!(listed, expected, "kustomization resources vs files in deploy/k8s");
    for f in &listed {
        assert!(k8s_dir().join(f).is_file(), "{f} listed but missing");
    }
}

#[test]
fn dockerfile_is_multi_stage_and_exposes_the_grpc_port() {
    let text =
        fs::read_to_string(repo().join("deploy").join("Dockerfile")).expect("deploy/Dockerfile");
    let instructions: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let froms = instructions.iter().filter(|l| l.to_ascii_uppercase().starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage build: {froms} FROM lines");
    let exposed: BTreeSet<u64> = instructions
        .iter()
        .filter(|l| l.to_ascii_uppercase().starts_with("EXPOSE "))
        .flat_map(|l| l.split_whitespace().skip(1))
        .filter_map(|p| p.split('/').next()?.parse().ok())
        .collect();
    assert!(exposed.contains(&GRPC_PORT), "EXPOSE {GRPC_PORT}");
    assert!(exposed.contains(&METRICS_PORT), "EXPOSE {METRICS_PORT}");
    assert!(
        instructions.iter().any(|l| l.contains("--locked")),
        "release build uses the lock file"
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with("USER ") && !l.contains("root")),
        "runtime runs as a non-root user"
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with("ENTRYPOINT") && l.contains("livepk")),
        "ENTRYPOINT is livepk"
    );
}

#[test]
fn example_config_parses_and_names_every_setting() {
    let text = fs::read_to_string(repo().join("livepk.example.toml")).expect("livepk.example.toml");
    let value: toml::Value = toml::from_str(&text).expect("livepk.example.toml is valid TOML");
    // The example shows the defaults: it must say what the server does without it.
    let defaults = livepk::config::Config::default();
    let number = |value: u64| Some(value as i64);
    assert_eq!(value["listen"].as_str(), Some(defaults.listen.to_string().as_str()));
    let metrics = defaults.metrics_listen.map(|address| address.to_string());
    assert_eq!(value["metrics_listen"].as_str(), metrics.as_deref());
    assert_eq!(value["key_prefix"].as_str(), Some(defaults.key_prefix.as_str()));
    assert_eq!(value["events"]["retention"].as_integer(), number(defaults.events.retention as u64));
    assert_eq!(
        value["events"]["sweep_interval_ms"].as_integer(),
        number(defaults.events.sweep_interval_ms)
    );
    assert_eq!(
        value["timers"]["poll_interval_ms"].as_integer(),
        number(defaults.timers.poll_interval_ms)
    );
    assert_eq!(value["timers"]["ttr_ms"].as_integer(), number(defaults.timers.ttr_ms));
    assert_eq!(value["timers"]["batch"].as_integer(), number(defaults.timers.batch as u64));
    assert_eq!(
        value["limits"]["max_concurrent_requests"].as_integer(),
        number(defaults.limits.max_concurrent_requests as u64)
    );
    // Optional keys are shown commented out; each top-level key names its env override.
    for key in [
        "listen",
        "metrics_listen",
        "redis_url",
        "key_prefix",
        "database_url",
        "auth_token",
        "admin_token",
        "log_format",
        "address_file",
    ] {
        let present = text.lines().any(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.starts_with(&format!("{key} ="))
        });
        assert!(present, "livepk.example.toml documents {key}");
        let env = format!("LIVEPK_{}", key.to_ascii_uppercase());
        assert!(ALLOWED_ENV.contains(&env.as_str()), "{env} is a documented variable");
        assert!(text.contains(&format!("env: {env}")), "livepk.example.toml names {env}");
    }
}
