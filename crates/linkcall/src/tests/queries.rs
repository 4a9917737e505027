//! Queries, whole-story checks of scores and windows, and the reconnect data.

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

#[test]
fn listed_anchors_show_why_they_cannot_be_linked() {
    let mut world = World::new();
    for raw in 1..=8 {
        world.open(raw).unwrap();
    }
    world.link(1, 2).unwrap(); // 2: popup
    world.activity(3, Activity::Game);
    world.activity(4, Activity::Saw);
    world.link(5, 6).unwrap();
    world.agree(6, 5).unwrap(); // 5, 6: pking
    world.apply(8, 7).unwrap(); // caller 8 applied to 7
    let mut gone = world.anchors[&singer(1)].clone();
    gone.in_room = false; // stale entry: left, list not yet cleaned
    let window: Vec<Anchor> = [2, 3, 4, 5, 6, 7, 8]
        .iter()
        .map(|raw| world.anchors[&singer(*raw)].clone())
        .chain([gone])
        .collect();
    let config = LinkCallConfig { page_size: 20, ..LinkCallConfig::default() };
    let rows = seek_online_list(singer(8), &window, &[singer(7)], &config, world.now);
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
        &[world.anchors[&singer(8)].clone(), world.anchors[&singer(3)].clone()],
        &config,
        world.now,
    );
    let states: Vec<&str> = applicants.iter().map(|row| row.pk_state.as_str()).collect();
    assert_eq!(states, vec!["apply", "gaming"]);
}

#[test]
fn singer_come_in_room_rebuilds_function_popup_and_pk() {
    let mut world = World::new();
    for raw in [HOST, GUEST] {
        world.open(raw).unwrap();
    }
    world.advance_secs(2);
    world.link(HOST, GUEST).unwrap();
    world.advance_secs(4);
    let reply = world.come_in(GUEST);
    assert_eq!(reply.functiontime_secs, START_MS / 1000);
    assert_eq!(
        reply.popup,
        Some(PopupView { host: singer(HOST), popped_at_secs: START_MS / 1000 + 2, live_secs: 11 })
    );
    assert_eq!(reply.pkid, None);
    assert!(world.last.is_empty(), "a reconnect while in the room changes nothing");

    world.agree(GUEST, HOST).unwrap();
    let reply = world.come_in(HOST);
    assert_eq!(reply.popup, None);
    assert_eq!(reply.pkid, Some(PkId::from_trusted(1)));
    let pk = reply.pk.unwrap();
    assert_eq!((pk.starttime_secs, pk.pkalltime_secs, pk.phase), (0, 0, PhaseName::Linked));
    world.start(HOST, GUEST).unwrap();
    world.gift(GUEST, 9);
    let pk = world.come_in(GUEST).pk.unwrap();
    assert_eq!((pk.host_gift, pk.guest_gift, pk.phase), (0, 9, PhaseName::Scoring));
    assert_eq!(pk.phase_deadline_ms, world.now + 360_000);
    assert_eq!(pk.starttime_secs + pk.pkalltime_secs, pk.phase_deadline_ms / 1000);

    // After the leave event, coming back is a new broadcast: back at the top of the list.
    world.close(HOST, GUEST).unwrap();
    world.leave(GUEST);
    assert!(!world.online.contains_key(&singer(GUEST)));
    world.advance_secs(30);
    let reply = world.come_in(GUEST);
    assert_eq!(reply.functiontime_secs, START_MS / 1000);
    assert_eq!(world.online.get(&singer(GUEST)), Some(&world.now));
    // With the function closed there is nothing to report.
    world.close_function(GUEST).unwrap();
    assert_eq!(world.come_in(GUEST).functiontime_secs, 0);
}

