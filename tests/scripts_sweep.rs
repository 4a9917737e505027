//! `scripts/services.sh`'s sweep of the keys earlier test runs left (`sweep_test_keys`, run first
//! by `scripts/test.sh`): its per-node step `_sweep_node <port> <idle seconds>` deletes only keys
//! under a test's own prefix (`t` + 16 hex digits, `clients-<n>`) that have been idle at least
//! that long, and prints how many it deleted. Run against a PRIVATE redis-server on a free port:
//! sweeping the shared test Redis would race the keys of the suite running beside this test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server child, killed when dropped.
struct PrivateRedis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        let redis = PrivateRedis { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server on port {port} never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// One command through redis-cli (arguments passed as they are, spaces included).
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            self.cli(&["--scan"]).lines().map(str::to_owned).filter(|k| !k.is_empty()).collect();
        keys.sort();
        keys
    }

    /// `_sweep_node <port> <idle>` as scripts/test.sh runs it: what it printed.
    fn sweep(&self, idle_secs: u64) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail; source scripts/services.sh; _sweep_node {} {idle_secs}",
                self.port
            ))
            .current_dir(root)
            .output()
            .expect("bash");
        assert!(output.status.success(), "the sweep failed: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_sweep_deletes_only_idle_keys_under_a_tests_own_prefix() {
    let redis = PrivateRedis::start();
    let swept = [
        "t0123456789abcdef:{lc:1}:battle",
        "tfedcba9876543210:{rec:5}:3600000:1",
        "clients-12345:{ids:linkcall}:pkid",
    ];
    let kept = [
        "livepk:{lc:1}:battle",
        "t0123:{lc:1}:battle",
        "t0123456789ABCDEF:{lc:1}:battle",
        "t0123456789abcdef:{lc:1}:with space",
        "t0123456789abcdefg:{lc:1}:battle",
        "clients-:{lc:1}:battle",
    ];
    for key in swept.iter().chain(&kept) {
        assert_eq!(redis.cli(&["SET", key, "v"]), "OK", "{key}");
    }
    let mut all: Vec<String> = swept.iter().chain(&kept).map(|key| key.to_string()).collect();
    all.sort();

    // Fresh keys (idle 0 s) are younger than an hour: nothing goes.
    assert_eq!(redis.sweep(3600), "0");
    assert_eq!(redis.keys(), all, "a key used within the idle time stays");

    // Idle for at least 0 s: every key under a test prefix goes, nothing else.
    assert_eq!(redis.sweep(0), swept.len().to_string());
    let mut left: Vec<String> = kept.iter().map(|key| key.to_string()).collect();
    left.sort();
    assert_eq!(redis.keys(), left);

    // Nothing left to sweep.
    assert_eq!(redis.sweep(0), "0");
}
