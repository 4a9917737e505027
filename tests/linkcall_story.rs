//! The whole LinkCallPk battle of seed 000 (flows 1.1 to 12) through the real `livepk` binary
//! over gRPC against a real Redis: open, list, apply, link, confirm, start, gifts (with a tie
//! and a duplicate), top-5, the automatic count at the deadline, punishment, a rematch with a
//! new pkid, add time, close, leave — checking every response and every notification delivered
//! through `Events.Subscribe`: each step's notifications exactly (no other event among them,
//! none left over after the last step), loose only about the score nts the coalescer sends on
//! its own tick. The smoke test of the binary: it runs on the real clock.

mod support;

use livepk::pb::common::TargetKind;
use livepk::pb::events::Event;
use livepk::pb::linkcall::{
    AddTimeRequest, ApplyRequest, ConfirmCode, LinkcallpkPkInfo, LinkcallpkRoomPkInfoNt,
    LinkcallpkRoomPkSceneNt, LinkcallpkRoomPkSingerInfoNt, LinkcallpkSingerInfo,
    LinkcallpkSingerPklistNt, LinkcallpkSingerStateNt, LinkcallpkUserInfo, PkPhase, PkSingerInfo,
    PkState, SeekLinkListRequest, SeekOnlineListRequest, SingerComeInRoomRequest,
    SingerLeaveRequest, SwitchSceneRequest, UserComeInRoomRequest, UserSeekGiftRequest,
};
use prost::Name;
use support::*;

const ROOM: TargetKind = TargetKind::Room;

type Pred<'a> = (&'static str, Box<dyn Fn(&Event) -> bool + 'a>);

/// Walks the event log step by step. The events of one step are committed together (one
/// transaction, relayed to the stream as one batch), so they arrive contiguous, after every
/// event of the previous step.
struct Steps<'a> {
    log: &'a EventLog,
    cursor: usize,
}

