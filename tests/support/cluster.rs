//! A private Redis Cluster for failover tests: six `redis-server --cluster-enabled yes` child
//! processes (3 primaries + 3 replicas, node timeout 1 s, no persistence) in a temporary
//! directory, on free ports (each node's cluster bus uses its port + 10000, so both must be
//! free). Unlike the shared test cluster, a test may fail it over and kill its nodes. Every node
//! is killed (SIGKILL) when dropped.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Nodes of the private cluster.
const NODES: usize = 6;

/// One node of a [`RedisCluster`].
struct Node {
    port: u16,
    child: Option<Child>,
}

/// What `CLUSTER NODES` says of one node.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Node id.
    pub id: String,
    /// Its client port.
    pub port: u16,
    /// Flags (`master`, `slave`, `myself`, `fail`, `fail?`, ...).
    pub flags: Vec<String>,
    /// The id of its primary (`-` for a primary).
    pub master_id: String,
    /// Its slot ranges (primaries only; migration entries left out).
    pub slots: Vec<(u16, u16)>,
}

impl NodeInfo {
    /// A primary not marked as failing.
    pub fn is_live_primary(&self) -> bool {
        self.has("master") && !self.has("fail") && !self.has("fail?")
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|(from, to)| (*from..=*to).contains(&slot))
    }
}

