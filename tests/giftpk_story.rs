//! A whole GiftPk story of seed 001 through the real `livepk` binary over gRPC against a real
//! Redis, on the real clock: bad input, create (and a second create refused), a viewer who missed
//! the push pulling with `need_extra_info`, gifts of both gift ids and of a third from several
//! users (a replayed txn, a ranking tie), GetLive and GetRanking pages while it runs, GetResult
//! before the end (`finished` false), the countdown's end and its settle grace (`time_left` 0,
//! `finished` still false, a gift sent before the end but recorded in the grace counts), the
//! settle (a gift recorded after it is outside for good), GetResult after it (`finished`, top 5
//! of the winner), a draw PK closed early whose result lists the top 5 over both gifts,
//! GetShowPk and the history, the records — and every notification delivered through
//! `Events.Subscribe`, exactly: score notifications are not coalesced here
//! (`events.score_coalesce_ms` 0), so each counted gift makes one `giftpk_progress_nt` before its
//! `RecordGift` answers, checked field for field (`time_left` within what the countdown showed
//! during the call; coalescing is checked by the crate's tests, on a manual clock).

mod support;

use livepk::pb::admin::GetPkRecordRequest;
use livepk::pb::common::{Mode, TargetKind};
use livepk::pb::events::{Event, EventFilter};
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse, ScoreChange};
use livepk::pb::giftpk::gift_pk_client::GiftPkClient;
use livepk::pb::giftpk::{
    CloseRequest, CreateRequest, CreateResponse, GetLiveRequest, GetRankingRequest,
    GetResultRequest, GetShowPkRequest, GiftpkCreateNt, GiftpkEndNt, GiftpkGift, GiftpkGiftCount,
    GiftpkGiftTotal, GiftpkProgressNt, GiftpkSender, GiftpkStatus, ListShowPksRequest,
};
use std::ops::RangeInclusive;

use support::*;
use tonic::Code;
use tonic::transport::Channel;

/// The show (and its room).
const SHOW: u64 = 501;
/// Its anchor.
const ANCHOR: u64 = 7;
/// The gifts: rose and rocket in the first PK, rose and lily in the second; 33 is neither.
const ROSE: u64 = 11;
const ROCKET: u64 = 22;
const LILY: u64 = 44;
const THIRD: u64 = 33;
/// The first PK's countdown: the one real-time deadline of the story.
const DURATION: u64 = 6;
/// The settle grace of the story (`giftpk.settle_grace_ms`): the first PK is settled this long
/// after its countdown. Short, since the story waits for it in real time.
const GRACE_MS: u64 = 2_000;

fn filter() -> EventFilter {
    EventFilter { modes: vec![Mode::Giftpk as i32], ..Default::default() }
}

fn client(server: &Client) -> GiftPkClient<Channel> {
    GiftPkClient::new(server.channel.clone())
}

fn gift(id: u64) -> GiftpkGift {
    GiftpkGift {
        gift_id: id,
        gift_name: format!("gift {id}"),
        gift_logo: format!("https://img.example/g{id}.png"),
        gift_desc: format!("投它 {id}"),
    }
}

fn create_request(first: u64, second: u64, duration: u64) -> CreateRequest {
    CreateRequest {
        show_id: SHOW,
        singer_id: ANCHOR,
        gifts: vec![gift(first), gift(second)],
        duration,
    }
}

/// `RecordGift` of `count` × gift `gift_id` (10 coins each) from `sender` in the show, sent at
/// `sent_at_ms`.
async fn send_at(
    server: &Client,
    txn: &str,
    sender: u64,
    gift_id: u64,
    count: u32,
    sent_at_ms: u64,
) -> RecordGiftResponse {
    server
        .gifts()
        .record_gift(RecordGiftRequest {
            gift_txn_id: txn.into(),
            sender: Some(user(sender)),
            receiver_id: ANCHOR,
            room_sid: SHOW,
            gift_id,
            gift_count: count,
            unit_value: 10,
            sent_at_ms,
            show_id: Some(SHOW),
            call_id: None,
        })
        .await
        .unwrap_or_else(|status| panic!("RecordGift {txn}: {status:?}"))
        .into_inner()
}

