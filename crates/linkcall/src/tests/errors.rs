//! The error vocabulary: each variant's business code, kind and field; the `pk_state` a
//! response carries with it; and the value types' wire numbers and encodings.

use livepk_battle::{EndedBy, PhaseName, Side, Verdict};
use livepk_core::{BusinessError, ErrorKind, codes};

use super::*;

fn some_pk_info() -> PkInfo {
    PkInfo {
        starttime_secs: 1,
        pkalltime_secs: 360,
        host_gift: 3,
        guest_gift: 1,
        host_id: singer(HOST),
        guest_id: singer(GUEST),
        phase: PhaseName::Punishment,
        phase_deadline_ms: 5,
        winner_id: Some(singer(HOST)),
    }
}

#[test]
fn each_error_has_its_seed_code_kind_and_field() {
    let settled = SettledAnswer {
        pkid: PkId::from_trusted(1),
        pk: some_pk_info(),
        result: Verdict {
            pkid: PkId::from_trusted(1),
            scores: Scores::new(3, 1),
            winner: Some(Side::First),
            settled_at_ms: 9,
            ended_by: EndedBy::Deadline,
        },
    };
    let s = singer(HOST);
    /// (error, business code, kind, field, pk_state carried in the response)
    type Row = (LinkCallError, u32, ErrorKind, Option<&'static str>, Option<PkState>);
    let rows: Vec<Row> = vec![
        (
            LinkCallError::SameAnchor { singer: s },
            codes::INVALID_PARAMETER,
            ErrorKind::InvalidArgument,
            Some("guest_id"),
            None,
        ),
        (
            LinkCallError::NotThisPk { singer: s, field: "host_id" },
            codes::INVALID_PARAMETER,
            ErrorKind::PermissionDenied,
            Some("host_id"),
            None,
        ),
        (
            LinkCallError::NotInvited { guest: s, host: s },
            codes::INVALID_PARAMETER,
            ErrorKind::PermissionDenied,
            Some("host_id"),
            None,
        ),
        (
            LinkCallError::InvitationGone { guest: s, host: s },
            codes::PK_OVER,
            ErrorKind::NotFound,
            None,
            None,
        ),
        (
            LinkCallError::ConditionsNotMet(GateFailure::NotWhitelisted),
            codes::CONDITIONS_NOT_MET,
            ErrorKind::FailedPrecondition,
            None,
            None,
        ),
        (
            LinkCallError::TimerStillRunning { deadline_ms: 1 },
            codes::TIMER_STILL_RUNNING,
            ErrorKind::FailedPrecondition,
            None,
            None,
        ),
        (
            LinkCallError::AlreadySettled(Box::new(settled)),
            codes::ALREADY_SETTLED,
            ErrorKind::Aborted,
            None,
            Some(PkState::Count),
        ),
        (
            LinkCallError::AnchorInPk { singer: s },
            codes::ANCHOR_IN_PK,
            ErrorKind::FailedPrecondition,
            None,
            Some(PkState::Pking),
        ),
        (LinkCallError::PkOver, codes::PK_OVER, ErrorKind::FailedPrecondition, None, None),
        (
            LinkCallError::PkNotStarted,
            codes::PK_NOT_STARTED,
            ErrorKind::FailedPrecondition,
            None,
            None,
        ),
        (
            LinkCallError::AnchorGaming { singer: s },
            codes::ANCHOR_IN_GAME,
            ErrorKind::FailedPrecondition,
            None,
            Some(PkState::Gaming),
        ),
        (
            LinkCallError::AnchorSawing { singer: s },
            codes::ANCHOR_IN_SAW,
            ErrorKind::FailedPrecondition,
            None,
            Some(PkState::Sawing),
        ),
        (
            LinkCallError::PopupPending { singer: s },
            codes::ANCHOR_HAS_POPUP,
            ErrorKind::FailedPrecondition,
            None,
            Some(PkState::Popup),
        ),
        (
            LinkCallError::AnchorOffline { singer: s },
            codes::ANCHOR_OFFLINE,
            ErrorKind::FailedPrecondition,
            None,
            Some(PkState::Offline),
        ),
        (
            LinkCallError::FreshPkidMissing,
            codes::INTERNAL_PKID_FAILED,
            ErrorKind::Internal,
            None,
            None,
        ),
    ];
    for (error, code, kind, field, pk_state) in rows {
        assert_eq!(error.business_code(), code, "{error}");
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.field(), field, "{error}");
        assert_eq!(error.pk_state(), pk_state, "{error}");
        assert!(!error.to_string().is_empty());
    }
    // The internal pkid code is hidden from callers behind 020.
    assert_eq!(codes::public(LinkCallError::FreshPkidMissing.business_code()), codes::SERVER_ERROR);
}

