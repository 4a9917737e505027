//! The key layout (issue 13): no tag grows with the number of anchors or sessions.

use livepk_battle::BattleId;
use livepk_engine::ModeBinding;

use super::*;
use crate::adapter::ONLINE_TAG;

/// The tags of every key a list change writes.
fn change_tags(world: &World, change: ListChange) -> Vec<String> {
    world.adapter.change_ops(&change).into_iter().map(|(tag, _)| tag).collect()
}

/// Every tag that holds `singer`'s own keys: its aggregate, its application lists (as host
/// and as guest, added and removed, cleared), and the tag its profile was stored under.
fn own_tags(world: &World, singer: SingerId, other: SingerId) -> Vec<String> {
    let mut tags = vec![world.adapter.aggregate_key(singer).tag];
    let changes = [
        ListChange::ApplicantAdd { host: singer, guest: other, at_ms: START_MS },
        ListChange::ApplicantRemove { host: singer, guest: other },
        ListChange::ClearApplicantsOf { singer },
    ];
    for change in changes {
        // The first op of an application change is the host's list.
        tags.push(change_tags(world, change).remove(0));
    }
    let as_guest = [
        ListChange::ApplicantAdd { host: other, guest: singer, at_ms: START_MS },
        ListChange::ApplicantRemove { host: other, guest: singer },
    ];
    for change in as_guest {
        tags.push(change_tags(world, change).remove(1));
    }
    tags.extend(change_tags(world, ListChange::ClearApplicantsOf { singer }));
    tags
}

#[tokio::test]
async fn each_anchor_has_its_own_tag_apart_from_the_online_list_and_the_battles() {
    let world = World::new().await;
    let (host, guest) = (singer(HOST), singer(GUEST));
    let host_tags = own_tags(&world, host, guest);
    let guest_tags = own_tags(&world, guest, host);

    // One tag per anchor for all of its keys, and a different one for each anchor.
    assert!(host_tags.iter().all(|tag| *tag == host_tags[0]), "{host_tags:?}");
    assert!(guest_tags.iter().all(|tag| *tag == guest_tags[0]), "{guest_tags:?}");
    assert_ne!(host_tags[0], guest_tags[0]);

    // The profile lives beside its anchor (World::new stored both profiles).
    let store = &world.kit.engine().store;
    for (singer, tag) in [(host, &host_tags[0]), (guest, &guest_tags[0])] {
        let name = format!("profile:{singer}");
        let read = store.get_many(&[(tag.as_str(), name.as_str())]).await.expect("read");
        assert!(read[0].is_some(), "no profile of {singer} under {tag}");
    }
    let profiles = world.adapter.singer_profiles(&[host, guest]).await.expect("read");
    assert_eq!(profiles.len(), 2);

    // The online list is on a tag of its own, both ways.
    let online = [
        ListChange::OnlineUpsert { singer: host, score_ms: START_MS },
        ListChange::OnlineRemove { singer: guest },
    ];
    for change in online {
        assert_eq!(change_tags(&world, change), vec![ONLINE_TAG.to_owned()]);
    }
    // No anchor key shares the online list's tag or a battle's (anchor ids and battle ids are
    // both small numbers: the same number must still give two tags).
    for tag in host_tags.iter().chain(&guest_tags) {
        assert_ne!(tag, ONLINE_TAG);
        for raw in [HOST, GUEST, OTHER, 0, 1_000_000] {
            assert_ne!(*tag, world.adapter.battle_tag(BattleId::new(raw)), "{tag}");
        }
    }
    assert_ne!(world.adapter.battle_tag(BattleId::new(1)), ONLINE_TAG);
}
