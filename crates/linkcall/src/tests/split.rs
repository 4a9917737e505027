//! Commands that change two anchors write two transactions (one tag per anchor). Here the second
//! one loses its compare-and-set race (another write touched that anchor after the command read
//! it) while the first one stands: the command's re-run must finish the job, as the single
//! transaction of the old layout did, rather than answer from the half it wrote.

use livepk_store::MemoryStore;

use super::*;
use crate::adapter::anchor_tag;
use livepk_engine::testkit::hooked::{HookedStore, Step};

async fn hooked_world() -> (World, Arc<HookedStore>) {
    let store = HookedStore::new(Arc::new(MemoryStore::new(Default::default())));
    let mut world = World::on_store(store.clone()).await;
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.unwrap();
    }
    (world, store)
}

/// Writes anchor `raw` back as it is: its version moves, its state does not.
fn touch(world: &World, raw: u64) -> Step {
    let adapter = world.adapter.clone();
    let store = world.kit.engine().store.clone();
    Box::pin(async move {
        let snapshot = adapter.load_anchors(&[singer(raw)]).await.expect("read");
        let anchor = snapshot.aggregate(singer(raw)).expect("an anchor").clone();
        let key = adapter.aggregate_key(singer(raw));
        let value = serde_json::to_vec(&anchor).expect("plain data");
        let put = livepk_store::Op::Put { name: key.name, value, ttl: None };
        store.commit(livepk_store::Transaction::new(key.tag).op(put)).await.expect("write");
    })
}

/// Sets `step` to run just before the next commit on anchor `raw`'s tag.
fn before_commit_on(store: &HookedStore, raw: u64, step: Step) {
    store.before_commit_on(anchor_tag(singer(raw)), step);
}

fn told(world: &World, to: u64, state: PkState, about: u64) -> bool {
    let wanted = Notification::singer_state(singer(to), state, singer(about));
    world.last.notifications.contains(&wanted)
}

#[tokio::test]
async fn a_link_whose_guest_moved_between_read_and_write_still_raises_the_popup() {
    let (mut world, store) = hooked_world().await;
    before_commit_on(&store, GUEST, touch(&world, GUEST));
    world.link(HOST, GUEST).await.expect("the re-run links");
    let (host, guest) = (world.anchor(HOST).await.unwrap(), world.anchor(GUEST).await.unwrap());
    let invite = host.outgoing_invite.expect("the host waits");
    assert_eq!(guest.popup, Some(invite), "the guest holds the host's popup");
    assert!(told(&world, GUEST, PkState::Popup, HOST));
}

#[tokio::test]
async fn a_refusal_whose_host_moved_between_read_and_write_still_frees_the_host() {
    let (mut world, store) = hooked_world().await;
    world.link(HOST, GUEST).await.unwrap();
    before_commit_on(&store, HOST, touch(&world, HOST));
    world.refuse(GUEST, HOST).await.expect("the re-run refuses");
    let (host, guest) = (world.anchor(HOST).await.unwrap(), world.anchor(GUEST).await.unwrap());
    assert_eq!((host.outgoing_invite, guest.popup), (None, None));
    assert!(told(&world, HOST, PkState::No, GUEST));
}

#[tokio::test]
async fn a_close_whose_inviting_host_moved_between_read_and_write_still_withdraws_everything() {
    let (mut world, store) = hooked_world().await;
    world.apply(OTHER, GUEST).await.unwrap();
    world.link(HOST, GUEST).await.unwrap();
    before_commit_on(&store, HOST, touch(&world, HOST));
    world.close_function(GUEST).await.expect("the re-run closes");
    let (host, guest) = (world.anchor(HOST).await.unwrap(), world.anchor(GUEST).await.unwrap());
    assert!(!guest.function_open);
    assert_eq!((host.outgoing_invite, guest.popup), (None, None));
    let state = world.state().await;
    assert!(!state.online.contains_key(&singer(GUEST)), "{:?}", state.online);
    assert!(state.applications.is_empty(), "{:?}", state.applications);
    assert!(told(&world, HOST, PkState::Offline, GUEST));
    assert!(told(&world, OTHER, PkState::Offline, GUEST));
}

#[tokio::test]
async fn an_agree_whose_guest_moved_between_read_and_write_still_links_the_pair() {
    let (mut world, store) = hooked_world().await;
    world.link(HOST, GUEST).await.unwrap();
    before_commit_on(&store, GUEST, touch(&world, GUEST));
    let reply = world.agree(GUEST, HOST).await.expect("the re-run links the pair");
    let (host, guest) = (world.anchor(HOST).await.unwrap(), world.anchor(GUEST).await.unwrap());
    assert_eq!(host.battle, guest.battle);
    let battle = world.battle_of(HOST).await.expect("a battle");
    assert!(!battle.is_closed());
    assert_eq!(Some(battle.pkid()), reply.pkid);
}
