//! LinkCallPk deadlines are delay-queue jobs in Redis: they survive a `kill -9` of the server
//! that scheduled them and fire exactly once when several server processes share one Redis
//! (issue 2 item 4). Real `livepk` processes, real Redis, one SQLite file shared by all.

mod support;

use std::time::Duration;

use futures::future::join_all;
use livepk::pb::admin::ListPkRecordsRequest;
use livepk::pb::common::{Mode, TargetKind};
use livepk::pb::events::Event;
use livepk::pb::linkcall::PkPhase;
use support::*;

/// `linkcallpk_room_pk_info_nt` of `pkid` showing `phase`, to any room.
fn infos_in_phase(events: &[Event], pkid: u64, phase: PkPhase) -> usize {
    events
        .iter()
        .filter(|event| {
            event.r#type == "linkcallpk_room_pk_info_nt"
                && target_of(event).0 == TargetKind::Room
                && info_nt(event).is_some_and(|nt| {
                    nt.pkid == pkid && nt.user.is_empty() && nt.pk[0].phase == phase as i32
                })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_restart_deadline_survives_kill_9() {
    let deployment = Deployment::new();
    let mut first = deployment.spawn().await;
    first.set_config("linkcall.pk_seconds", "3").await;
    first.set_config("linkcall.punish_seconds", "1").await;
    // Settled at the deadline itself: the settle grace is not what this test is about.
    first.set_config("score.grace_ms", "0").await;
    let host = Anchor::new(4001, 8001);
    let guest = Anchor::new(4002, 8002);
    host.online(&first).await;
    guest.online(&first).await;
    let started = battle(&first, &host, &guest).await;
    let pkid = started.pkid;
    let deadline = started.pk[0].phase_deadline_ms;
    gift(&first, "restart-1", 9301, &host, 50).await;

    // kill -9 well before the deadline: nothing of the deadline has run yet.
    first.kill();
    assert!(first.now_ms() + 1_000 < deadline, "the server was killed too late to prove anything");

    let second = deployment.spawn().await;
    let (seen, punished) = second.wait_phase(&host, PkPhase::Punishment).await;
    assert!(second.now_ms() >= deadline);
    assert_eq!((seen, punished.host_gift, punished.winner_id), (pkid, 50, host.id), "{punished:?}");
    second.wait_phase(&host, PkPhase::Linked).await;
    let record = second.wait_record(pkid).await;
    assert_eq!((record.ended_by.as_str(), record.winner_id), ("deadline", host.id), "{record:?}");
    assert_eq!(record.endtime_ms, deadline);
    assert_eq!(second.records_of(host.id).await.len(), 1);

    // The same again for the punishment deadline: settled by the second server, which dies
    // during the punishment; a third server ends it.
    second.set_config("linkcall.pk_seconds", "1").await;
    second.set_config("linkcall.punish_seconds", "2").await;
    let mut second = second;
    let rematch = start(&second, &host, &guest).await.expect("rematch Start");
    let rematch_pkid = rematch.pkid;
    gift(&second, "restart-2", 9302, &guest, 70).await;
    let (_, punished) = second.wait_phase(&guest, PkPhase::Punishment).await;
    assert_eq!(punished.winner_id, guest.id);
    second.kill();
    assert!(
        second.now_ms() + 500 < punished.phase_deadline_ms,
        "killed too late to prove anything"
    );
    let third = deployment.spawn().await;
    let (seen, linked) = third.wait_phase(&guest, PkPhase::Linked).await;
    assert!(third.now_ms() >= punished.phase_deadline_ms);
    assert_eq!((seen, linked.guest_gift), (rematch_pkid, 70));
    third.wait_record(rematch_pkid).await;

    // Exactly once, as the stream shows it.
    let events = third.fetch_all().await;
    for anchor in [&host, &guest] {
        assert_eq!(
            count_pklists(&events, anchor.id, pkid),
            1,
            "COUNT pklist of pk {pkid} to {}",
            anchor.id
        );
        assert_eq!(
            count_pklists(&events, anchor.id, rematch_pkid),
            1,
            "COUNT pklist of pk {rematch_pkid}"
        );
    }
    assert_eq!(infos_in_phase(&events, pkid, PkPhase::Punishment), 2, "one count info nt per room");
    assert_eq!(
        infos_in_phase(&events, pkid, PkPhase::Linked),
        2,
        "one punishment-end info nt per room"
    );
    assert_eq!(
        infos_in_phase(&events, rematch_pkid, PkPhase::Linked),
        2,
        "one punishment-end info nt per room"
    );
    assert_eq!(third.records_of(host.id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_restart_two_processes_fire_once() {
    let deployment = Deployment::new();
    // One after the other: two processes starting at once on a fresh SQLite file race its
    // migrations (see `two_processes_start_together_on_a_fresh_database`).
    let a = deployment.spawn().await;
    let b = deployment.spawn().await;
    for server in [&a, &b] {
        server.set_config("linkcall.pk_seconds", "2").await;
        server.set_config("linkcall.punish_seconds", "1").await;
    }
    // Five battles, each set up on one process and fed gifts through the other; battle 4 is a
    // draw (no gifts), which goes straight back to linked.
    let battles = (0..5u64).map(|i| {
        let (setup, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        async move {
            let host = Anchor::new(4101 + 2 * i, 8101 + 2 * i);
            let guest = Anchor::new(4102 + 2 * i, 8102 + 2 * i);
            host.online(setup).await;
            guest.online(setup).await;
            let started = battle(setup, &host, &guest).await;
            let deadline = started.pk[0].phase_deadline_ms;
            let winner = match i {
                4 => 0,
                _ if i % 2 == 0 => {
                    gift(other, &format!("two-{i}"), 9400 + i, &host, 10 + i).await;
                    host.id
                }
                _ => {
                    gift(other, &format!("two-{i}"), 9400 + i, &guest, 10 + i).await;
                    guest.id
                }
            };
            // The record appears when the deadline settles the battle (on the real clock: allow
            // the time left until the deadline, then the usual slack), then the punishment
            // (if any) ends.
            let until_deadline = Duration::from_millis(deadline.saturating_sub(setup.now_ms()));
            let pkid = started.pkid;
            let record = eventually(
                &format!("the record of battle {i} (pk {pkid})"),
                until_deadline + SETTLE_SLACK,
                || setup.record(pkid),
            )
            .await;
            let (_, linked) = other.wait_phase(&host, PkPhase::Linked).await;
            assert_eq!(linked.winner_id, winner, "battle {i}: {linked:?}");
            assert_eq!(
                (record.ended_by.as_str(), record.winner_id, record.endtime_ms),
                ("deadline", winner, deadline)
            );
            (host, guest, started.pkid)
        }
    });
    let battles = join_all(battles).await;

    let events = a.fetch_all().await;
    assert_eq!(events.len(), b.fetch_all().await.len(), "both processes read the same stream");
    for (host, guest, pkid) in &battles {
        for anchor in [host, guest] {
            assert_eq!(
                count_pklists(&events, anchor.id, *pkid),
                1,
                "COUNT pklist of pk {pkid} to {}",
                anchor.id
            );
        }
        assert_eq!(
            infos_in_phase(&events, *pkid, PkPhase::Scoring),
            2,
            "pk {pkid}: one start info per room"
        );
    }
    let records = a
        .admin()
        .list_pk_records(ListPkRecordsRequest {
            mode: Mode::Linkcall as i32,
            singer_id: 0,
            page_num: 0,
            page_size: 50,
        })
        .await
        .expect("ListPkRecords")
        .into_inner();
    assert_eq!(records.total, 5, "{records:?}");
    let mut pkids: Vec<u64> = records.records.iter().map(|record| record.pkid).collect();
    pkids.sort_unstable();
    let mut expected: Vec<u64> = battles.iter().map(|(_, _, pkid)| *pkid).collect();
    expected.sort_unstable();
    assert_eq!(pkids, expected);
}

/// Replicas of a fresh deployment start at the same moment (a rollout): each must come up.
/// Fails today: sqlx takes no lock for SQLite migrations, so both processes run
/// `0001_init.sql` and the loser exits with "table pk_config already exists".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_restart_two_processes_start_together_on_a_fresh_database() {
    for _ in 0..3 {
        let deployment = Deployment::new();
        let servers = join_all((0..3).map(|_| deployment.spawn())).await;
        for server in &servers {
            server.set_config("linkcall.pk_seconds", "2").await;
        }
    }
}