impl Steps<'_> {
    /// Exactly these: waits until the events after the cursor are one event for each predicate
    /// (in any order) with no other event among them; returns them in predicate order and moves
    /// the cursor past them. Any other event between the cursor and the last of them fails the
    /// step; an extra event after them fails the next step (or [`Steps::expect_end`]).
    async fn expect_exactly(&mut self, step: &str, preds: Vec<Pred<'_>>) -> Vec<Event> {
        self.expect_amid(step, |_| false, preds).await
    }

    /// The loose form: as [`Steps::expect_exactly`], except that events `unrelated` matches
    /// may come before and among this step's events; they are skipped. Only for the score nts
    /// of gifts: the coalescer sends them on its own tick, at a moment the test does not know.
    async fn expect_amid(
        &mut self,
        step: &str,
        unrelated: impl Fn(&Event) -> bool,
        preds: Vec<Pred<'_>>,
    ) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + SETTLE_SLACK;
        let names: Vec<&str> = preds.iter().map(|(name, _)| *name).collect();
        loop {
            let events = self.log.snapshot();
            // This step's events: as many as it expects, the first ones after the cursor that
            // are not unrelated. Events only ever append, so a full window is final.
            let window: Vec<usize> = (self.cursor..events.len())
                .filter(|index| !unrelated(&events[*index]))
                .take(preds.len())
                .collect();
            if window.len() == preds.len() {
                let Some(matched) = assign(&preds, &window, &events) else {
                    panic!(
                        "step {step:?}: expected exactly {names:?} after position {}, got:\n{}",
                        self.cursor,
                        describe_all(&events[self.cursor..])
                    );
                };
                self.cursor = window.last().map_or(self.cursor, |last| last + 1);
                return matched.into_iter().map(|index| events[index].clone()).collect();
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "step {step:?}: {} of the {} events {names:?} arrived after position {}:\n{}",
                    window.len(),
                    preds.len(),
                    self.cursor,
                    describe_all(&events[self.cursor..])
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Nothing after the last step: once the subscription has caught up with the stream (as
    /// `Fetch` reads it, in the same order), no event may follow the cursor.
    async fn expect_end(&self, server: &Client) {
        let stream = server.fetch_all().await;
        self.log
            .wait_count("the subscription to catch up with the stream", stream.len(), |_| true)
            .await;
        let events = self.log.snapshot();
        let ids = |events: &[Event]| -> Vec<String> {
            events.iter().map(|event| event.event_id.clone()).collect()
        };
        assert_eq!(ids(&events), ids(&stream), "Subscribe and Fetch deliver the same events");
        assert!(
            events.len() == self.cursor,
            "events after the last step:\n{}",
            describe_all(&events[self.cursor..])
        );
    }
}

/// One distinct event of `window` for each predicate (backtracking: predicates may overlap);
/// the events' indexes in predicate order.
fn assign(preds: &[Pred<'_>], window: &[usize], events: &[Event]) -> Option<Vec<usize>> {
    fn extend(
        preds: &[Pred<'_>],
        window: &[usize],
        events: &[Event],
        chosen: &mut Vec<usize>,
    ) -> bool {
        let Some((_, pred)) = preds.get(chosen.len()) else { return true };
        for &index in window {
            if !chosen.contains(&index) && pred(&events[index]) {
                chosen.push(index);
                if extend(preds, window, events, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }
    let mut chosen = Vec::with_capacity(preds.len());
    extend(preds, window, events, &mut chosen).then_some(chosen)
}

/// An event in a line: type, target, pkid and what tells nts of one type apart.
fn describe(event: &Event) -> String {
    let detail = if let Some(nt) = state_nt(event) {
        format!("pk_state {} from {}", nt.pk_state, nt.singer_id)
    } else if let Some(nt) = info_nt(event) {
        let phase = nt.pk.first().map(|pk| pk.phase);
        format!("phase {phase:?}, {} gifters", nt.user.len())
    } else if let Some(nt) = pklist_nt(event) {
        format!("pk_state {}", nt.pk_state)
    } else if let Some(nt) = scene_nt(event) {
        format!("scene {} of {}", nt.pk_scene, nt.singer_id)
    } else {
        String::new()
    };
    format!(
        "{} {} {:?} pkid {} {detail}",
        event.event_id,
        event.r#type,
        target_of(event),
        event.pkid
    )
}

fn describe_all(events: &[Event]) -> String {
    events.iter().map(describe).collect::<Vec<_>>().join("\n")
}

/// A gift's score nt (`linkcallpk_room_pk_info_nt` listing the gifters whose totals changed)
/// of `pkid`, to any room.
fn is_score_nt(event: &Event, pkid: u64) -> bool {
    event.r#type == "linkcallpk_room_pk_info_nt"
        && info_nt(event).is_some_and(|nt| nt.pkid == pkid && !nt.user.is_empty())
}

fn now_secs(server: &Client) -> u64 {
    server.now_ms() / 1000
}

/// `time_now` of a response is the server's clock in seconds: close to ours.
fn assert_time_now(server: &Client, what: &str, time_now: u64) {
    let now = now_secs(server);
    assert!(time_now + 2 >= now && time_now <= now + 1, "{what}: time_now {time_now}, now {now}");
}

fn listed(anchor: &Anchor, pk_state: PkState) -> LinkcallpkSingerInfo {
    LinkcallpkSingerInfo {
        pk_state: pk_state as i32,
        singer_id: anchor.id,
        singer_nick: anchor.nick.clone(),
        singer_sid: anchor.sid,
        singer_icon: anchor.icon(),
        singer_level: anchor.level(),
        singer_star: anchor.star,
    }
}

fn pk_singer(anchor: &Anchor) -> PkSingerInfo {
    PkSingerInfo {
        singer_id: anchor.id,
        singer_nick: anchor.nick.clone(),
        singer_sid: anchor.sid,
        singer_icon: anchor.icon(),
        singer_level: anchor.level(),
        singer_star: anchor.star,
    }
}

fn gifter(user_id: u64, total: u64) -> LinkcallpkUserInfo {
    let profile = user(user_id);
    LinkcallpkUserInfo {
        user_gift: total,
        user_id,
        user_nick: profile.user_nick,
        user_icon: profile.user_icon,
        user_level: profile.user_level,
        user_wealth: profile.user_wealth,
    }
}

fn online_list(
    server: &Client,
    caller: &Anchor,
) -> impl Future<Output = Vec<LinkcallpkSingerInfo>> {
    let mut client = server.linkcall();
    let clock = server.clone();
    let request =
        SeekOnlineListRequest { singer_id: caller.id, singer_sid: caller.sid, page_num: 0 };
    async move {
        let response = client.seek_online_list(request).await.expect("SeekOnlineList").into_inner();
        assert_eq!(response.singer_id, request.singer_id);
        assert_time_now(&clock, "SeekOnlineList", response.time_now);
        response.singers
    }
}

fn link_list(server: &Client, host: &Anchor) -> impl Future<Output = Vec<LinkcallpkSingerInfo>> {
    let mut client = server.linkcall();
    let request = SeekLinkListRequest { singer_id: host.id, singer_sid: host.sid, page_num: 0 };
    async move {
        let response = client.seek_link_list(request).await.expect("SeekLinkList").into_inner();
        assert_eq!(response.singer_id, request.singer_id);
        response.singers
    }
}

async fn seek_gift(server: &Client, anchor: &Anchor) -> (u64, Vec<LinkcallpkUserInfo>) {
    let response = server
        .linkcall()
        .user_seek_gift(UserSeekGiftRequest { singer_id: anchor.id, singer_sid: anchor.sid })
        .await
        .expect("UserSeekGift")
        .into_inner();
    assert_eq!(response.singer_id, anchor.id);
    assert_time_now(server, "UserSeekGift", response.time_now);
    (response.pkid, response.users)
}

/// A LinkCall nt: the seed's name (`Event.type`), the `type_url` of the message its payload
/// holds, and how to read that message's pkid.
type NtKind = (&'static str, String, fn(&Event) -> Option<u64>);

/// Every LinkCall nt.
fn linkcall_payloads() -> [NtKind; 5] {
    [
        ("linkcallpk_singer_state_nt", LinkcallpkSingerStateNt::type_url(), |e| {
            state_nt(e).map(|nt| nt.pkid)
        }),
        ("linkcallpk_room_pk_scene_nt", LinkcallpkRoomPkSceneNt::type_url(), |e| {
            scene_nt(e).map(|nt| nt.pkid)
        }),
        ("linkcallpk_room_pk_info_nt", LinkcallpkRoomPkInfoNt::type_url(), |e| {
            info_nt(e).map(|nt| nt.pkid)
        }),
        ("linkcallpk_room_pk_singer_info_nt", LinkcallpkRoomPkSingerInfoNt::type_url(), |e| {
            singer_info_nt(e).map(|nt| nt.pkid)
        }),
        ("linkcallpk_singer_pklist_nt", LinkcallpkSingerPklistNt::type_url(), |e| {
            pklist_nt(e).map(|nt| nt.pkid)
        }),
    ]
}

/// The seed's name of the nt whose message the payload's `type_url` names (e.g.
/// `type.googleapis.com/pk.linkcall.v1.LinkcallpkSingerStateNt` ->
/// "linkcallpk_singer_state_nt"); panics on a payload that is no LinkCall nt.
fn payload_name(event: &Event) -> &'static str {
    let any = event.payload.as_ref().expect("every linkcall event has a payload");
    linkcall_payloads()
        .into_iter()
        .find(|(_, type_url, _)| *type_url == any.type_url)
        .map(|(name, _, _)| name)
        .unwrap_or_else(|| panic!("payload type {:?} is no LinkCall nt: {event:?}", any.type_url))
}

/// The pkid inside the payload (every LinkCall nt carries one), decoded as the message its
/// `type_url` names.
fn payload_pkid(event: &Event) -> u64 {
    let any = event.payload.as_ref().expect("every linkcall event has a payload");
    let (_, _, pkid_of) = linkcall_payloads()
        .into_iter()
        .find(|(_, type_url, _)| *type_url == any.type_url)
        .unwrap_or_else(|| panic!("payload type {:?} is no LinkCall nt", any.type_url));
    pkid_of(event).expect("the payload decodes as the message its type_url names")
}

/// "1700000000000-3" -> (1700000000000, 3).
fn stream_position(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or_else(|| panic!("event id {id:?} is not ms-seq"));
    (ms.parse().expect("event id ms"), seq.parse().expect("event id seq"))
}

fn the_pk(pk: &[LinkcallpkPkInfo]) -> LinkcallpkPkInfo {
    assert_eq!(pk.len(), 1, "exactly one pk entry expected: {pk:?}");
    pk[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_full_story() {
    full_story(Deployment::new()).await;
}

/// The same story with the binary on a Redis Cluster (3 primaries + 3 replicas).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_full_story_on_a_redis_cluster() {
    full_story(Deployment::on_cluster()).await;
}

async fn full_story(deployment: Deployment) {
    let server = deployment.spawn().await;
    let test_start_secs = now_secs(&server);
    let log = EventLog::subscribe(&server).await;
    let mut steps = Steps { log: &log, cursor: 0 };
    server.set_config("linkcall.pk_seconds", "2").await;
    server.set_config("linkcall.punish_seconds", "1").await;
    server.set_config("linkcall.addtime_seconds", "60").await;
    let lc = server.linkcall();

    let host = Anchor::new(1001, 5001);
    let guest = Anchor::new(1002, 5002);
    let third = Anchor::new(1003, 5003);

    // ---- 1.1 / 11: profiles, come in, open ------------------------------------------------------
    for anchor in [&host, &guest] {
        anchor.refresh(&server).await;
        let before = lc
            .clone()
            .singer_come_in_room(SingerComeInRoomRequest {
                singer_id: anchor.id,
                singer_sid: anchor.sid,
            })
            .await
            .expect("SingerComeInRoom")
            .into_inner();
        assert_eq!(
            (before.singer_id, before.functiontime, before.pkid),
            (anchor.id, 0, 0),
            "{before:?}"
        );
        assert!(before.pk.is_empty() && before.popup_id == 0, "{before:?}");
        let opened = anchor.open(&server).await.expect("OpenFunction");
        assert_eq!((opened.singer_id, opened.open_state), (anchor.id, 1), "{opened:?}");
        assert_time_now(&server, "OpenFunction", opened.time_now);
        let after = lc
            .clone()
            .singer_come_in_room(SingerComeInRoomRequest {
                singer_id: anchor.id,
                singer_sid: anchor.sid,
            })
            .await
            .expect("SingerComeInRoom")
            .into_inner();
        assert!(u64::from(after.functiontime) + 2 >= now_secs(&server), "{after:?}");
        assert_eq!((after.popup_id, after.popup_time, after.popup_live, after.pkid), (0, 0, 0, 0));
    }

    // ---- 1.2 online list ------------------------------------------------------------------------
    assert_eq!(online_list(&server, &guest).await, vec![listed(&host, PkState::Apply)]);
    assert_eq!(online_list(&server, &host).await, vec![listed(&guest, PkState::Apply)]);

    // ---- 2 Apply ----------------------------------------------------------------------------------
    let applied = lc
        .clone()
        .apply(ApplyRequest {
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
        })
        .await
        .expect("Apply")
        .into_inner();
    assert_eq!(
        (applied.pk_state, applied.guest_id, applied.host_id),
        (PkState::Apply as i32, guest.id, host.id),
        "{applied:?}"
    );
    assert_time_now(&server, "Apply", applied.time_now);
    let got = steps
        .expect_exactly(
            "apply",
            vec![("APPLY to host", Box::new(|e| is_state(e, host.id, PkState::Apply)))],
        )
        .await;
    let nt = state_nt(&got[0]).unwrap();
    assert_eq!((nt.singer_id, nt.singer_sid, nt.pkid), (guest.id, guest.sid, 0), "{nt:?}");
    assert_eq!(
        (nt.singer_nick.as_str(), nt.singer_icon.clone()),
        (guest.nick.as_str(), guest.icon())
    );
    assert_eq!((nt.singer_level, nt.singer_star), (guest.level(), guest.star));
    assert_eq!(online_list(&server, &guest).await, vec![listed(&host, PkState::Applying)]);

    // ---- 8 SeekLinkList -------------------------------------------------------------------------
    assert_eq!(link_list(&server, &host).await, vec![listed(&guest, PkState::Apply)]);

    // ---- 3.1 Link -------------------------------------------------------------------------------
    let linked = link(&server, &host, &guest).await.expect("Link");
    assert_eq!(
        (linked.pk_state, linked.host_id, linked.guest_id),
        (PkState::Popup as i32, host.id, guest.id),
        "{linked:?}"
    );
    assert_time_now(&server, "Link", linked.time_now);
    let got = steps
        .expect_exactly(
            "link",
            vec![("POPUP to guest", Box::new(|e| is_state(e, guest.id, PkState::Popup)))],
        )
        .await;
    let nt = state_nt(&got[0]).unwrap();
    assert_eq!(
        (nt.singer_id, nt.singer_nick.as_str(), nt.singer_sid),
        (host.id, host.nick.as_str(), host.sid)
    );
    let comein = lc
        .clone()
        .singer_come_in_room(SingerComeInRoomRequest { singer_id: guest.id, singer_sid: guest.sid })
        .await
        .expect("SingerComeInRoom")
        .into_inner();
    assert_eq!(comein.popup_id, host.id, "{comein:?}");
    assert!(
        comein.popup_time + 2 >= now_secs(&server) && (1..=15).contains(&comein.popup_live),
        "{comein:?}"
    );
    assert_eq!(comein.pkid, 0);
    // The guest now holds a popup: the online list shows it as POPUP.
    assert_eq!(online_list(&server, &host).await, vec![listed(&guest, PkState::Popup)]);

    // ---- 3.2 Confirm agree ----------------------------------------------------------------------
    let confirmed = confirm(&server, &guest, &host, ConfirmCode::Agree).await.expect("Confirm");
    assert_eq!(
        (confirmed.pk_state, confirmed.code, confirmed.guest_id, confirmed.host_id),
        (PkState::Yes as i32, ConfirmCode::Agree as i32, guest.id, host.id),
        "{confirmed:?}"
    );
    assert_time_now(&server, "Confirm", confirmed.time_now);
    let p0 = confirmed.pkid;
    assert!(p0 > 0);
    let placeholder = the_pk(&confirmed.pk);
    assert_eq!(
        placeholder,
        LinkcallpkPkInfo {
            starttime: 0,
            pkalltime: 0,
            host_gift: 0,
            guest_gift: 0,
            host_id: host.id,
            guest_id: guest.id,
            host_sid: host.sid,
            guest_sid: guest.sid,
            phase: PkPhase::Linked as i32,
            phase_deadline_ms: 0,
            winner_id: 0,
        }
    );
    let scene = |room: &Anchor, pkid: u64| {
        let (sid, id) = (room.sid, room.id);
        move |e: &Event| {
            is(e, "linkcallpk_room_pk_scene_nt", ROOM, sid)
                && scene_nt(e)
                    .is_some_and(|nt| nt.pk_scene == 0 && nt.singer_id == id && nt.pkid == pkid)
        }
    };
    let got = steps
        .expect_exactly(
            "confirm",
            vec![
                ("scene to host room", Box::new(scene(&host, p0))),
                ("scene to guest room", Box::new(scene(&guest, p0))),
                (
                    "singer info to host room",
                    Box::new(|e| is(e, "linkcallpk_room_pk_singer_info_nt", ROOM, host.sid)),
                ),
                (
                    "singer info to guest room",
                    Box::new(|e| is(e, "linkcallpk_room_pk_singer_info_nt", ROOM, guest.sid)),
                ),
                ("YES to host", Box::new(|e| is_state(e, host.id, PkState::Yes))),
            ],
        )
        .await;
    for event in &got {
        assert_eq!(event.pkid, p0, "{event:?}");
    }
    assert_eq!(scene_nt(&got[0]).unwrap().singer_nick, host.nick);
    for event in &got[2..4] {
        let nt = singer_info_nt(event).unwrap();
        assert_eq!(
            (nt.h_singer.clone(), nt.g_singer.clone()),
            (vec![pk_singer(&host)], vec![pk_singer(&guest)])
        );
        assert_eq!(nt.pkid, p0);
    }
    assert_eq!(state_nt(&got[4]).unwrap().singer_id, guest.id);
    assert!(link_list(&server, &host).await.is_empty(), "confirm removes the application");
    let room = lc
        .clone()
        .user_come_in_room(UserComeInRoomRequest { singer_id: guest.id, singer_sid: guest.sid })
        .await
        .expect("UserComeInRoom")
        .into_inner();
    assert_eq!((room.pkid, the_pk(&room.pk)), (p0, placeholder), "{room:?}");
    assert_eq!((room.h_singer, room.g_singer), (vec![pk_singer(&host)], vec![pk_singer(&guest)]));
    assert!(room.h_users.is_empty() && room.g_users.is_empty());
    let comein = lc
        .clone()
        .singer_come_in_room(SingerComeInRoomRequest { singer_id: host.id, singer_sid: host.sid })
        .await
        .expect("SingerComeInRoom")
        .into_inner();
    assert_eq!(
        (comein.pkid, comein.popup_id, the_pk(&comein.pk).starttime),
        (p0, 0, 0),
        "{comein:?}"
    );
    assert_eq!(online_list(&server, &third).await.len(), 2);
    assert!(
        online_list(&server, &third).await.iter().all(|row| row.pk_state == PkState::Pking as i32),
        "both anchors are listed as in a PK"
    );

    // ---- 4.1 Start ------------------------------------------------------------------------------
    let start_ms = server.now_ms();
    let started = start(&server, &host, &guest).await.expect("Start");
    assert_eq!(
        (started.host_id, started.pk_state, started.pkid),
        (host.id, PkState::Start as i32, p0)
    );
    assert_time_now(&server, "Start", started.time_now);
    let scoring = the_pk(&started.pk);
    assert_eq!(
        (scoring.host_gift, scoring.guest_gift, scoring.pkalltime),
        (0, 0, 2),
        "{scoring:?}"
    );
    assert_eq!((scoring.phase, scoring.winner_id), (PkPhase::Scoring as i32, 0));
    assert!(scoring.starttime >= start_ms / 1000 && scoring.starttime <= now_secs(&server));
    assert!(
        scoring.phase_deadline_ms >= start_ms + 2000
            && scoring.phase_deadline_ms <= server.now_ms() + 2000,
        "{scoring:?}"
    );
    let info_of = |room: &Anchor, pkid: u64, phase: PkPhase| {
        let sid = room.sid;
        move |e: &Event| {
            is(e, "linkcallpk_room_pk_info_nt", ROOM, sid)
                && info_nt(e).is_some_and(|nt| {
                    nt.pkid == pkid
                        && nt.user.is_empty()
                        && nt.pk.first().is_some_and(|pk| pk.phase == phase as i32)
                })
        }
    };
    let got = steps
        .expect_exactly(
            "start",
            vec![
                ("START to guest", Box::new(|e| is_state(e, guest.id, PkState::Start))),
                ("info to host room", Box::new(info_of(&host, p0, PkPhase::Scoring))),
                ("info to guest room", Box::new(info_of(&guest, p0, PkPhase::Scoring))),
                ("scene to host room", Box::new(scene(&host, p0))),
                ("scene to guest room", Box::new(scene(&guest, p0))),
            ],
        )
        .await;
    assert!(got.iter().all(|event| event.pkid == p0), "{got:?}");
    assert_eq!(the_pk(&info_nt(&got[1]).unwrap().pk), scoring);

    // ---- gifts: a tie on the host's board, a duplicate, both sides ------------------------------
    let (a, b, c, d, e, f, g) = (9001, 9002, 9003, 9004, 9005, 9006, 9007);
    let first = gift(&server, "story-1", a, &host, 100).await;
    assert!(!first.duplicate);
    assert_eq!(first.changes.len(), 1, "{first:?}");
    let change = &first.changes[0];
    assert_eq!(
        (
            change.mode,
            change.pkid,
            change.receiver_id,
            change.side_total,
            change.sender_total,
            change.side.as_str()
        ),
        (livepk::pb::common::Mode::Linkcall as i32, p0, host.id, 100, 100, "host"),
    );
    let b1 = gift(&server, "story-2", b, &host, 60).await;
    assert_eq!((b1.changes[0].side_total, b1.changes[0].sender_total), (160, 60));
    let b2 = gift(&server, "story-3", b, &host, 40).await;
    assert_eq!(
        (b2.changes[0].side_total, b2.changes[0].sender_total),
        (200, 100),
        "B ties A, later"
    );
    // The replay below is the same gift, sent at the same moment (the send time is part of it).
    let story4_at = server.now_ms();
    let big = gift_at(&server, "story-4", c, &host, 300, story4_at).await;
    gift(&server, "story-5", d, &host, 10).await;
    gift(&server, "story-6", e, &host, 50).await;
    gift(&server, "story-7", f, &host, 20).await;
    let to_guest = gift(&server, "story-8", g, &guest, 200).await;
    assert_eq!(
        (
            to_guest.changes[0].side.as_str(),
            to_guest.changes[0].side_total,
            to_guest.changes[0].pkid
        ),
        ("guest", 200, p0)
    );
    gift(&server, "story-9", a, &guest, 30).await;
    let again = gift_at(&server, "story-4", c, &host, 300, story4_at).await;
    assert!(again.duplicate, "a repeated gift_txn_id is a duplicate: {again:?}");
    assert_eq!(again.changes, big.changes, "a duplicate answers the first call's outcome");
    assert!(
        server.now_ms() < scoring.phase_deadline_ms,
        "the gifts took longer than the scoring phase"
    );

    let host_top5 =
        vec![gifter(c, 300), gifter(a, 100), gifter(b, 100), gifter(e, 50), gifter(f, 20)];
    let guest_top = vec![gifter(g, 200), gifter(a, 30)];
    assert_eq!(seek_gift(&server, &host).await, (p0, host_top5.clone()));
    assert_eq!(seek_gift(&server, &guest).await, (p0, guest_top.clone()));
    for anchor in [&host, &guest] {
        let (pkid, pk) = server.seek_pk(anchor).await;
        let pk = pk.expect("a pk entry");
        assert_eq!((pkid, pk.host_gift, pk.guest_gift), (p0, 580, 230), "{pk:?}");
    }
    let room = lc
        .clone()
        .user_come_in_room(UserComeInRoomRequest { singer_id: host.id, singer_sid: host.sid })
        .await
        .expect("UserComeInRoom")
        .into_inner();
    assert_eq!(room.pkid, p0);
    let pk = the_pk(&room.pk);
    assert_eq!((pk.host_gift, pk.guest_gift, pk.phase), (580, 230, PkPhase::Scoring as i32));
    assert_eq!((room.h_users, room.g_users), (host_top5.clone(), guest_top.clone()));
    assert_eq!((room.h_singer, room.g_singer), (vec![pk_singer(&host)], vec![pk_singer(&guest)]));
    // The gift notification reaches both rooms (coalesced; it lists the changed gifters).
    for room in [&host, &guest] {
        let sid = room.sid;
        log.wait_for("a gift info nt listing C's 300 on the host's board", |event| {
            is(event, "linkcallpk_room_pk_info_nt", ROOM, sid)
                && info_nt(event).is_some_and(|nt| {
                    nt.pkid == p0
                        && nt.singer_id == host.id
                        && nt.user.iter().any(|user| user.user_id == c && user.user_gift == 300)
                })
        })
        .await;
    }

    // ---- 5.1 the automatic count at the deadline --------------------------------------------------
    let (pkid, punished) = server.wait_phase(&host, PkPhase::Punishment).await;
    // Outside scoring a gift counts for nothing.
    let late_gift = gift(&server, "story-late", d, &host, 999).await;
    assert!(!late_gift.duplicate && late_gift.changes.is_empty(), "{late_gift:?}");
    assert!(server.now_ms() >= scoring.phase_deadline_ms);
    assert_eq!(pkid, p0);
    assert_eq!(
        (punished.host_gift, punished.guest_gift, punished.winner_id),
        (580, 230, host.id),
        "{punished:?}"
    );
    let pklist_to = |anchor: &Anchor| {
        let id = anchor.id;
        move |e: &Event| is_pklist(e, id, PkState::Count, p0)
    };
    // Loose about the gifts' score nts only: the coalescer sends them on its own tick (every
    // 500 ms), so they come after the start step at a moment the test does not know — usually
    // before the count, possibly (on a slow machine) after it.
    let got = steps
        .expect_amid(
            "count at the deadline",
            |e| is_score_nt(e, p0),
            vec![
                ("COUNT pklist to host", Box::new(pklist_to(&host))),
                ("COUNT pklist to guest", Box::new(pklist_to(&guest))),
                (
                    "COUNT state to host",
                    Box::new(|e| is_state(e, host.id, PkState::Count) && e.pkid == p0),
                ),
                (
                    "COUNT state to guest",
                    Box::new(|e| is_state(e, guest.id, PkState::Count) && e.pkid == p0),
                ),
                ("info to host room", Box::new(info_of(&host, p0, PkPhase::Punishment))),
                ("info to guest room", Box::new(info_of(&guest, p0, PkPhase::Punishment))),
                ("scene to host room", Box::new(scene(&host, p0))),
                ("scene to guest room", Box::new(scene(&guest, p0))),
            ],
        )
        .await;
    for event in &got[..2] {
        let nt = pklist_nt(event).unwrap();
        let pk = the_pk(&nt.pk);
        assert_eq!(
            (pk.host_gift, pk.guest_gift, pk.winner_id, pk.phase),
            (580, 230, host.id, PkPhase::Punishment as i32)
        );
        assert_eq!(
            (nt.h_users.clone(), nt.g_users.clone()),
            (host_top5.clone(), guest_top.clone())
        );
    }
    for event in &got[4..6] {
        let pk = the_pk(&info_nt(event).unwrap().pk);
        assert_eq!((pk.host_gift, pk.guest_gift, pk.winner_id), (580, 230, host.id));
    }

    // ---- punishment ends -> linked ------------------------------------------------------------------
    let (pkid, relinked) = server.wait_phase(&host, PkPhase::Linked).await;
    assert_eq!((pkid, relinked.phase_deadline_ms), (p0, 0), "{relinked:?}");
    assert_eq!((relinked.host_gift, relinked.guest_gift, relinked.winner_id), (580, 230, host.id));
    // Loose about the gifts' score nts for the same reason as the count.
    steps
        .expect_amid(
            "punishment ends",
            |e| is_score_nt(e, p0),
            vec![
                ("info to host room", Box::new(info_of(&host, p0, PkPhase::Linked))),
                ("info to guest room", Box::new(info_of(&guest, p0, PkPhase::Linked))),
            ],
        )
        .await;

    // A Count now: 024 with the settled result.
    let late = count(&server, &guest, &host, &guest).await.expect_err("Count after the settle");
    // The domain answers 024 as ABORTED (crates/linkcall/src/error.rs: "the second of two racing
    // settles lost the race"); SPEC §3 allows ABORTED for lost races.
    let metadata = assert_business(&late, tonic::Code::Aborted, "403400024");
    assert_eq!(metadata.get("pkid").map(String::as_str), Some(p0.to_string().as_str()), "{late:?}");
    assert_eq!(metadata.get("pk_state").map(String::as_str), Some("12"));
    assert_eq!(metadata.get("host_gift").map(String::as_str), Some("580"));
    assert_eq!(metadata.get("guest_gift").map(String::as_str), Some("230"));
    assert_eq!(metadata.get("winner_id").map(String::as_str), Some(host.id.to_string().as_str()));

    // The record of the settled PK.
    let record = server.wait_record(p0).await;
    assert_eq!(
        (record.ended_by.as_str(), record.winner_id, record.winner_side.as_str()),
        ("deadline", host.id, "host")
    );
    // Each participant carries its anchor's room.
    let scores: Vec<(u64, u64, String, i64)> =
        record.participants.iter().map(|p| (p.id, p.sid, p.side.clone(), p.score)).collect();
    assert_eq!(
        scores,
        vec![(host.id, host.sid, "host".into(), 580), (guest.id, guest.sid, "guest".into(), 230)]
    );
    assert!(
        record.starttime_ms >= start_ms
            && record.starttime_ms <= scoring.phase_deadline_ms - 2000 + 5
    );
    assert_eq!(
        record.endtime_ms, scoring.phase_deadline_ms,
        "a deadline settle ends at the deadline"
    );

    // ---- rematch: a new pkid, scores and boards reset ------------------------------------------------
    server.set_config("linkcall.pk_seconds", "30").await;
    let rematch_start_ms = server.now_ms();
    let rematch = start(&server, &host, &guest).await.expect("rematch Start");
    let p1 = rematch.pkid;
    assert!(p1 > p0, "a rematch gets a new pkid: {rematch:?}");
    let pk = the_pk(&rematch.pk);
    assert_eq!(
        (pk.host_gift, pk.guest_gift, pk.pkalltime, pk.phase),
        (0, 0, 30, PkPhase::Scoring as i32)
    );
    assert_eq!(seek_gift(&server, &host).await, (p1, vec![]));
    assert_eq!(seek_gift(&server, &guest).await, (p1, vec![]));
    let (pkid, pk) = server.seek_pk(&guest).await;
    assert_eq!((pkid, pk.unwrap().host_gift, pk.unwrap().guest_gift), (p1, 0, 0));
    steps
        .expect_exactly(
            "rematch",
            vec![
                (
                    "START to guest",
                    Box::new(|e| is_state(e, guest.id, PkState::Start) && e.pkid == p1),
                ),
                ("info to host room", Box::new(info_of(&host, p1, PkPhase::Scoring))),
                ("info to guest room", Box::new(info_of(&guest, p1, PkPhase::Scoring))),
                ("scene to host room", Box::new(scene(&host, p1))),
                ("scene to guest room", Box::new(scene(&guest, p1))),
            ],
        )
        .await;
    let rematch_gift = gift(&server, "story-10", b, &guest, 70).await;
    assert_eq!(
        (
            rematch_gift.changes[0].pkid,
            rematch_gift.changes[0].side_total,
            rematch_gift.changes[0].sender_total
        ),
        (p1, 70, 70)
    );

    // A gift sent before this battle started (delivered late) does not count for it.
    let stale = gift_at(&server, "story-11", b, &guest, 500, rematch_start_ms - 1_000).await;
    assert!(stale.changes.is_empty(), "{stale:?}");
    assert_eq!(server.seek_pk(&guest).await.1.unwrap().guest_gift, 70);
    // The rematch gift's score nt, one to each room, listing B; the stale gift sends none. Waited
    // for here, so that the steps after it see only their own events.
    let score_to = |room: &Anchor| {
        let sid = room.sid;
        move |e: &Event| {
            is(e, "linkcallpk_room_pk_info_nt", ROOM, sid)
                && info_nt(e).is_some_and(|nt| {
                    nt.pkid == p1
                        && nt.singer_id == guest.id
                        && nt.user == vec![gifter(b, 70)]
                        && nt.pk.first().is_some_and(|pk| (pk.host_gift, pk.guest_gift) == (0, 70))
                })
        }
    };
    steps
        .expect_exactly(
            "rematch gift",
            vec![
                ("score nt to host room", Box::new(score_to(&host))),
                ("score nt to guest room", Box::new(score_to(&guest))),
            ],
        )
        .await;

    // ---- 4.2 SwitchScene: each anchor turns only its own room 0 -> 1 -> 2 -> 0 --------------------
    for (anchor, expected) in [(&host, 1), (&guest, 1), (&host, 2), (&host, 0), (&host, 1)] {
        let switched = lc
            .clone()
            .switch_scene(SwitchSceneRequest { singer_id: anchor.id, singer_sid: anchor.sid })
            .await
            .expect("SwitchScene")
            .into_inner();
        assert_eq!(
            (switched.singer_id, switched.pk_scene, switched.pkid),
            (anchor.id, expected, p1),
            "{switched:?}"
        );
        let (sid, id) = (anchor.sid, anchor.id);
        steps
            .expect_exactly(
                "switch scene",
                vec![(
                    "scene to the anchor's own room",
                    Box::new(move |e| {
                        is(e, "linkcallpk_room_pk_scene_nt", ROOM, sid)
                            && scene_nt(e).is_some_and(|nt| {
                                nt.singer_id == id && nt.pk_scene == expected && nt.pkid == p1
                            })
                    }),
                )],
            )
            .await;
    }

    // ---- 5.2 AddTime: another pkid, scores carried over ------------------------------------------------
    let extended = lc
        .clone()
        .add_time(AddTimeRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .expect("AddTime")
        .into_inner();
    let p2 = extended.pkid;
    assert!(p2 > p1, "{extended:?}");
    assert_eq!((extended.host_id, extended.pk_state), (host.id, PkState::Addtime as i32));
    let pk = the_pk(&extended.pk);
    assert_eq!(
        (pk.host_gift, pk.guest_gift, pk.phase, pk.pkalltime),
        (0, 70, PkPhase::Scoring as i32, 90),
        "{pk:?}"
    );
    assert_eq!(seek_gift(&server, &guest).await, (p2, vec![gifter(b, 70)]));
    let got = steps
        .expect_exactly(
            "add time",
            vec![
                (
                    "ADDTIME pklist to guest",
                    Box::new(|e| is_pklist(e, guest.id, PkState::Addtime, p2)),
                ),
                (
                    "ADDTIME state to guest",
                    Box::new(|e| is_state(e, guest.id, PkState::Addtime) && e.pkid == p2),
                ),
                // Both anchors hear it: the request does not say which of them called.
                (
                    "ADDTIME state to host",
                    Box::new(|e| is_state(e, host.id, PkState::Addtime) && e.pkid == p2),
                ),
                ("info to host room", Box::new(info_of(&host, p2, PkPhase::Scoring))),
                ("info to guest room", Box::new(info_of(&guest, p2, PkPhase::Scoring))),
                ("host room back to scene 0", Box::new(scene(&host, p2))),
                ("guest room back to scene 0", Box::new(scene(&guest, p2))),
            ],
        )
        .await;
    assert_eq!(the_pk(&pklist_nt(&got[0]).unwrap().pk).guest_gift, 70);
    assert_eq!(
        (state_nt(&got[1]).unwrap().singer_id, state_nt(&got[2]).unwrap().singer_id),
        (host.id, guest.id),
        "each anchor's nt names the other one"
    );

    // ---- 5.3 Close ---------------------------------------------------------------------------------
    let closed = close(&server, &host, &host, &guest).await.expect("Close");
    assert_eq!(
        (closed.host_id, closed.pk_state, closed.pkid),
        (host.id, PkState::Over as i32, p2),
        "{closed:?}"
    );
    let pk = the_pk(&closed.pk);
    assert_eq!((pk.host_gift, pk.guest_gift, pk.winner_id), (0, 70, guest.id), "{pk:?}");
    let got = steps
        .expect_exactly(
            "close",
            vec![
                ("OVER to guest", Box::new(|e| is_state(e, guest.id, PkState::Over))),
                // Both anchors hear it: the request does not say which of them closed.
                ("OVER to host", Box::new(|e| is_state(e, host.id, PkState::Over))),
                ("final info to host room", Box::new(info_of(&host, p2, PkPhase::Unspecified))),
                ("final info to guest room", Box::new(info_of(&guest, p2, PkPhase::Unspecified))),
            ],
        )
        .await;
    assert!(got.iter().all(|event| event.pkid == p2), "{got:?}");
    assert_eq!(
        (state_nt(&got[0]).unwrap().singer_id, state_nt(&got[1]).unwrap().singer_id),
        (host.id, guest.id),
        "each anchor's nt names the other one"
    );
    for event in &got[2..] {
        let pk = the_pk(&info_nt(event).unwrap().pk);
        assert_eq!((pk.host_gift, pk.guest_gift, pk.winner_id), (0, 70, guest.id), "{pk:?}");
    }
    let record = server.wait_record(p2).await;
    assert_eq!(
        (record.ended_by.as_str(), record.winner_id, record.winner_side.as_str()),
        ("close", guest.id, "guest")
    );
    assert_eq!(record.participants.iter().map(|p| p.score).collect::<Vec<_>>(), vec![0, 70]);
    assert!(
        server.record(p1).await.is_none(),
        "the pkid superseded by AddTime has no record of its own"
    );
    assert_eq!(server.records_of(host.id).await.len(), 2);
    for anchor in [&host, &guest] {
        assert_eq!(server.seek_pk(anchor).await, (0, None), "anchor {} is released", anchor.id);
        assert_eq!(seek_gift(&server, anchor).await, (0, vec![]));
    }
    assert_eq!(online_list(&server, &guest).await, vec![listed(&host, PkState::Apply)]);

    // A second Close: nothing to close, pkid 0 and zeros.
    let again = close(&server, &host, &host, &guest).await.expect("second Close");
    assert_eq!((again.pkid, again.pk.len()), (0, 0), "{again:?}");
    let zeros_as_documented = again.host_id == 0 && again.pk_state == PkState::Offline as i32;

    // ---- 12 SingerLeave: applicants told OFFLINE, gone from the online list ---------------------------
    third.online(&server).await;
    lc.clone()
        .apply(ApplyRequest {
            guest_id: third.id,
            guest_sid: third.sid,
            host_id: host.id,
            host_sid: host.sid,
        })
        .await
        .expect("Apply by the third anchor");
    steps
        .expect_exactly(
            "third applies",
            vec![("APPLY to host", Box::new(|e| is_state(e, host.id, PkState::Apply)))],
        )
        .await;
    let left = lc
        .clone()
        .singer_leave(SingerLeaveRequest { singer_id: host.id, singer_sid: host.sid })
        .await
        .expect("SingerLeave")
        .into_inner();
    assert_eq!((left.singer_id, left.pkid, left.pk.len()), (host.id, 0, 0), "{left:?}");
    let got = steps
        .expect_exactly(
            "host leaves",
            vec![(
                "OFFLINE to the applicant",
                Box::new(|e| is_state(e, third.id, PkState::Offline)),
            )],
        )
        .await;
    assert_eq!(state_nt(&got[0]).unwrap().singer_id, host.id);
    assert_eq!(online_list(&server, &guest).await, vec![listed(&third, PkState::Apply)]);
    assert_eq!(online_list(&server, &third).await, vec![listed(&guest, PkState::Apply)]);
    assert!(link_list(&server, &host).await.is_empty());

    // ---- the whole stream ---------------------------------------------------------------------------
    steps.expect_end(&server).await;
    let events = log.snapshot();
    let mut previous = (0, 0);
    for event in &events {
        let position = stream_position(&event.event_id);
        assert!(position > previous, "event ids strictly increase: {event:?}");
        previous = position;
        assert_eq!(event.mode, livepk::pb::common::Mode::Linkcall as i32);
        assert_eq!(
            event.r#type,
            payload_name(event),
            "the payload is the type's message: {event:?}"
        );
        assert!(
            event.time_now >= test_start_secs && event.time_now <= now_secs(&server),
            "{event:?}"
        );
        if event.r#type != "linkcallpk_singer_state_nt" {
            assert!(event.pkid > 0, "a battle nt names its pk: {event:?}");
        }
        assert_eq!(event.pkid, payload_pkid(event), "envelope and payload agree: {event:?}");
    }
    // SwitchScene told only the switching anchor's room, once per switch.
    let switched: Vec<(u64, u64)> = events
        .iter()
        .filter_map(scene_nt)
        .filter(|nt| nt.pk_scene != 0)
        .map(|nt| (nt.singer_sid, nt.pk_scene))
        .collect();
    assert_eq!(
        switched,
        vec![(host.sid, 1), (guest.sid, 1), (host.sid, 2), (host.sid, 1)],
        "scene nts off the PK view"
    );
    for anchor in [&host, &guest] {
        assert_eq!(
            count_pklists(&events, anchor.id, p0),
            1,
            "one COUNT pklist nt for anchor {}",
            anchor.id
        );
        assert_eq!(count_pklists(&events, anchor.id, p1), 0);
        assert_eq!(count_pklists(&events, anchor.id, p2), 0);
    }
    assert!(
        zeros_as_documented,
        "Close with nothing to close: proto CloseResponse says host_id 0 and pk_state OFFLINE (seed 5.3 \
         \"rs返回data都是0\"), got host_id {} pk_state {}",
        again.host_id, again.pk_state
    );
}
