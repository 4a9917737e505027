//! The key layout on a Redis Cluster (issue 13): the keys of 1,000 LinkCallPk anchors — their
//! aggregates, profiles and lists, and the battles some of them play — spread over all three
//! primaries of the local test cluster, none holding more than half of them. Under the old
//! layout every anchor key shared the one tag `lc`, so one slot and one primary held them all.

mod support;

use std::collections::BTreeMap;

use futures::StreamExt;
use support::*;

const ANCHORS: u64 = 1_000;
const BATTLES: u64 = 50;

/// Every key under `pattern` on each primary of the cluster, by primary address.
async fn keys_per_primary(pattern: &str) -> BTreeMap<String, Vec<String>> {
    let url = redis_cluster_url();
    let seed = url.trim_start_matches("redis+cluster://").split(',').next().expect("a seed");
    let client = redis::Client::open(format!("redis://{seed}")).expect("seed url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("seed node");
    let nodes: String =
        redis::cmd("CLUSTER").arg("NODES").query_async(&mut connection).await.expect("nodes");
    let mut found = BTreeMap::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
            continue;
        }
        let address = fields[1].split('@').next().expect("host:port");
        let node = redis::Client::open(format!("redis://{address}")).expect("node url");
        let mut node = node.get_multiplexed_async_connection().await.expect("primary");
        let keys = support::keys_matching(&mut node, pattern).await.expect("scan");
        found.insert(address.to_owned(), keys);
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_of_a_thousand_anchors_spread_over_every_primary() {
    let server = TestServer::start_with(TestServerOptions {
        redis_url: Some(redis_cluster_url()),
        ..TestServerOptions::default()
    })
    .await;
    let anchors: Vec<Anchor> =
        (1..=ANCHORS).map(|index| Anchor::new(100_000 + index, 500_000 + index)).collect();
    futures::stream::iter(&anchors)
        .for_each_concurrent(32, |anchor| {
            let server = &*server;
            async move { anchor.online(server).await }
        })
        .await;
    // Some of them battle (battle keys, gift records, pkid index entries, timers).
    futures::stream::iter(anchors.chunks(2).take(BATTLES as usize))
        .for_each_concurrent(8, |pair| {
            let server = &*server;
            async move {
                battle(server, &pair[0], &pair[1]).await;
                gift(server, &format!("spread-{}", pair[0].id), 7, &pair[0], 100).await;
            }
        })
        .await;

    let all = keys_per_primary(&format!("{}:*", server.key_prefix)).await;
    let total: usize = all.values().map(Vec::len).sum();
    let anchor_keys =
        |keys: &Vec<String>| keys.iter().filter(|key| key.contains("{lc:anchor:")).count();
    let anchors_total: usize = all.values().map(anchor_keys).sum();
    eprintln!("primary            keys   share   anchor keys   share");
    for (primary, keys) in &all {
        eprintln!(
            "{primary:<18} {:>5}  {:>5.1}%  {:>11}  {:>5.1}%",
            keys.len(),
            100.0 * keys.len() as f64 / total as f64,
            anchor_keys(keys),
            100.0 * anchor_keys(keys) as f64 / anchors_total as f64
        );
    }
    assert_eq!(all.len(), 3, "the test cluster has three primaries: {:?}", all.keys());
    assert!(anchors_total as u64 >= 2 * ANCHORS, "each anchor keeps its aggregate and profile");
    for (primary, keys) in &all {
        let share = anchor_keys(keys) as f64 / anchors_total as f64;
        assert!(
            share > 0.0 && share <= 0.5,
            "{primary} holds {:.1}% of the anchor keys",
            share * 100.0
        );
        let share = keys.len() as f64 / total as f64;
        assert!(share <= 0.5, "{primary} holds {:.1}% of all keys", share * 100.0);
    }
}
