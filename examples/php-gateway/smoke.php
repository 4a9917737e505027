<?php
// PHP smoke client: a PHP gateway's calls to a running livepk with the message classes
// generated from proto/ (scripts/clients.sh puts them in target/clients/php) over HTTP/2 with
// php-curl. Starts a LinkCallPk battle between two fresh anchors, records a gift (and its
// retry), reads the battle's state, and checks the business codes of two errors.
//
//   LIVEPK_PHP_GEN=target/clients/php LIVEPK_AUTH_TOKEN=... LIVEPK_ADMIN_TOKEN=... \
//       php examples/php-gateway/smoke.php 127.0.0.1:50051

declare(strict_types=1);

use LivepkExample\GrpcCurl;
use LivepkExample\GrpcError;
use Pk\Admin\V1\SetConfigRequest;
use Pk\Admin\V1\SetConfigResponse;
use Pk\Common\V1\UserProfile;
use Pk\Gift\V1\RecordGiftRequest;
use Pk\Gift\V1\RecordGiftResponse;
use Pk\Linkcall\V1 as Linkcall;

$generated = getenv('LIVEPK_PHP_GEN') ?: __DIR__ . '/../../target/clients/php';
// PSR-4 style: the generated classes, then php-google-protobuf's runtime in /usr/share/php.
spl_autoload_register(function (string $class) use ($generated): void {
    foreach ([$generated, '/usr/share/php'] as $base) {
        $file = $base . '/' . str_replace('\\', '/', $class) . '.php';
        if (is_file($file)) {
            require_once $file;
            return;
        }
    }
});
require_once __DIR__ . '/GrpcCurl.php';

function check(bool $condition, string $what): void
{
    if (!$condition) {
        fwrite(STDERR, "php-gateway: FAIL: $what\n");
        exit(1);
    }
}

function say(string $line): void
{
    echo "php-gateway $line\n";
}

$address = $argv[1] ?? '127.0.0.1:50051';
$authToken = getenv('LIVEPK_AUTH_TOKEN') ?: null;
$adminToken = getenv('LIVEPK_ADMIN_TOKEN') ?: null;
$gateway = new GrpcCurl($address, $authToken);
$admin = new GrpcCurl($address, $adminToken);
// One W3C trace for the run: the server continues it in its spans and logs.
$traceId = bin2hex(random_bytes(16));
$trace = fn (): array => ['traceparent' => sprintf('00-%s-%s-01', $traceId, bin2hex(random_bytes(8)))];
$L = '/pk.linkcall.v1.LinkCallPk/';

$entry = $admin->call('/pk.admin.v1.Admin/SetConfig', new SetConfigRequest(['key' => 'linkcall.pk_seconds', 'value' => '60s']), SetConfigResponse::class)->getEntry();
check($entry->getKey() === 'linkcall.pk_seconds', 'SetConfig pk_seconds: ' . $entry->serializeToJsonString());

// Two anchors of this run only (the client may run again against the same server).
$base = (int) (hrtime(true) / 1000 % 1000000000) * 10 + 3;
$host = ['id' => $base + 1, 'sid' => $base + 1 + 8000000000];
$guest = ['id' => $base + 2, 'sid' => $base + 2 + 8000000000];
foreach ([$host, $guest] as $anchor) {
    $gateway->call($L . 'RefreshSingerProfile', new Linkcall\RefreshSingerProfileRequest([
        'singer_id' => $anchor['id'], 'singer_sid' => $anchor['sid'], 'singer_nick' => "php anchor {$anchor['id']}", 'singer_star' => 3,
    ]), Linkcall\RefreshSingerProfileResponse::class, $trace());
    $gateway->call($L . 'SingerComeInRoom', new Linkcall\SingerComeInRoomRequest(['singer_id' => $anchor['id'], 'singer_sid' => $anchor['sid']]), Linkcall\SingerComeInRoomResponse::class, $trace());
    $gateway->call($L . 'OpenFunction', new Linkcall\OpenFunctionRequest(['singer_id' => $anchor['id'], 'singer_sid' => $anchor['sid'], 'pk_open' => 1]), Linkcall\OpenFunctionResponse::class, $trace());
}
$pair = ['host_id' => $host['id'], 'host_sid' => $host['sid'], 'guest_id' => $guest['id'], 'guest_sid' => $guest['sid']];
$gateway->call($L . 'Apply', new Linkcall\ApplyRequest($pair), Linkcall\ApplyResponse::class, $trace());
$gateway->call($L . 'Link', new Linkcall\LinkRequest($pair), Linkcall\LinkResponse::class, $trace());
$gateway->call($L . 'Confirm', new Linkcall\ConfirmRequest($pair + ['code' => Linkcall\ConfirmCode::CONFIRM_CODE_AGREE]), Linkcall\ConfirmResponse::class, $trace());
$started = $gateway->call($L . 'Start', new Linkcall\StartRequest($pair), Linkcall\StartResponse::class, $trace());
$pkid = $started->getPkid();
check($pkid > 0 && $started->getPkState() === Linkcall\PkState::PK_STATE_START, 'Start: ' . $started->serializeToJsonString());
say("battle $pkid started between anchors {$host['id']} and {$guest['id']}");

