//! Queries, whole-story checks of scores and windows, and the reconnect data.

use livepk_battle::PhaseName;

use super::*;

#[test]
fn online_list_pages_leave_the_caller_out_without_skipping_anyone() {
    let config = LinkCallConfig { page_size: 3, ..LinkCallConfig::default() };
    // The list, newest first: anchors 11..=18; the caller (14) ranks 3.
    let list: Vec<Anchor> = (11..=18)
        .map(|raw| {
            let mut anchor = Anchor::new(singer(raw));
            anchor.singer_sid = Some(sid_of(raw));
            anchor.function_open = true;
            anchor.in_room = true;
            anchor
        })
        .collect();
    let caller = singer(14);
    let caller_rank = Some(3);
    let mut seen = Vec::new();
    for page in 0..4 {
        let window = online_list_window(page, &config, caller_rank);
        let end = (window.stop as usize + 1).min(list.len());
        let slice = list.get(window.start as usize..end).unwrap_or(&[]);
        let rows = seek_online_list(caller, slice, &[], &config, START_MS);
        assert!(rows.len() <= 3);
        seen.extend(rows.iter().map(|row| row.singer_id.get()));
    }
    assert_eq!(seen, vec![11, 12, 13, 15, 16, 17, 18]);
    // Not listed at all: plain pages, one extra row read.
    assert_eq!(online_list_window(1, &config, None), ListWindow { start: 3, stop: 6 });
    assert_eq!(link_list_window(2, &config), ListWindow { start: 6, stop: 8 });
}

#[tokio::test]
async fn listed_anchors_show_why_they_cannot_be_linked() {
    let mut world = World::new().await;
    for raw in 1..=8 {
        world.profile(raw, 5).await;
        world.open(raw).await.unwrap();
    }
    world.link(1, 2).await.unwrap(); // 2: popup
    world.activity(3, Activity::Game).await;
    world.activity(4, Activity::Saw).await;
    world.link(5, 6).await.unwrap();
    world.agree(6, 5).await.unwrap(); // 5, 6: pking
    world.apply(8, 7).await.unwrap(); // caller 8 applied to 7
    let mut gone = world.anchor(1).await.unwrap();
    gone.in_room = false; // stale entry: left, list not yet cleaned
    let mut window = Vec::new();
    for raw in [2, 3, 4, 5, 6, 7, 8] {
        window.push(world.anchor(raw).await.unwrap());
    }
    window.push(gone);
    let config = LinkCallConfig { page_size: 20, ..LinkCallConfig::default() };
    let applied_to = world.adapter.applied_to(singer(8)).await.unwrap();
    assert_eq!(applied_to, vec![singer(7)]);
    let rows = seek_online_list(singer(8), &window, &applied_to, &config, world.now());
    let states: Vec<(u64, &str)> =
        rows.iter().map(|row| (row.singer_id.get(), row.pk_state.as_str())).collect();
    assert_eq!(
        states,
        vec![
            (2, "popup"),
            (3, "gaming"),
            (4, "sawing"),
            (5, "pking"),
            (6, "pking"),
            (7, "applying"),
            (1, "offline")
        ]
    );
    let applicants = seek_link_list(
        &[world.anchor(8).await.unwrap(), world.anchor(3).await.unwrap()],
        &config,
        world.now(),
    );
    let states: Vec<&str> = applicants.iter().map(|row| row.pk_state.as_str()).collect();
    assert_eq!(states, vec!["apply", "gaming"]);
}