#[test]
fn user_views_show_the_rooms_pk_and_top_five() {
    let mut world = World::new();
    for raw in [HOST, GUEST] {
        world.open(raw).unwrap();
    }
    let board: Vec<GifterRow> =
        (1..=7).map(|raw| GifterRow { user_id: user(raw), user_gift: 100 - raw }).collect();
    let host = world.anchors[&singer(HOST)].clone();
    let empty = user_come_in_room(Some(&host), None, Scores::default(), &board, &board);
    assert_eq!((empty.pkid, empty.pk, empty.host, empty.host_users.len()), (None, None, None, 0));
    assert_eq!(
        user_seek_gift(Some(&host), None, &board),
        GiftView { pkid: None, users: Vec::new() }
    );

    world.link(HOST, GUEST).unwrap();
    world.agree(GUEST, HOST).unwrap();
    world.start(HOST, GUEST).unwrap();
    world.gift(HOST, 4);
    let guest = world.anchors[&singer(GUEST)].clone();
    let battle = world.battle_of(GUEST).unwrap().clone();
    let scores = world.scores[&battle.battle_id];
    let view = user_come_in_room(Some(&guest), Some(&battle), scores, &board, &board[..2]);
    assert_eq!(view.pkid, Some(battle.pkid));
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

    let progress = gift_progress(&battle, scores, &board[..1]);
    let rendered: Vec<String> = progress.iter().map(render).collect();
    assert_eq!(rendered, vec!["info>r101", "info>r102"]);
    assert!(
        matches!(&progress[0].kind, NotificationKind::RoomPkInfo { users, .. } if users.len() == 1)
    );
}

#[test]
fn gifts_count_only_while_scoring_and_reset_or_carry_as_the_seed_says() {
    let mut world = World::new();
    for raw in [HOST, GUEST] {
        world.open(raw).unwrap();
    }
    world.link(HOST, GUEST).unwrap();
    world.agree(GUEST, HOST).unwrap();
    assert!(!world.gift(HOST, 1), "no scoring on the placeholder");
    world.start(HOST, GUEST).unwrap();
    assert!(world.gift(HOST, 5));
    assert!(world.gift(GUEST, 2));
    world.advance_secs(360);
    assert!(!world.gift(HOST, 1), "the window ends at the deadline even before the job runs");
    world.fire_due_timers();
    assert_eq!(world.battle_summary(), "punishment#1");
    assert!(!world.gift(GUEST, 50), "punishment does not score");
    // Overtime on the carried scores.
    let reply = world.add_time(HOST, GUEST).unwrap();
    assert_eq!((reply.pk.host_gift, reply.pk.guest_gift), (5, 2));
    assert_eq!(world.last.scores, ScoreAction::CarryOver);
    assert!(world.gift(GUEST, 3));
    world.advance_secs(60);
    world.fire_due_timers();
    let overtime = world.settled.last().unwrap();
    assert_eq!(
        (overtime.host_score, overtime.guest_score, overtime.winner),
        (5, 5, None),
        "a draw"
    );
    assert_eq!(world.battle_summary(), "linked#2");
    // Rematch: a new pkid, scores reset.
    let reply = world.start(HOST, GUEST).unwrap();
    assert_eq!(reply.pkid, PkId::from_trusted(3));
    assert_eq!(world.last.scores, ScoreAction::Reset);
    assert_eq!(world.scores[&world.battle_of(HOST).unwrap().battle_id], Scores::default());
    // Close drops the score keys.
    world.close(HOST, GUEST).unwrap();
    assert_eq!(world.last.scores, ScoreAction::Delete);
    assert!(world.scores.is_empty());
}

#[test]
fn the_whole_story_keeps_the_lists_in_step() {
    let mut world = World::new();
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).unwrap();
        world.advance_secs(1);
    }
    world.apply(GUEST, HOST).unwrap();
    world.apply(OTHER, HOST).unwrap();
    world.apply(HOST, GUEST).unwrap();
    assert_eq!(world.applications.len(), 3);
    world.link(HOST, GUEST).unwrap();
    world.agree(GUEST, HOST).unwrap();
    // The pair's applications, both ways, are gone; the third anchor's stays.
    assert_eq!(
        world.applications.keys().copied().collect::<Vec<_>>(),
        vec![(singer(HOST), singer(OTHER))]
    );
    world.start(HOST, GUEST).unwrap();
    world.advance_secs(5);
    world.close(HOST, GUEST).unwrap();
    // Close put both anchors back at the top of the online list.
    assert_eq!(world.online[&singer(HOST)], world.now);
    assert_eq!(world.online[&singer(GUEST)], world.now);
    // The host leaves: its applicant (3) is told, every list forgets it.
    world.leave(HOST);
    assert_eq!(world.summary(), "closed#1 | h:offline g:apply | state(offline)>s3");
    assert!(world.applications.is_empty());
    assert!(!world.online.contains_key(&singer(HOST)));
    assert!(world.anchors[&singer(HOST)].function_open, "the switch survives the leave");
}