// A gift to the host: counted once in the running battle; its retry is recognised.
$gift = new RecordGiftRequest([
    'gift_txn_id' => "php-$base-1",
    'sender' => new UserProfile(['user_id' => 501, 'user_nick' => 'php fan']),
    'receiver_id' => $host['id'],
    'room_sid' => $host['sid'],
    'gift_id' => 9,
    'gift_count' => 3,
    'unit_value' => 40,
    'sent_at_ms' => (int) (microtime(true) * 1000),
]);
$recorded = $gateway->call('/pk.gift.v1.Gifts/RecordGift', $gift, RecordGiftResponse::class, $trace());
check(!$recorded->getDuplicate() && count($recorded->getChanges()) === 1, 'RecordGift: ' . $recorded->serializeToJsonString());
$change = $recorded->getChanges()[0];
check($change->getPkid() === $pkid && $change->getSideTotal() === 120 && $change->getSenderTotal() === 120, 'score change: ' . $change->serializeToJsonString());
$retry = $gateway->call('/pk.gift.v1.Gifts/RecordGift', $gift, RecordGiftResponse::class, $trace());
check($retry->getDuplicate(), 'the retry was not a duplicate: ' . $retry->serializeToJsonString());
say('gift recorded: side total 120, its retry answered duplicate');

// State queries: the battle as a viewer entering the host's room sees it.
$state = $gateway->call($L . 'UserComeInRoom', new Linkcall\UserComeInRoomRequest(['singer_id' => $host['id'], 'singer_sid' => $host['sid']]), Linkcall\UserComeInRoomResponse::class, $trace());
check($state->getPkid() === $pkid && count($state->getPk()) === 1, 'UserComeInRoom: ' . $state->serializeToJsonString());
$pk = $state->getPk()[0];
check($pk->getHostGift() === 120 && $pk->getGuestGift() === 0 && $pk->getPhase() === Linkcall\PkPhase::PK_PHASE_SCORING, 'pk info: ' . $pk->serializeToJsonString());
check(count($state->getHUsers()) === 1 && $state->getHUsers()[0]->getUserId() === 501, 'host top users: ' . $state->serializeToJsonString());
$seek = $gateway->call($L . 'UserSeekPk', new Linkcall\UserSeekPkRequest(['singer_id' => $guest['id'], 'singer_sid' => $guest['sid']]), Linkcall\UserSeekPkResponse::class, $trace());
check($seek->getPkid() === $pkid && $seek->getPk()[0]->getHostGift() === 120, 'UserSeekPk: ' . $seek->serializeToJsonString());
say('state: UserComeInRoom and UserSeekPk show 120:0, scoring, fan 501 on top');

// Errors: grpc-status and the business code from grpc-status-details-bin.
try {
    $nameless = clone $gift;
    $nameless->setGiftTxnId('');
    $gateway->call('/pk.gift.v1.Gifts/RecordGift', $nameless, RecordGiftResponse::class);
    check(false, 'a gift without gift_txn_id was accepted');
} catch (GrpcError $error) {
    check($error->grpcStatus === GrpcCurl::INVALID_ARGUMENT && $error->businessCode() === '403400021' && ($error->metadata['field'] ?? '') === 'gift_txn_id', (string) $error->getMessage());
    say("error: empty gift_txn_id -> grpc-status {$error->grpcStatus}, code {$error->businessCode()}, field gift_txn_id ({$error->reason})");
}
if ($authToken !== null) {
    try {
        (new GrpcCurl($address, 'wrong-token'))->call($L . 'UserSeekPk', new Linkcall\UserSeekPkRequest(['singer_id' => $host['id'], 'singer_sid' => $host['sid']]), Linkcall\UserSeekPkResponse::class);
        check(false, 'a wrong token was accepted');
    } catch (GrpcError $error) {
        check($error->grpcStatus === GrpcCurl::UNAUTHENTICATED && $error->businessCode() === '403400020', (string) $error->getMessage());
        say("error: wrong bearer token -> grpc-status {$error->grpcStatus}, code {$error->businessCode()}");
    }
}

$closed = $gateway->call($L . 'Close', new Linkcall\CloseRequest($pair + ['singer_id' => $host['id']]), Linkcall\CloseResponse::class, $trace());
check($closed->getPkid() === $pkid, 'Close: ' . $closed->serializeToJsonString());
say('PASS (generated classes over HTTP/2 with php-curl: gift, state queries, business codes)');