#[tokio::test]
async fn singer_come_in_room_rebuilds_function_popup_and_pk() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    world.advance_secs(2);
    world.link(HOST, GUEST).await.unwrap();
    world.advance_secs(4);
    let reply = world.come_in(GUEST).await;
    assert_eq!(reply.functiontime_secs, START_MS / 1000);
    assert_eq!(
        reply.popup,
        Some(PopupView { host: singer(HOST), popped_at_secs: START_MS / 1000 + 2, live_secs: 11 })
    );
    assert_eq!(reply.pkid, None);
    assert!(world.last.is_empty(), "a reconnect while in the room changes nothing");

    world.agree(GUEST, HOST).await.unwrap();
    let reply = world.come_in(HOST).await;
    assert_eq!(reply.popup, None);
    assert_eq!(reply.pkid, Some(PkId::from_trusted(1)));
    let pk = reply.pk.unwrap();
    assert_eq!((pk.starttime_secs, pk.pkalltime_secs, pk.phase), (0, 0, PhaseName::Idle));
    world.start(HOST, GUEST).await.unwrap();
    world.gift(GUEST, 9).await;
    let pk = world.come_in(GUEST).await.pk.unwrap();
    assert_eq!((pk.host_gift, pk.guest_gift, pk.phase), (0, 9, PhaseName::Scoring));
    assert_eq!(pk.phase_deadline_ms, world.now() + 360_000);
    assert_eq!(pk.starttime_secs + pk.pkalltime_secs, pk.phase_deadline_ms / 1000);

    // After the leave event, coming back is a new broadcast: back at the top of the list.
    world.close(HOST, GUEST).await.unwrap();
    world.leave(GUEST).await;
    assert!(!world.state().await.online.contains_key(&singer(GUEST)));
    world.advance_secs(30);
    let reply = world.come_in(GUEST).await;
    assert_eq!(reply.functiontime_secs, START_MS / 1000);
    assert_eq!(world.state().await.online.get(&singer(GUEST)), Some(&world.now()));
    // With the function closed there is nothing to report.
    world.close_function(GUEST).await.unwrap();
    assert_eq!(world.come_in(GUEST).await.functiontime_secs, 0);
}

#[tokio::test]
async fn user_views_show_the_rooms_pk_and_top_five() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    let board: Vec<GifterRow> =
        (1..=7).map(|raw| GifterRow { user_id: user(raw), user_gift: 100 - raw }).collect();
    let host = world.anchor(HOST).await.unwrap();
    let empty = user_come_in_room(Some(&host), None, Scores::default(), &board, &board);
    assert_eq!((empty.pkid, empty.pk, empty.host, empty.host_users.len()), (None, None, None, 0));
    assert_eq!(
        user_seek_gift(Some(&host), None, &board),
        GiftView { pkid: None, users: Vec::new() }
    );

    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    world.gift(HOST, 4).await;
    let guest = world.anchor(GUEST).await.unwrap();
    let battle = world.battle_of(GUEST).await.unwrap();
    let scores = world.state().await.scores[&battle.battle_id];
    assert_eq!(scores, world.scores_of(GUEST).await);
    let view = user_come_in_room(Some(&guest), Some(&battle), scores, &board, &board[..2]);
    assert_eq!(view.pkid, Some(battle.pkid()));
    assert_eq!(view.host, Some((singer(HOST), sid_of(HOST))));
    assert_eq!(view.guest, Some((singer(GUEST), sid_of(GUEST))));
    assert_eq!(view.host_users.len(), TOP_GIFTERS);
    assert_eq!(view.host_users[0].user_id, user(1));
    assert_eq!(view.guest_users.len(), 2);
    assert_eq!(view.pk.unwrap().host_gift, 4);
    let seek = user_seek_pk(Some(&guest), Some(&battle), scores);
    assert_eq!(seek.pk, view.pk);
    assert_eq!(user_seek_gift(Some(&guest), Some(&battle), &board).users.len(), TOP_GIFTERS);
    // A battle the anchor does not point at is not its room's PK.
    let other = Anchor::new(singer(OTHER));
    assert_eq!(user_seek_pk(Some(&other), Some(&battle), scores).pkid, None);

    // The real boards: the host's fan gave 4, the guest's side has nobody yet.
    let host_board = world.adapter.board(&battle, singer(HOST), TOP_GIFTERS).await.unwrap();
    assert_eq!(host_board, vec![GifterRow { user_id: user(50 + HOST), user_gift: 4 }]);
    assert!(world.adapter.board(&battle, singer(GUEST), TOP_GIFTERS).await.unwrap().is_empty());

    let progress = gift_progress(&battle, scores, &board[..1]);
    let rendered: Vec<String> = progress.iter().map(render).collect();
    assert_eq!(rendered, vec!["info>r101", "info>r102"]);
    assert!(
        matches!(&progress[0].kind, NotificationKind::RoomPkInfo { users, .. } if users.len() == 1)
    );
}

