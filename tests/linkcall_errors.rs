//! LinkCallPk refusals through the real `livepk` binary: invalid input (403400021 naming the
//! field), the target checks of Link in the seed's order (031, 025, 028, 029, 030 with the
//! target's `pk_state`), who may Confirm/Start/Count/Close, the OpenFunction gate (022), and
//! the timing codes 023 / 027.

mod support;

use livepk::pb::admin::AddWhitelistRequest;
use livepk::pb::linkcall::{
    AddTimeRequest, ApplyRequest, ConfirmCode, ConfirmRequest, LinkRequest, OpenFunctionRequest,
    PkState, RefreshSingerProfileRequest, SeekOnlineListRequest, SetSingerActivityRequest,
    SingerActivity, SingerLeaveRequest, StartRequest, SwitchSceneRequest, UserSeekPkRequest,
};
use support::*;
use tonic::Code;

fn pk_state_of(status: &tonic::Status) -> String {
    error_metadata(status).get("pk_state").cloned().unwrap_or_default()
}

async fn set_activity(server: &Client, anchor: &Anchor, activity: SingerActivity) {
    server
        .linkcall()
        .set_singer_activity(SetSingerActivityRequest {
            singer_id: anchor.id,
            activity: activity as i32,
        })
        .await
        .expect("SetSingerActivity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_errors_invalid_input() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    let lc = server.linkcall();
    let host = Anchor::new(2001, 6001);
    let guest = Anchor::new(2002, 6002);
    host.online(&server).await;
    guest.online(&server).await;

    let status = lc
        .clone()
        .link(LinkRequest {
            host_id: 0,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "host_id");
    let status = lc
        .clone()
        .apply(ApplyRequest {
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: 0,
            host_sid: host.sid,
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "host_id");
    let status = lc
        .clone()
        .start(StartRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: 0,
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "guest_sid");
    for code in [0, 3, 9] {
        let status = lc
            .clone()
            .confirm(ConfirmRequest {
                guest_id: guest.id,
                guest_sid: guest.sid,
                host_id: host.id,
                host_sid: host.sid,
                code,
            })
            .await
            .unwrap_err();
        assert_invalid(&status, "code");
    }
    let status = lc
        .clone()
        .open_function(OpenFunctionRequest { singer_id: host.id, singer_sid: host.sid, pk_open: 7 })
        .await
        .unwrap_err();
    assert_invalid(&status, "pk_open");
    let status = lc
        .clone()
        .open_function(OpenFunctionRequest { singer_id: 0, singer_sid: host.sid, pk_open: 1 })
        .await
        .unwrap_err();
    assert_invalid(&status, "singer_id");
    for activity in [SingerActivity::Unspecified as i32, 42] {
        let status = lc
            .clone()
            .set_singer_activity(SetSingerActivityRequest { singer_id: guest.id, activity })
            .await
            .unwrap_err();
        assert_invalid(&status, "activity");
    }
    let status = lc
        .clone()
        .user_seek_pk(UserSeekPkRequest { singer_id: 0, singer_sid: 1 })
        .await
        .unwrap_err();
    assert_invalid(&status, "singer_id");
    let status = lc
        .clone()
        .refresh_singer_profile(RefreshSingerProfileRequest {
            singer_id: host.id,
            singer_sid: host.sid,
            singer_nick: "n".repeat(513),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "singer_nick");
    // Linking oneself.
    let status = link(&server, &host, &host).await.unwrap_err();
    assert_invalid(&status, "guest_id");

    // Nothing of the above changed anything: the pair can still link.
    let linked = link(&server, &host, &guest).await.expect("Link after the refusals");
    assert_eq!(linked.pk_state, PkState::Popup as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_errors_link_target_states() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    let host = Anchor::new(2101, 6101);
    host.online(&server).await;

    // Offline: never opened the function (031, pk_state 0).
    let never = Anchor::new(2102, 6102);
    never.refresh(&server).await;
    let status = link(&server, &host, &never).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400031");
    assert_eq!(pk_state_of(&status), "0", "{status:?}");
    // Offline beats the game flag (the seed's order: offline first).
    set_activity(&server, &never, SingerActivity::Game).await;
    let status = link(&server, &host, &never).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400031");

    // Offline: opened, then left the channel.
    let gone = Anchor::new(2103, 6103);
    gone.online(&server).await;
    server
        .linkcall()
        .singer_leave(SingerLeaveRequest { singer_id: gone.id, singer_sid: gone.sid })
        .await
        .expect("SingerLeave");
    let status = link(&server, &host, &gone).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400031");
    assert_eq!(pk_state_of(&status), "0");

    // Playing a game: 028 (pk_state GAMING 6); 电锯: 029 (SAWING 7); cleared: linkable.
    let busy = Anchor::new(2104, 6104);
    busy.online(&server).await;
    set_activity(&server, &busy, SingerActivity::Game).await;
    let status = link(&server, &host, &busy).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400028");
    assert_eq!(pk_state_of(&status), "6");
    set_activity(&server, &busy, SingerActivity::Saw).await;
    let status = link(&server, &host, &busy).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400029");
    assert_eq!(pk_state_of(&status), "7");
    // The online list shows why.
    let listed = server
        .linkcall()
        .seek_online_list(SeekOnlineListRequest {
            singer_id: host.id,
            singer_sid: host.sid,
            page_num: 0,
        })
        .await
        .expect("SeekOnlineList")
        .into_inner()
        .singers;
    let row =
        listed.iter().find(|row| row.singer_id == busy.id).expect("the busy anchor is listed");
    assert_eq!(row.pk_state, PkState::Sawing as i32);
    set_activity(&server, &busy, SingerActivity::None).await;

    // An unhandled popup from another host: 030 (POPUP 8).
    let other_host = Anchor::new(2105, 6105);
    other_host.online(&server).await;
    link(&server, &other_host, &busy).await.expect("the first Link");
    let status = link(&server, &host, &busy).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400030");
    assert_eq!(pk_state_of(&status), "8");
    // The host that is waiting for an answer cannot link anyone else meanwhile either.
    let status = link(&server, &other_host, &host).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400030");

    // In a PK: 025 (PKING 5), also when it plays a game at the same time (PK comes first).
    let fighter_host = Anchor::new(2106, 6106);
    let fighter = Anchor::new(2107, 6107);
    fighter_host.online(&server).await;
    fighter.online(&server).await;
    pair_up(&server, &fighter_host, &fighter).await;
    let status = link(&server, &host, &fighter).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400025");
    assert_eq!(pk_state_of(&status), "5");
    set_activity(&server, &fighter, SingerActivity::Game).await;
    let status = link(&server, &host, &fighter).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400025");
    // Applying to an anchor in a PK: 025 as well.
    let status = server
        .linkcall()
        .apply(ApplyRequest {
            guest_id: host.id,
            guest_sid: host.sid,
            host_id: fighter.id,
            host_sid: fighter.sid,
        })
        .await
        .unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400025");

    // A host that has not opened the function: 022.
    let closed_host = Anchor::new(2108, 6108);
    closed_host.refresh(&server).await;
    let status = link(&server, &closed_host, &host).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400022");

    // After all that, a free anchor is linkable.
    let free = Anchor::new(2109, 6109);
    free.online(&server).await;
    assert_eq!(link(&server, &host, &free).await.expect("Link").pk_state, PkState::Popup as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_errors_permissions() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.pk_seconds", "60").await;
    let host = Anchor::new(2201, 6201);
    let guest = Anchor::new(2202, 6202);
    let outsider = Anchor::new(2203, 6203);
    let other_host = Anchor::new(2204, 6204);
    for anchor in [&host, &guest, &outsider, &other_host] {
        anchor.online(&server).await;
    }

    link(&server, &host, &guest).await.expect("Link");
    // An anchor without any popup confirms host's invitation: the invitation is not theirs
    // (026, NOT_FOUND: there is no pending invitation from host to them).
    let status = confirm(&server, &outsider, &host, ConfirmCode::Agree).await.unwrap_err();
    assert_business(&status, Code::NotFound, "403400026");
    // An anchor holding another host's popup confirms naming host: PERMISSION_DENIED.
    link(&server, &other_host, &outsider).await.expect("Link to the outsider");
    let status = confirm(&server, &outsider, &host, ConfirmCode::Agree).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(error_metadata(&status).get("field").map(String::as_str), Some("host_id"));
    let status = confirm(&server, &outsider, &host, ConfirmCode::Refuse).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // None of it touched the real invitation: the invited guest still confirms.
    let confirmed = confirm(&server, &guest, &host, ConfirmCode::Agree).await.expect("Confirm");
    let pkid = confirmed.pkid;

    // Start by the guest as host_id: PERMISSION_DENIED naming host_id.
    let status = start(&server, &guest, &host).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(error_metadata(&status).get("field").map(String::as_str), Some("host_id"));
    // An outsider naming the real guest: PERMISSION_DENIED for every battle command.
    let status = start(&server, &outsider, &guest).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = server
        .linkcall()
        .add_time(AddTimeRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: outsider.id,
            guest_sid: outsider.sid,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(error_metadata(&status).get("field").map(String::as_str), Some("guest_id"));
    start(&server, &host, &guest).await.expect("Start by the host");
    let status = count(&server, &outsider, &outsider, &guest).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = close(&server, &outsider, &host, &outsider).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // An anchor in no PK switching scenes: 026 (no PK scene to act on).
    let status = server
        .linkcall()
        .switch_scene(SwitchSceneRequest { singer_id: outsider.id, singer_sid: outsider.sid })
        .await
        .unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400026");

    // The battle is untouched by all of the above.
    let (seen, pk) = server.seek_pk(&guest).await;
    assert_eq!(seen, pkid);
    assert_eq!(pk.expect("pk").phase, livepk::pb::linkcall::PkPhase::Scoring as i32);
    assert!(server.record(pkid).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_errors_open_gate() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.min_star", "5").await;

    let dim = Anchor { star: 4, ..Anchor::new(2301, 6301) };
    dim.refresh(&server).await;
    let status = dim.open(&server).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400022");
    // No profile at all counts as star 0.
    let unknown = Anchor::new(2302, 6302);
    let status = unknown.open(&server).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400022");
    let bright = Anchor { star: 5, ..Anchor::new(2303, 6303) };
    bright.refresh(&server).await;
    assert_eq!(bright.open(&server).await.expect("star 5 opens").open_state, 1);
    // The refused anchor is not listed.
    let listed = server
        .linkcall()
        .seek_online_list(SeekOnlineListRequest {
            singer_id: bright.id,
            singer_sid: bright.sid,
            page_num: 0,
        })
        .await
        .expect("SeekOnlineList")
        .into_inner()
        .singers;
    assert!(listed.is_empty(), "{listed:?}");

    server.set_config("linkcall.whitelist_enabled", "1").await;
    let candidate = Anchor { star: 9, ..Anchor::new(2304, 6304) };
    candidate.refresh(&server).await;
    let status = candidate.open(&server).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400022");
    server
        .admin()
        .add_whitelist(AddWhitelistRequest { singer_id: candidate.id, note: "e2e".into() })
        .await
        .expect("AddWhitelist");
    assert_eq!(candidate.open(&server).await.expect("whitelisted opens").open_state, 1);
    // Whitelisted but below the star level: still 022.
    server
        .admin()
        .add_whitelist(AddWhitelistRequest { singer_id: dim.id, note: "e2e".into() })
        .await
        .expect("AddWhitelist");
    let status = dim.open(&server).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400022");
    // The whitelist off again: star alone decides.
    server.set_config("linkcall.whitelist_enabled", "0").await;
    let other = Anchor { star: 6, ..Anchor::new(2305, 6305) };
    other.refresh(&server).await;
    assert_eq!(other.open(&server).await.expect("open without whitelist").open_state, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkcall_errors_battle_timing() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.pk_seconds", "60").await;
    let host = Anchor::new(2401, 6401);
    let guest = Anchor::new(2402, 6402);
    host.online(&server).await;
    guest.online(&server).await;
    let pkid = pair_up(&server, &host, &guest).await;

    // Count and AddTime on the placeholder: 027.
    let status = count(&server, &host, &host, &guest).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400027");
    let status = server
        .linkcall()
        .add_time(AddTimeRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400027");

    // Scoring: Count before the deadline and a second Start are 023.
    let started = start(&server, &host, &guest).await.expect("Start");
    assert_eq!(started.pkid, pkid);
    let status = count(&server, &guest, &host, &guest).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400023");
    let status = start(&server, &host, &guest).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400023");
    // Still scoring, nothing settled.
    let (_, pk) = server.seek_pk(&host).await;
    assert_eq!(pk.expect("pk").phase, livepk::pb::linkcall::PkPhase::Scoring as i32);
    assert!(server.record(pkid).await.is_none());

    // Once closed, battle commands find no PK: 026.
    close(&server, &guest, &host, &guest).await.expect("Close");
    let status = count(&server, &host, &host, &guest).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400026");
    let status = start(&server, &host, &guest).await.unwrap_err();
    assert_business(&status, Code::FailedPrecondition, "403400026");
}