/// The private cluster.
pub struct RedisCluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster (`--cluster-replicas 1`) and waits until every node
    /// reports `cluster_state:ok` and every replica is attached and in sync.
    pub async fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut cluster = RedisCluster { dir, nodes: Vec::new() };
        for port in free_port_pairs(NODES) {
            cluster.nodes.push(Node { port, child: None });
        }
        for port in cluster.ports() {
            cluster.spawn(port);
        }
        for port in cluster.ports() {
            cluster.wait_ping(port).await;
        }
        let addresses: Vec<String> =
            cluster.ports().iter().map(|port| format!("127.0.0.1:{port}")).collect();
        let output = tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .arg("--cluster")
                .arg("create")
                .args(&addresses)
                .args(["--cluster-replicas", "1", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli must be installed for the failover tests")
        })
        .await
        .expect("redis-cli task");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_healthy(Duration::from_secs(20)).await;
        cluster
    }

    /// Every node's port, started or not.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// `redis+cluster://` with all six nodes as seeds.
    pub fn url(&self) -> String {
        let nodes: Vec<String> =
            self.ports().iter().map(|port| format!("127.0.0.1:{port}")).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    fn node_dir(&self, port: u16) -> PathBuf {
        self.dir.path().join(port.to_string())
    }

    /// Starts (or starts again, keeping its `nodes.conf`: it rejoins the cluster) node `port`.
    fn spawn(&mut self, port: u16) {
        let dir = self.node_dir(port);
        std::fs::create_dir_all(&dir).expect("node directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .arg("--cluster-config-file")
            .arg(dir.join("nodes.conf"))
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the failover tests");
        let node = self.nodes.iter_mut().find(|node| node.port == port).expect("a node");
        node.child = Some(child);
    }

    async fn wait_ping(&mut self, port: u16) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(node) = self.nodes.iter_mut().find(|node| node.port == port)
                && let Some(status) =
                    node.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
            {
                panic!("redis-server on port {port} exited at start: {status}");
            }
            if matches!(command(port, &["PING"]).await, Ok(redis::Value::SimpleString(s)) if s == "PONG")
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "redis-server {port} never answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ports of the nodes whose process runs.
    pub fn running(&self) -> Vec<u16> {
        self.nodes.iter().filter(|node| node.child.is_some()).map(|node| node.port).collect()
    }

    /// Waits until every running node says `cluster_state:ok`, three primaries serve all slots,
    /// and each has one replica whose link is up.
    pub async fn wait_healthy(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Err(last) = self.health().await else { return };
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private cluster is not healthy after {timeout:?}: {last}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn health(&self) -> Result<(), String> {
        for port in self.running() {
            let info = text(port, &["CLUSTER", "INFO"]).await?;
            if !info.contains("cluster_state:ok") {
                return Err(format!("{port}: not cluster_state:ok"));
            }
        }
        for port in self.running() {
            let nodes = self.nodes_seen_by(port).await?;
            let primaries: Vec<&NodeInfo> =
                nodes.iter().filter(|n| n.is_live_primary() && !n.slots.is_empty()).collect();
            if primaries.len() != 3 {
                return Err(format!("{port} sees {} primaries with slots", primaries.len()));
            }
            for primary in primaries {
                let replicas: Vec<&NodeInfo> = nodes
                    .iter()
                    .filter(|n| n.master_id == primary.id && !n.has("fail") && !n.has("fail?"))
                    .collect();
                if replicas.is_empty() {
                    return Err(format!("{port}: primary {} has no replica", primary.port));
                }
            }
        }
        for port in self.running() {
            let replication = text(port, &["INFO", "replication"]).await?;
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return Err(format!("{port}: replica link not up"));
            }
            if replication.contains("master_sync_in_progress:1") {
                return Err(format!("{port}: replica still syncing"));
            }
        }
        Ok(())
    }

    /// `CLUSTER NODES` as node `port` sees it.
    pub async fn nodes_seen_by(&self, port: u16) -> Result<Vec<NodeInfo>, String> {
        let nodes = text(port, &["CLUSTER", "NODES"]).await?;
        Ok(nodes.lines().filter_map(parse_node).collect())
    }

    /// The slot of `key` (`CLUSTER KEYSLOT` on any running node).
    pub async fn keyslot(&self, key: &str) -> u16 {
        for port in self.running() {
            if let Ok(redis::Value::Int(slot)) = command(port, &["CLUSTER", "KEYSLOT", key]).await {
                return slot as u16;
            }
        }
        panic!("no running node answered CLUSTER KEYSLOT");
    }

    /// The primary serving `slot` as every running node sees it, once they all agree; panics
    /// after `timeout`.
    pub async fn primary_of(&self, slot: u16, timeout: Duration) -> NodeInfo {
        self.primary_other_than(slot, None, timeout).await
    }

    /// [`RedisCluster::primary_of`], waiting until it is not `former` (a killed primary is
    /// still listed as the slot's primary until the node timeout has passed and its replica has
    /// been promoted).
    pub async fn primary_other_than(
        &self,
        slot: u16,
        former: Option<u16>,
        timeout: Duration,
    ) -> NodeInfo {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for port in self.running() {
                let Ok(nodes) = self.nodes_seen_by(port).await else { continue };
                seen.push(nodes.into_iter().find(|n| n.is_live_primary() && n.serves(slot)));
            }
            let ports: BTreeSet<Option<u16>> =
                seen.iter().map(|n| n.as_ref().map(|n| n.port)).collect();
            if ports.len() == 1
                && let Some(Some(primary)) = seen.into_iter().next()
                && Some(primary.port) != former
            {
                return primary;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the nodes do not agree on the primary of slot {slot}: {ports:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The replica of the primary `primary` (its port), as that primary sees it.
    pub async fn replica_of(&self, primary: &NodeInfo) -> u16 {
        let nodes = self.nodes_seen_by(primary.port).await.expect("the primary's CLUSTER NODES");
        nodes
            .iter()
            .find(|n| n.master_id == primary.id && !n.has("fail") && !n.has("fail?"))
            .unwrap_or_else(|| panic!("primary {} has no replica: {nodes:?}", primary.port))
            .port
    }

    /// `CLUSTER FAILOVER` (graceful) sent to replica `replica`; waits until every running node
    /// sees it serving `slot`.
    pub async fn graceful_failover(&self, replica: u16, slot: u16) {
        match command(replica, &["CLUSTER", "FAILOVER"]).await {
            Ok(redis::Value::Okay) => {}
            other => panic!("CLUSTER FAILOVER on {replica}: {other:?}"),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.primary_of(slot, Duration::from_secs(15)).await.port != replica {
            assert!(tokio::time::Instant::now() < deadline, "{replica} never took slot {slot}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The replication offsets of `primary` and `replica` (`master_repl_offset`,
    /// `slave_repl_offset`), and whether the replica's link is up.
    pub async fn replication_offsets(&self, primary: u16, replica: u16) -> (u64, u64, bool) {
        let field = |info: &str, name: &str| -> u64 {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
                .unwrap_or(0)
        };
        let of_primary = text(primary, &["INFO", "replication"]).await.unwrap_or_default();
        let of_replica = text(replica, &["INFO", "replication"]).await.unwrap_or_default();
        (
            field(&of_primary, "master_repl_offset"),
            field(&of_replica, "slave_repl_offset"),
            of_replica.contains("master_link_status:up"),
        )
    }

    /// Sends `signal` (`STOP`, `CONT`) to node `port`: a stopped replica takes no more of its
    /// primary's writes (they wait in the primary's buffers) until it is continued.
    pub fn signal(&self, port: u16, signal: &str) {
        let node = self.nodes.iter().find(|node| node.port == port).expect("a node");
        let pid = node.child.as_ref().expect("a running node").id();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Kills node `port` with SIGKILL and reaps it.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|node| node.port == port).expect("a node");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts killed node `port` again (same `nodes.conf`: it rejoins, as a replica when its
    /// slots were failed over meanwhile) and waits until it answers.
    pub async fn restart(&mut self, port: u16) {
        self.kill(port);
        self.spawn(port);
        self.wait_ping(port).await;
    }

    /// Every key matching `pattern` on the running primaries.
    pub async fn scan(&self, pattern: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for port in self.running() {
            let role = text(port, &["INFO", "replication"]).await.unwrap_or_default();
            if !role.contains("role:master") {
                continue;
            }
            let mut cursor = "0".to_owned();
            loop {
                let reply = command(port, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])
                    .await
                    .expect("SCAN");
                let redis::Value::Array(parts) = reply else { panic!("SCAN: {reply:?}") };
                let [next, batch] = parts.as_slice() else { panic!("SCAN: {parts:?}") };
                cursor = redis::from_redis_value_ref(next).expect("cursor");
                let batch: Vec<String> = redis::from_redis_value_ref(batch).expect("keys");
                keys.extend(batch);
                if cursor == "0" {
                    break;
                }
            }
        }
        keys
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for port in self.ports() {
            self.kill(port);
        }
    }
}

/// One `CLUSTER NODES` line.
fn parse_node(line: &str) -> Option<NodeInfo> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return None;
    }
    let address = fields[1].split('@').next()?;
    let port = address.rsplit(':').next()?.parse().ok()?;
    let slots = fields[8..]
        .iter()
        .filter(|range| !range.starts_with('['))
        .filter_map(|range| match range.split_once('-') {
            Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
            None => range.parse().ok().map(|slot| (slot, slot)),
        })
        .collect();
    Some(NodeInfo {
        id: fields[0].to_owned(),
        port,
        flags: fields[2].split(',').map(str::to_owned).collect(),
        master_id: fields[3].to_owned(),
        slots,
    })
}

/// One command to one node over a fresh connection, at most 2 s.
pub async fn command(port: u16, args: &[&str]) -> Result<redis::Value, String> {
    let run = async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .map_err(|error| error.to_string())?;
        let mut connection =
            client.get_multiplexed_async_connection().await.map_err(|error| error.to_string())?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async::<redis::Value>(&mut connection).await.map_err(|error| error.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(2), run).await {
        Ok(result) => result,
        Err(_) => Err(format!("{port}: {args:?} timed out")),
    }
}

/// A command whose answer is text (`CLUSTER NODES`, `INFO`).
async fn text(port: u16, args: &[&str]) -> Result<String, String> {
    let value = command(port, args).await?;
    redis::from_redis_value_ref::<String>(&value).map_err(|error| format!("{port}: {error}"))
}

/// `count` distinct ports `p` where both `p` and `p + 10000` (the cluster bus) are free now.
fn free_port_pairs(count: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut attempts = 0;
    while ports.len() < count {
        attempts += 1;
        assert!(attempts < 10_000, "no free port pairs (port and port + 10000)");
        let candidate = 20_000 + (rand::random::<u16>() % 35_000);
        if ports.contains(&candidate) {
            continue;
        }
        let Ok(client) = std::net::TcpListener::bind(("127.0.0.1", candidate)) else { continue };
        let Ok(bus) = std::net::TcpListener::bind(("127.0.0.1", candidate + 10_000)) else {
            continue;
        };
        drop((client, bus));
        ports.push(candidate);
    }
    ports
}