/// As [`send_at`], sent now.
async fn send(
    server: &Client,
    txn: &str,
    sender: u64,
    gift_id: u64,
    count: u32,
) -> RecordGiftResponse {
    send_at(server, txn, sender, gift_id, count, server.now_ms()).await
}

/// The GiftPk change of a gift's answer.
fn counted(response: &RecordGiftResponse) -> Option<&ScoreChange> {
    response.changes.iter().find(|change| change.mode == Mode::Giftpk as i32)
}

fn total(gift_id: u64, count: u64) -> GiftpkGiftTotal {
    GiftpkGiftTotal { gift_id, gift_count: count, gift_value: count * 10 }
}

fn count(gift_id: u64, count: u64) -> GiftpkGiftCount {
    GiftpkGiftCount { gift_id, gift_count: count }
}

fn sender(rank: u64, user_id: u64, total: u64) -> GiftpkSender {
    let profile = user(user_id);
    GiftpkSender {
        rank,
        user_id,
        user_gift: total,
        user_nick: profile.user_nick,
        user_icon: profile.user_icon,
        user_level: profile.user_level,
        user_wealth: profile.user_wealth,
    }
}

/// An event of `kind` for `pkid` to the show's room.
fn is_nt(event: &Event, kind: &str, pkid: u64) -> bool {
    event.r#type == kind && event.pkid == pkid && target_of(event) == (TargetKind::Room, SHOW)
}

/// `giftpk_progress_nt` of `pkid`: both gifts' `counts`, `gift_id`'s senders `users` (user,
/// count of the gift), `time_left` within `time_left`.
fn progress_nt(
    pkid: u64,
    counts: [(u64, u64); 2],
    gift_id: u64,
    users: Vec<(u64, u64)>,
    time_left: RangeInclusive<u64>,
) -> Pred<'static> {
    pred("giftpk_progress_nt", move |event| {
        is_nt(event, "giftpk_progress_nt", pkid)
            && payload::<GiftpkProgressNt>(event).is_some_and(|nt| {
                nt.pkid == pkid
                    && nt.gifts == counts.map(|(gift, n)| count(gift, n))
                    && nt.gift_id == gift_id
                    && nt.users
                        == users.iter().map(|&(user, n)| sender(0, user, n)).collect::<Vec<_>>()
                    && time_left.contains(&nt.time_left)
            })
    })
}

/// A PK of the story and the progress pushes its counted gifts must make.
struct Votes {
    pkid: u64,
    deadline_ms: u64,
    gifts: [u64; 2],
    pushes: Vec<Pred<'static>>,
}

impl Votes {
    fn new(pkid: u64, deadline_ms: u64, gifts: [u64; 2]) -> Votes {
        Votes { pkid, deadline_ms, gifts, pushes: Vec::new() }
    }

    /// Records a gift sent at `sent_at_ms` (now when `None`) that counts: its push must carry
    /// `counts` (first gift first) after it, the sender with `sender_total` of the gift, and the
    /// `time_left` the countdown showed during the call.
    #[allow(clippy::too_many_arguments)]
    async fn vote(
        &mut self,
        server: &Client,
        txn: &str,
        user: u64,
        gift_id: u64,
        count: u32,
        sent_at_ms: Option<u64>,
        counts: [u64; 2],
        sender_total: u64,
    ) -> RecordGiftResponse {
        let before = server.now_ms();
        let sent_at_ms = sent_at_ms.unwrap_or(before);
        let response = send_at(server, txn, user, gift_id, count, sent_at_ms).await;
        let after = server.now_ms();
        // Rounded up, as the server computes it when it encodes the push during the call.
        let left = |now: u64| self.deadline_ms.saturating_sub(now).div_ceil(1000);
        let [first, second] = self.gifts;
        self.pushes.push(progress_nt(
            self.pkid,
            [(first, counts[0]), (second, counts[1])],
            gift_id,
            vec![(user, sender_total)],
            left(after)..=left(before),
        ));
        response
    }

    /// The pushes expected so far (and forgets them).
    fn pushes(&mut self) -> Vec<Pred<'static>> {
        std::mem::take(&mut self.pushes)
    }
}

