<?php
// A unary gRPC call over HTTP/2 with php-curl (prior knowledge, no TLS): enough for a PHP
// gateway without ext-grpc to call livepk with the generated message classes. A gateway with
// ext-grpc uses the generated *Client stubs instead (README "Calling from a gateway").

declare(strict_types=1);

namespace LivepkExample;

use Google\Protobuf\Internal\Message;
use Google\Rpc\ErrorInfo;
use Google\Rpc\Status;

/** What a failed call tells the gateway: the gRPC status and the seed's business code. */
final class GrpcError extends \RuntimeException
{
    /** @param array<string, string> $metadata the ErrorInfo metadata (`code`, `field`, ...) */
    public function __construct(
        public readonly int $grpcStatus,
        string $message,
        public readonly string $reason,
        public readonly array $metadata,
    ) {
        parent::__construct(sprintf('grpc-status %d: %s (%s %s)', $grpcStatus, $message, $reason, json_encode($metadata)));
    }

    /** The seed's business code (ErrorInfo metadata `code`), e.g. "403400021". */
    public function businessCode(): ?string
    {
        return $this->metadata['code'] ?? null;
    }
}

final class GrpcCurl
{
    /** gRPC status codes this client names. */
    public const OK = 0;
    public const INVALID_ARGUMENT = 3;
    public const UNAUTHENTICATED = 16;

    private \CurlHandle $curl;

    /** @param string $address host:port of livepk (plaintext gRPC) */
    public function __construct(private string $address, private ?string $token = null)
    {
        // One handle for every call (see CURLOPT_FORBID_REUSE below on connections).
        $this->curl = curl_init();
    }

    /**
     * Calls `/package.Service/Method` with `$request` and decodes the reply into a new
     * `$responseClass`. Throws GrpcError when grpc-status is not 0.
     *
     * @template T of Message
     * @param class-string<T> $responseClass
     * @param array<string, string> $metadata extra request metadata (e.g. traceparent)
     * @return T
     */
    public function call(string $path, Message $request, string $responseClass, array $metadata = []): Message
    {
        $payload = $request->serializeToString();
        // gRPC message framing: 1 byte "compressed" flag, 4 bytes big-endian length, message.
        $body = pack('CN', 0, strlen($payload)) . $payload;
        $headers = ['content-type: application/grpc', 'te: trailers', 'grpc-timeout: 10S'];
        if ($this->token !== null && $this->token !== '') {
            $headers[] = 'authorization: Bearer ' . $this->token;
        }
        foreach ($metadata as $name => $value) {
            $headers[] = "$name: $value";
        }
        // Headers and trailers both arrive here (grpc-status is a trailer, or a header of a
        // Trailers-Only error response).
        $received = [];
        curl_setopt_array($this->curl, [
            CURLOPT_VERBOSE => (bool) getenv("LIVEPK_CURL_VERBOSE"),
            CURLOPT_URL => "http://{$this->address}$path",
            CURLOPT_HTTP_VERSION => CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
            // libcurl 7.88 (Debian 12) fails a second request on a reused prior-knowledge
            // HTTP/2 connection ("Error in the HTTP2 framing layer"): one connection per call.
            CURLOPT_FORBID_REUSE => true,
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 15,
            CURLOPT_HEADERFUNCTION => function ($curl, string $line) use (&$received): int {
                $colon = strpos($line, ':');
                if ($colon !== false) {
                    $received[strtolower(trim(substr($line, 0, $colon)))] = trim(substr($line, $colon + 1));
                }
                return strlen($line);
            },
        ]);
        $answer = curl_exec($this->curl);
        $httpStatus = curl_getinfo($this->curl, CURLINFO_RESPONSE_CODE);
        if ($answer === false) {
            // A server that answers an error before reading the whole request (a wrong token:
            // Trailers-Only) resets the stream after its response; libcurl 7.88 reports that
            // as "Stream error in the HTTP/2 framing layer" although the answer arrived whole.
            if (isset($received['grpc-status']) && $received['grpc-status'] !== '0') {
                throw self::error((int) $received['grpc-status'], $received);
            }
            throw new \RuntimeException("$path: " . curl_error($this->curl));
        }
        if ($httpStatus !== 200 || !isset($received['grpc-status'])) {
            throw new \RuntimeException("$path: HTTP $httpStatus without grpc-status");
        }
        $status = (int) $received['grpc-status'];
        if ($status !== self::OK) {
            throw self::error($status, $received);
        }
        if (strlen($answer) < 5) {
            throw new \RuntimeException("$path: grpc-status 0 without a message");
        }
        $length = unpack('Nlength', substr($answer, 1, 4))['length'];
        /** @var T $response */
        $response = new $responseClass();
        $response->mergeFromString(substr($answer, 5, $length));
        return $response;
    }

    /**
     * The error of a response: grpc-status, grpc-message (percent-encoded) and the
     * google.rpc.Status in grpc-status-details-bin (base64), whose ErrorInfo detail carries
     * the business code.
     *
     * @param array<string, string> $received
     */
    private static function error(int $status, array $received): GrpcError
    {
        $message = rawurldecode($received['grpc-message'] ?? '');
        $reason = '';
        $metadata = [];
        if (isset($received['grpc-status-details-bin'])) {
            $details = new Status();
            // Binary metadata is base64, padding optional (gRPC over HTTP/2 spec).
            $details->mergeFromString(base64_decode($received['grpc-status-details-bin']));
            foreach ($details->getDetails() as $any) {
                if ($any->getTypeUrl() === 'type.googleapis.com/google.rpc.ErrorInfo') {
                    $info = new ErrorInfo();
                    $info->mergeFromString($any->getValue());
                    $reason = $info->getReason();
                    foreach ($info->getMetadata() as $key => $value) {
                        $metadata[$key] = $value;
                    }
                }
            }
        }
        return new GrpcError($status, $message, $reason, $metadata);
    }
}
