//! Reflection v1 and v1alpha: every service is listed, and descriptors are served by symbol
//! (what `grpcurl -plaintext localhost:50051 list` / `describe` rely on).

mod support;

use prost::Message;
use support::TestServer;

const EXPECTED: &[&str] = &[
    "pk.gift.v1.Gifts",
    "pk.events.v1.Events",
    "pk.admin.v1.Admin",
    "pk.linkcall.v1.LinkCallPk",
    "pk.giftpk.v1.GiftPk",
    "pk.roompk.v1.RoomPk",
    "pk.acrosspk.v1.AcrossPk",
    "grpc.health.v1.Health",
];

/// One request/response exchange on v1; returns the response.
async fn v1(
    server: &TestServer,
    request: tonic_reflection::pb::v1::server_reflection_request::MessageRequest,
) -> tonic_reflection::pb::v1::server_reflection_response::MessageResponse {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    };
    let mut client = ServerReflectionClient::new(server.channel.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection v1 call")
        .into_inner();
    responses
        .message()
        .await
        .expect("reflection v1 answer")
        .expect("one answer")
        .message_response
        .unwrap()
}

/// One request/response exchange on v1alpha; returns the response.
async fn v1alpha(
    server: &TestServer,
    request: tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest,
) -> tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    };
    let mut client = ServerReflectionClient::new(server.channel.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection v1alpha call")
        .into_inner();
    responses
        .message()
        .await
        .expect("reflection v1alpha answer")
        .expect("one answer")
        .message_response
        .unwrap()
}

fn assert_lists_every_service(version: &str, names: &[String]) {
    for wanted in EXPECTED {
        assert!(
            names.iter().any(|name| name == wanted),
            "{version} list_services lacks {wanted}: {names:?}"
        );
    }
}

/// Asserts the descriptor files include the one that declares service `Gifts` in `pk.gift.v1`.
fn assert_declares_gifts(version: &str, files: &[Vec<u8>]) {
    let found = files.iter().any(|bytes| {
        let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
            .expect("a FileDescriptorProto");
        file.package() == "pk.gift.v1"
            && file.service.iter().any(|service| service.name() == "Gifts")
    });
    assert!(found, "{version} file_containing_symbol(pk.gift.v1.Gifts) did not return gift.proto");
}

#[tokio::test]
async fn reflection_v1_lists_every_service_and_resolves_symbols() {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let server = TestServer::start().await;

    let MessageResponse::ListServicesResponse(list) =
        v1(&server, MessageRequest::ListServices(String::new())).await
    else {
        panic!("v1 list_services answered something else");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    assert_lists_every_service("v1", &names);

    match v1(&server, MessageRequest::FileContainingSymbol("pk.gift.v1.Gifts".into())).await {
        MessageResponse::FileDescriptorResponse(files) => {
            assert_declares_gifts("v1", &files.file_descriptor_proto)
        }
        other => panic!("v1 file_containing_symbol answered {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn reflection_v1alpha_lists_every_service_and_resolves_symbols() {
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let server = TestServer::start().await;

    let MessageResponse::ListServicesResponse(list) =
        v1alpha(&server, MessageRequest::ListServices(String::new())).await
    else {
        panic!("v1alpha list_services answered something else");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    assert_lists_every_service("v1alpha", &names);

    match v1alpha(&server, MessageRequest::FileContainingSymbol("pk.gift.v1.Gifts".into())).await {
        MessageResponse::FileDescriptorResponse(files) => {
            assert_declares_gifts("v1alpha", &files.file_descriptor_proto)
        }
        other => panic!("v1alpha file_containing_symbol answered {other:?}"),
    }
    server.shutdown().await;
}
