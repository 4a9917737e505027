//! AcrossPk's refusals as the gateway sees them: bad input is INVALID_ARGUMENT with 403400021
//! naming the field; every other refusal carries its business code and stable `reason` in the
//! `ErrorInfo` detail with the gRPC status the README lists.

mod support;

use livepk::pb::acrosspk::{
    AcceptRequest, AcceptSource, ChallengeRequest, CreateRequest, FinishRequest, GetStateRequest,
};
use support::*;
use tonic_types::StatusExt;

fn reason(status: &tonic::Status) -> String {
    status.get_details_error_info().expect("ErrorInfo").reason
}

fn create(room_id: u64, operator_id: u64, countdown: u64) -> CreateRequest {
    CreateRequest {
        room_id,
        operator_id,
        room_name: "r".into(),
        user_name: "u".into(),
        user_avatar: String::new(),
        punishment: "p".into(),
        countdown,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    let mut client = acrosspk(&server);
    let long = "x".repeat(513);
    let cases: Vec<(&str, Result<(), tonic::Status>)> = vec![
        ("room_id", client.create(create(0, 1, 60)).await.map(drop)),
        ("operator_id", client.create(create(1, 0, 60)).await.map(drop)),
        ("countdown", client.create(create(1, 1, 0)).await.map(drop)),
        // Above `acrosspk.max_countdown_seconds` (3600 by default).
        ("countdown", client.create(create(1, 1, 3601)).await.map(drop)),
        (
            "room_name",
            client
                .create(CreateRequest { room_name: long.clone(), ..create(1, 1, 60) })
                .await
                .map(drop),
        ),
        (
            "punishment",
            client
                .create(CreateRequest { punishment: long.clone(), ..create(1, 1, 60) })
                .await
                .map(drop),
        ),
        (
            "pk_room_id",
            client
                .challenge(ChallengeRequest {
                    room_id: 1,
                    pk_room_id: 0,
                    operator_id: 1,
                    countdown: 60,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        (
            "pk_room_id",
            client
                .challenge(ChallengeRequest {
                    room_id: 1,
                    pk_room_id: 1,
                    operator_id: 1,
                    countdown: 60,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        (
            "source",
            client
                .accept(AcceptRequest {
                    room_id: 1,
                    pk_room_id: 2,
                    operator_id: 1,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        (
            "pkid",
            client.finish(FinishRequest { room_id: 1, operator_id: 1, pkid: 0 }).await.map(drop),
        ),
        ("room_id", client.get_state(GetStateRequest { room_id: 0 }).await.map(drop)),
    ];
    for (field, outcome) in cases {
        let status = outcome.expect_err(field);
        assert_invalid(&status, field);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_their_code_status_and_reason() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    server.set_config("acrosspk.max_challenges", "1").await;
    let [a, b, c] = [11, 12, 13].map(PartyRoom::new);

    a.challenge(&server, &b, 60).await.expect("Challenge");
    let cases = [
        (
            a.challenge(&server, &b, 60).await.unwrap_err(),
            tonic::Code::FailedPrecondition,
            "403400104",
            "ACROSSPK_CHALLENGE_PENDING",
        ),
        (
            b.challenge(&server, &a, 60).await.unwrap_err(),
            tonic::Code::FailedPrecondition,
            "403400102",
            "ACROSSPK_REVERSE_CHALLENGE_PENDING",
        ),
        (
            a.challenge(&server, &c, 60).await.unwrap_err(),
            tonic::Code::FailedPrecondition,
            "403400105",
            "ACROSSPK_TOO_MANY_CHALLENGES",
        ),
        (
            a.reject(&server, &b).await.unwrap_err(),
            tonic::Code::PermissionDenied,
            "403400103",
            "ACROSSPK_NOT_A_PARTY",
        ),
        (c.reject(&server, &a).await.unwrap_err(), tonic::Code::NotFound, "403400026", "PK_OVER"),
        (c.cancel(&server).await.unwrap_err(), tonic::Code::NotFound, "403400026", "PK_OVER"),
    ];
    for (status, grpc, business, name) in cases {
        assert_business(&status, grpc, business);
        assert_eq!(reason(&status), name, "{status:?}");
    }
    let pkid = b.accept(&server, &a, AcceptSource::Challenge).await.expect("Accept").pkid;
    let busy = c.challenge(&server, &a, 60).await.unwrap_err();
    let metadata = assert_business(&busy, tonic::Code::FailedPrecondition, "403400025");
    assert_eq!(reason(&busy), "ANCHOR_IN_PK");
    assert_eq!(
        (
            metadata["holding_mode"].as_str(),
            metadata["holding_pkid"].clone(),
            metadata["room_id"].as_str()
        ),
        ("acrosspk", pkid.to_string(), "11")
    );
    let unknown = a.finish(&server, pkid + 100).await.unwrap_err();
    assert_business(&unknown, tonic::Code::NotFound, "403400026");
    // Only each room's operator in the PK finishes it for that room: B's operator (who accepted)
    // may not finish it for A, whose operator challenged.
    let not_operator = a.finish_by(&server, pkid, b.operator()).await.unwrap_err();
    let metadata = assert_business(&not_operator, tonic::Code::PermissionDenied, "403400103");
    assert_eq!(
        (metadata["field"].as_str(), reason(&not_operator).as_str()),
        ("operator_id", "ACROSSPK_NOT_A_PARTY")
    );
    b.finish_by(&server, pkid, b.operator()).await.expect("B's own operator finishes it");
}