#[tokio::test]
async fn a_rematch_without_a_fresh_pkid_is_an_internal_error() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    let battle = world.battle_of(HOST).await.unwrap();
    let config = world.config().await;
    let pair = PairRequest { host_id: singer(HOST), guest_id: singer(GUEST) };
    // The first start needs no fresh pkid and ignores one given anyway.
    assert!(!battle.round.next_start_needs_fresh_pkid());
    let first =
        start(Some(&battle), pair, Some(PkId::from_trusted(99)), &config, world.now()).unwrap();
    assert_eq!(first.reply.pkid, battle.pkid());
    // The adapter's start (which allocates none for a first start) answers the same.
    assert_eq!(world.start(HOST, GUEST).await.unwrap(), first.reply);
    world.advance_secs(360);
    world.fire_due_timers().await;
    let counted = world.battle_of(HOST).await.unwrap();
    assert!(counted.round.next_start_needs_fresh_pkid());
    let error = start(Some(&counted), pair, None, &config, world.now()).unwrap_err();
    assert_eq!(error, LinkCallError::FreshPkidMissing);
}

#[test]
fn pk_states_carry_the_seed_numbers() {
    let names = [
        "offline", "apply", "applying", "link", "linking", "pking", "gaming", "sawing", "popup",
        "no", "yes", "start", "count", "addtime", "over",
    ];
    for (number, name) in names.iter().enumerate() {
        let state = PkState::from_number(number as u32).unwrap();
        assert_eq!(state.number(), number as u32);
        assert_eq!(state.as_str(), *name);
    }
    assert_eq!(PkState::from_number(15), None);
}

#[test]
fn scenes_cycle_pk_host_guest() {
    assert_eq!(Scene::Pk.number(), 0);
    assert_eq!(Scene::Pk.next(), Scene::HostView);
    assert_eq!(Scene::HostView.next(), Scene::GuestView);
    assert_eq!(Scene::GuestView.next(), Scene::Pk);
    assert_eq!(Scene::GuestView.number(), 2);
}

#[test]
fn notification_kinds_name_the_seed_messages() {
    let pkid = PkId::from_trusted(1);
    let kinds = [
        (
            NotificationKind::SingerState { pk_state: PkState::Apply, singer_id: singer(1) },
            "linkcallpk_singer_state_nt",
            None,
        ),
        (
            NotificationKind::RoomPkScene {
                singer_id: singer(1),
                singer_sid: sid_of(1),
                pk_scene: Scene::Pk,
                pkid,
            },
            "linkcallpk_room_pk_scene_nt",
            Some(pkid),
        ),
        (
            NotificationKind::RoomPkInfo { pkid, pk: some_pk_info(), users: Vec::new() },
            "linkcallpk_room_pk_info_nt",
            Some(pkid),
        ),
        (
            NotificationKind::RoomPkSingerInfo {
                pkid,
                host_id: singer(1),
                host_sid: sid_of(1),
                guest_id: singer(2),
                guest_sid: sid_of(2),
            },
            "linkcallpk_room_pk_singer_info_nt",
            Some(pkid),
        ),
        (
            NotificationKind::SingerPkList { pk_state: PkState::Count, pkid, pk: some_pk_info() },
            "linkcallpk_singer_pklist_nt",
            Some(pkid),
        ),
    ];
    for (kind, name, carried) in kinds {
        assert_eq!(kind.message_name(), name);
        assert_eq!(kind.pkid(), carried);
    }
}

#[tokio::test]
async fn aggregates_survive_an_encoding_round_trip() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    let battle = world.battle_of(HOST).await.unwrap();
    let encoded = serde_json::to_vec(&battle).unwrap();
    assert_eq!(serde_json::from_slice::<Battle>(&encoded).unwrap(), battle);
    let anchor = world.anchor(HOST).await.unwrap();
    let encoded = serde_json::to_vec(&anchor).unwrap();
    assert_eq!(serde_json::from_slice::<Anchor>(&encoded).unwrap(), anchor);
    // Effects are no longer stored whole; the notifications are what goes out encoded.
    let notifications = world.last.notifications.clone();
    assert!(!notifications.is_empty());
    let encoded = serde_json::to_vec(&notifications).unwrap();
    assert_eq!(serde_json::from_slice::<Vec<Notification>>(&encoded).unwrap(), notifications);
    let deadline = world.deadline_of(HOST).await.unwrap();
    let encoded = serde_json::to_vec(&deadline).unwrap();
    assert_eq!(serde_json::from_slice::<PhaseDeadline>(&encoded).unwrap(), deadline);
}