fn create_nt(pkid: u64, first: u64, second: u64, duration: u64) -> Pred<'static> {
    pred("giftpk_create_nt", move |event| {
        is_nt(event, "giftpk_create_nt", pkid)
            && payload::<GiftpkCreateNt>(event).is_some_and(|nt| {
                nt.pkid == pkid
                    && nt.show_id == SHOW
                    && nt.duration == duration
                    && nt.interval == 3_000
                    && nt.gifts == vec![gift(first), gift(second)]
                    && (1..=duration).contains(&nt.time_left)
            })
    })
}

fn end_nt(pkid: u64) -> Pred<'static> {
    pred("giftpk_end_nt", move |event| {
        is_nt(event, "giftpk_end_nt", pkid)
            && payload::<GiftpkEndNt>(event) == Some(GiftpkEndNt { pkid, show_id: SHOW })
    })
}

#[tokio::test]
async fn a_whole_gift_pk_story_through_the_real_binary() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    let mut giftpk = client(&server);
    // A countdown of a few seconds with a short settle grace, ranking pages of 4 so three pages
    // show, and a progress push per counted gift.
    server.set_config("giftpk.min_duration_seconds", "1s").await;
    server.set_config("giftpk.settle_grace_ms", &GRACE_MS.to_string()).await;
    server.set_config("giftpk.ranking_page_size", "4").await;
    server.set_config("events.score_coalesce_ms", "0").await;
    let log = EventLog::subscribe_with(&server, filter()).await;
    let mut steps = Steps::new(&log, filter());

    // ---- bad input --------------------------------------------------------------------------
    let same = giftpk.create(create_request(ROSE, ROSE, DURATION)).await.unwrap_err();
    assert_invalid(&same, "gifts[1].gift_id");
    let long = giftpk.create(create_request(ROSE, ROCKET, 3_601)).await.unwrap_err();
    assert_invalid(&long, "duration");
    let mut one = create_request(ROSE, ROCKET, DURATION);
    one.gifts.pop();
    assert_invalid(&giftpk.create(one).await.unwrap_err(), "gifts");
    let mut no_show = create_request(ROSE, ROCKET, DURATION);
    no_show.show_id = 0;
    assert_invalid(&giftpk.create(no_show).await.unwrap_err(), "show_id");

    // ---- PK 1: rose against rocket for 6 s -------------------------------------------------
    let before = server.now_ms();
    let CreateResponse { pkid, interval, deadline_ms } =
        giftpk.create(create_request(ROSE, ROCKET, DURATION)).await.unwrap().into_inner();
    assert_eq!(interval, 3_000, "giftpk.pull_interval_ms");
    assert!(
        deadline_ms >= before + DURATION * 1000 && deadline_ms <= server.now_ms() + DURATION * 1000
    );
    steps.expect_exactly("create", vec![create_nt(pkid, ROSE, ROCKET, DURATION)]).await;

    let running = giftpk.create(create_request(LILY, THIRD, 60)).await.unwrap_err();
    let metadata = assert_business(&running, Code::FailedPrecondition, "403400301");
    assert_eq!(metadata["pkid"], pkid.to_string());
    let stranger = CloseRequest { show_id: SHOW, pkid, singer_id: ANCHOR + 1 };
    let refused = giftpk.close(stranger).await.unwrap_err();
    assert_business(&refused, Code::PermissionDenied, "403400302");

    // A viewer who missed the create push pulls with need_extra_info.
    let live = giftpk
        .get_live(GetLiveRequest { show_id: SHOW, need_extra_info: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((live.pkid, live.finished), (pkid, false));
    assert_eq!(live.gifts, vec![total(ROSE, 0), total(ROCKET, 0)]);
    assert!((1..=DURATION).contains(&live.time_left), "{live:?}");
    let info = live.info.expect("the extra info was asked for");
    assert_eq!(info.gifts, vec![gift(ROSE), gift(ROCKET)]);
    assert_eq!((info.pkid, info.show_id, info.singer_id), (pkid, SHOW, ANCHOR));
    assert_eq!((info.duration, info.interval, info.deadline_ms), (DURATION, 3_000, deadline_ms));
    assert_eq!((info.status, info.ended_at_ms), (GiftpkStatus::Running as i32, 0));
    let plain = giftpk.get_live(GetLiveRequest { show_id: SHOW, need_extra_info: false });
    assert_eq!(plain.await.unwrap().into_inner().info, None);

    // Gifts: six rose senders (101 and 102 tie at 2, 101 first), two rocket senders, a third
    // gift id, a replayed txn. Each counted gift pushes the counts after it and its sender.
    let mut votes = Votes::new(pkid, deadline_ms, [ROSE, ROCKET]);
    // A replay is the same gift, sent at the same moment (issue 12 item 2: the send time is part
    // of what a txn id names).
    let r101_at = server.now_ms();
    let first = votes.vote(&server, "r-101", 101, ROSE, 2, Some(r101_at), [2, 0], 2).await;
    let change = counted(&first).expect("a rose counts");
    assert_eq!((change.pkid, change.side.as_str(), change.side_total), (pkid, "11", 2));
    assert_eq!(change.sender_total, 2);
    votes.vote(&server, "r-102", 102, ROSE, 2, None, [4, 0], 2).await;
    for (sender, roses) in (103..=106).zip(5..) {
        votes.vote(&server, &format!("r-{sender}"), sender, ROSE, 1, None, [roses, 0], 1).await;
    }
    let rocket = votes.vote(&server, "k-201", 201, ROCKET, 3, None, [8, 3], 3).await;
    assert_eq!(counted(&rocket).map(|change| change.side_total), Some(3));
    votes.vote(&server, "k-202", 202, ROCKET, 1, None, [8, 4], 1).await;
    let third = send(&server, "x-301", 301, THIRD, 5).await;
    assert!(third.changes.is_empty() && !third.duplicate, "a third gift id counts nowhere");
    let replay = send_at(&server, "r-101", 101, ROSE, 2, r101_at).await;
    assert!(replay.duplicate);
    assert_eq!(replay.changes, first.changes, "the replay answers the first call's outcome");
    // One push per counted gift; none for the third gift id or the replay.
    steps.expect_exactly("the gifts' pushes", votes.pushes()).await;

    // While it runs: the live numbers, the rose ranking in pages, a result that is not final.
    let live = giftpk
        .get_live(GetLiveRequest { show_id: SHOW, need_extra_info: false })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(live.gifts, vec![total(ROSE, 8), total(ROCKET, 4)]);
    assert!(!live.finished);
    let page = |index| GetRankingRequest { pkid, gift_id: ROSE, index };
    let first_page = giftpk.get_ranking(page(0)).await.unwrap().into_inner();
    assert_eq!(
        first_page.users,
        vec![sender(1, 101, 2), sender(2, 102, 2), sender(3, 103, 1), sender(4, 104, 1)]
    );
    assert!(first_page.has_more);
    let second_page = giftpk.get_ranking(page(4)).await.unwrap().into_inner();
    assert_eq!(second_page.users, vec![sender(5, 105, 1), sender(6, 106, 1)]);
    assert!(!second_page.has_more);
    assert!(giftpk.get_ranking(page(6)).await.unwrap().into_inner().users.is_empty());
    let neither = GetRankingRequest { pkid, gift_id: THIRD, index: 0 };
    assert_invalid(&giftpk.get_ranking(neither).await.unwrap_err(), "gift_id");
    let early =
        giftpk.get_result(GetResultRequest { pkid, user_id: 101 }).await.unwrap().into_inner();
    assert!(!early.finished, "the pk still runs: not final");
    assert_eq!(early.winner_gift_id, ROSE, "ahead so far");
    assert_eq!(early.user_gifts, vec![count(ROSE, 2), count(ROCKET, 0)]);
    assert!(
        server.now_ms() < deadline_ms,
        "the machine was too slow: the countdown ended before the running checks were done"
    );

    // The countdown ends: the settle grace begins. Nothing is final yet; a gift sent before the
    // end and recorded now counts (its push says 0 left).
    let until = std::time::Duration::from_millis(deadline_ms.saturating_sub(server.now_ms()));
    let graced = eventually("the countdown to reach 0", until + SETTLE_SLACK, || {
        let mut giftpk = giftpk.clone();
        async move {
            let request = GetLiveRequest { show_id: SHOW, need_extra_info: false };
            let live = giftpk.get_live(request).await.unwrap().into_inner();
            (live.time_left == 0).then_some(live)
        }
    })
    .await;
    let too_slow = "the machine was too slow: the settle grace was over before its checks";
    assert!(!graced.finished, "{too_slow}");
    let sent_before_the_end = Some(deadline_ms - 200);
    let late = votes.vote(&server, "r-late", 107, ROSE, 1, sent_before_the_end, [9, 4], 1).await;
    assert_eq!(counted(&late).map(|change| (change.pkid, change.side_total)), Some((pkid, 9)));
    let pending =
        giftpk.get_result(GetResultRequest { pkid, user_id: 107 }).await.unwrap().into_inner();
    assert_eq!((pending.finished, pending.user_gifts[0].gift_count), (false, 1), "{too_slow}");
    assert!(server.now_ms() < deadline_ms + GRACE_MS, "{too_slow}");
    steps.expect_exactly("a gift recorded in the grace", votes.pushes()).await;

    // The settle, the grace after the countdown, ends the PK by itself.
    eventually(
        "the settle to end the pk",
        std::time::Duration::from_millis(GRACE_MS) + SETTLE_SLACK,
        || {
            let mut giftpk = giftpk.clone();
            async move {
                let request = GetLiveRequest { show_id: SHOW, need_extra_info: false };
                giftpk.get_live(request).await.unwrap().into_inner().finished.then_some(())
            }
        },
    )
    .await;
    steps.expect_exactly("the settle ends it", vec![end_nt(pkid)]).await;

    // A gift sent before the end but recorded after the settle: outside for good.
    let later = send_at(&server, "r-later", 108, ROSE, 9, deadline_ms - 200).await;
    assert!(later.changes.is_empty() && !later.duplicate, "{later:?}");

    let result =
        giftpk.get_result(GetResultRequest { pkid, user_id: 201 }).await.unwrap().into_inner();
    assert!(result.finished);
    assert_eq!(result.gifts, vec![total(ROSE, 9), total(ROCKET, 4)]);
    assert_eq!((result.winner_gift_id, result.duration), (ROSE, DURATION));
    assert_eq!(result.user_gifts, vec![count(ROSE, 0), count(ROCKET, 3)]);
    assert_eq!(
        result.top,
        vec![
            sender(1, 101, 2),
            sender(2, 102, 2),
            sender(3, 103, 1),
            sender(4, 104, 1),
            sender(5, 105, 1)
        ],
        "the winner's top 5"
    );
    // The record is written just after the settle's commit (which GetResult already shows).
    let record = support::eventually("the record of the pk", support::SETTLE_SLACK, || async {
        let answer = server
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Giftpk as i32, pkid })
            .await;
        answer.ok().and_then(|answer| answer.into_inner().record)
    })
    .await;
    let participants: Vec<(u64, u64, &str, i64)> =
        record.participants.iter().map(|p| (p.id, p.sid, p.side.as_str(), p.score)).collect();
    assert_eq!(participants, vec![(ROSE, SHOW, "11", 9), (ROCKET, SHOW, "22", 4)]);
    assert_eq!((record.winner_id, record.ended_by.as_str()), (ROSE, "deadline"));
    assert_eq!(record.endtime_ms - record.starttime_ms, DURATION * 1000);
    let over = CloseRequest { show_id: SHOW, pkid, singer_id: ANCHOR };
    assert_business(&giftpk.close(over).await.unwrap_err(), Code::FailedPrecondition, "403400026");

    // ---- PK 2: rose against lily, a draw, closed early -------------------------------------
    let second = giftpk.create(create_request(ROSE, LILY, 60)).await.unwrap().into_inner();
    let pkid2 = second.pkid;
    assert!(pkid2 > pkid);
    steps.expect_exactly("second create", vec![create_nt(pkid2, ROSE, LILY, 60)]).await;
    // Rose 401×2, 402, 404, 406; lily 403×2, 405, 401, 407: 5 against 5. Over both gifts 401
    // has 3, 403 has 2, then the ones in the order they sent.
    let mut votes = Votes::new(pkid2, second.deadline_ms, [ROSE, LILY]);
    votes.vote(&server, "d-1", 401, ROSE, 2, None, [2, 0], 2).await;
    votes.vote(&server, "d-2", 402, ROSE, 1, None, [3, 0], 1).await;
    votes.vote(&server, "d-3", 403, LILY, 2, None, [3, 2], 2).await;
    votes.vote(&server, "d-4", 404, ROSE, 1, None, [4, 2], 1).await;
    votes.vote(&server, "d-5", 405, LILY, 1, None, [4, 3], 1).await;
    votes.vote(&server, "d-6", 401, LILY, 1, None, [4, 4], 1).await;
    votes.vote(&server, "d-7", 406, ROSE, 1, None, [5, 4], 1).await;
    votes.vote(&server, "d-8", 407, LILY, 1, None, [5, 5], 1).await;
    steps.expect_exactly("the second pk's pushes", votes.pushes()).await;
    let closed = CloseRequest { show_id: SHOW, pkid: pkid2, singer_id: ANCHOR };
    giftpk.close(closed).await.unwrap();
    steps.expect_exactly("the anchor closes it", vec![end_nt(pkid2)]).await;
    let draw = giftpk
        .get_result(GetResultRequest { pkid: pkid2, user_id: 401 })
        .await
        .unwrap()
        .into_inner();
    assert!(draw.finished);
    assert_eq!(draw.gifts, vec![total(ROSE, 5), total(LILY, 5)]);
    assert_eq!(draw.winner_gift_id, 0, "a draw");
    assert_eq!(draw.user_gifts, vec![count(ROSE, 2), count(LILY, 1)]);
    assert_eq!(
        draw.top,
        vec![
            sender(1, 401, 3),
            sender(2, 403, 2),
            sender(3, 402, 1),
            sender(4, 404, 1),
            sender(5, 405, 1)
        ],
        "the top 5 over both gifts"
    );
    assert!(draw.duration < 60, "closed early: {}", draw.duration);
    assert_business(
        &giftpk.close(closed).await.unwrap_err(),
        Code::FailedPrecondition,
        "403400026",
    );

    // ---- the show's latest PK and its history ----------------------------------------------
    let latest = giftpk.get_show_pk(GetShowPkRequest { show_id: SHOW }).await.unwrap().into_inner();
    let latest = latest.pk.expect("the show had pks");
    assert_eq!((latest.pkid, latest.status), (pkid2, GiftpkStatus::Over as i32));
    assert!(latest.ended_at_ms >= latest.created_at_ms && latest.ended_at_ms < latest.deadline_ms);
    let history =
        giftpk.list_show_pks(ListShowPksRequest { show_id: SHOW }).await.unwrap().into_inner();
    let listed: Vec<(u64, i32, Vec<GiftpkGift>)> =
        history.pks.into_iter().map(|pk| (pk.pkid, pk.status, pk.gifts)).collect();
    let over = GiftpkStatus::Over as i32;
    assert_eq!(
        listed,
        vec![
            (pkid2, over, vec![gift(ROSE), gift(LILY)]),
            (pkid, over, vec![gift(ROSE), gift(ROCKET)])
        ]
    );
    let none = giftpk.get_show_pk(GetShowPkRequest { show_id: SHOW + 1 }).await.unwrap();
    assert_eq!(none.into_inner().pk, None);
    let unknown = giftpk.get_result(GetResultRequest { pkid: 999, user_id: 1 }).await.unwrap_err();
    let metadata = assert_business(&unknown, Code::NotFound, "403400021");
    assert_eq!(metadata["field"], "pkid");
    let record = support::eventually("the record of the draw", support::SETTLE_SLACK, || async {
        let answer = server
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Giftpk as i32, pkid: pkid2 })
            .await;
        answer.ok().and_then(|answer| answer.into_inner().record)
    })
    .await;
    assert_eq!((record.winner_id, record.ended_by.as_str()), (0, "close"));
    assert_eq!((record.endtime_ms - record.starttime_ms) / 1000, draw.duration);

    // Nothing else was pushed.
    steps.expect_end(&server, |_| false).await;
}