#[tokio::test]
async fn gifts_count_only_while_scoring_and_reset_or_carry_as_the_seed_says() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    assert!(!world.gift(HOST, 1).await, "no scoring on the placeholder");
    assert_eq!(world.located(HOST).await, None);
    world.start(HOST, GUEST).await.unwrap();
    let battle_id = world.battle_of(HOST).await.unwrap().battle_id;
    assert_eq!(world.located(GUEST).await, Some(battle_id));
    assert!(world.gift(HOST, 5).await);
    assert!(world.gift(GUEST, 2).await);
    world.advance_secs(360);
    // Still routed to the battle (its job has not run), but judged by the gift's time.
    assert_eq!(world.located(HOST).await, Some(battle_id));
    assert!(!world.gift(HOST, 1).await, "the window ends at the deadline even before the job runs");
    world.fire_due_timers().await;
    assert_eq!(world.battle_summary().await, "punishment#1");
    assert_eq!(world.located(HOST).await, None);
    assert!(!world.gift(GUEST, 50).await, "punishment does not score");
    // Overtime on the carried scores.
    let reply = world.add_time(HOST, GUEST).await.unwrap();
    assert_eq!((reply.pk.host_gift, reply.pk.guest_gift), (5, 2));
    assert_eq!(world.scores_of(HOST).await, Scores::new(5, 2), "add time carries the scores");
    assert!(world.gift(GUEST, 3).await);
    world.advance_secs(180);
    world.fire_due_timers().await;
    let records = world.records().await;
    let overtime = records.last().unwrap();
    assert_eq!(
        (overtime.host_score, overtime.guest_score, overtime.winner),
        (5, 5, None),
        "a draw"
    );
    assert_eq!(world.battle_summary().await, "linked#2");
    // Rematch: a new pkid, scores reset.
    let reply = world.start(HOST, GUEST).await.unwrap();
    assert_eq!(reply.pkid, PkId::from_trusted(3));
    assert_eq!(world.state().await.scores[&battle_id], Scores::default(), "start resets");
    // Close drops the score keys.
    assert!(world.gift(HOST, 4).await);
    assert_eq!(world.scores_of(HOST).await, Scores::new(4, 0));
    world.close(HOST, GUEST).await.unwrap();
    assert_eq!(world.last.settled.len(), 1, "the close settled the rematch early");
    let state = world.state().await;
    assert!(state.battles[&battle_id].is_closed());
    assert_eq!(state.scores[&battle_id], Scores::default(), "close drops the totals");
}

#[tokio::test]
async fn the_whole_story_keeps_the_lists_in_step() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.unwrap();
        world.advance_secs(1);
    }
    world.apply(GUEST, HOST).await.unwrap();
    world.apply(OTHER, HOST).await.unwrap();
    world.apply(HOST, GUEST).await.unwrap();
    assert_eq!(world.state().await.applications.len(), 3);
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    // The pair's applications, both ways, are gone; the third anchor's stays.
    assert_eq!(world.state().await.applications, vec![(singer(HOST), singer(OTHER))]);
    world.start(HOST, GUEST).await.unwrap();
    world.advance_secs(5);
    world.close(HOST, GUEST).await.unwrap();
    // Close put both anchors back at the top of the online list.
    let state = world.state().await;
    assert_eq!(state.online[&singer(HOST)], world.now());
    assert_eq!(state.online[&singer(GUEST)], world.now());
    // The host leaves: its applicant (3) is told, every list forgets it.
    world.leave(HOST).await;
    assert_eq!(world.summary().await, "closed#1 | h:offline g:apply | state(offline)>s3");
    let state = world.state().await;
    assert!(state.applications.is_empty());
    assert!(!state.online.contains_key(&singer(HOST)));
    assert!(state.anchors[&singer(HOST)].function_open, "the switch survives the leave");
}
