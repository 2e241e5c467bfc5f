<?php
/**
 * Signing and encoding of abonne events: the pure half of the contract in abonne's README ("Events from shop-side
 * modules"). No OpenCart class is used here, so the tests run it under a bare php CLI.
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcEventSigner
{
    const HEADER_TIMESTAMP = 'X-Abonne-Timestamp';
    const HEADER_EVENT_ID = 'X-Abonne-Event-Id';
    const HEADER_SIGNATURE = 'X-Abonne-Signature';

    /**
     * The X-Abonne-Signature value: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>.
     *
     * @param string $secret
     * @param int $timestamp Unix seconds
     * @param string $rawBody the exact bytes that are sent
     *
     * @return string
     */
    public static function signature($secret, $timestamp, $rawBody)
    {
        return 'v1=' . hash_hmac('sha256', (int) $timestamp . '.' . $rawBody, (string) $secret);
    }

    /**
     * The request headers for one delivery. Every delivery is signed again with its own timestamp,
     * because abonne refuses a timestamp more than 5 minutes away from its clock.
     *
     * @return array<string, string> header name => value
     */
    public static function headers($secret, $rawBody, $eventId, $timestamp)
    {
        return [
            'Content-Type' => 'application/json',
            self::HEADER_TIMESTAMP => (string) (int) $timestamp,
            self::HEADER_EVENT_ID => (string) $eventId,
            self::HEADER_SIGNATURE => self::signature($secret, $timestamp, $rawBody),
        ];
    }

    /**
     * A random event id, for logs on both sides only: abonne never deduplicates on it.
     *
     * @return string
     */
    public static function newEventId()
    {
        return bin2hex(random_bytes(16));
    }

    /**
     * The raw body of an event. Slashes and non-ASCII letters stay as they are; text that is not valid UTF-8
     * (a legacy product name) is replaced rather than failing the whole event.
     *
     * @param array $body
     *
     * @return string
     *
     * @throws RuntimeException when the body cannot be encoded at all
     */
    public static function encode(array $body)
    {
        $flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;
        if (defined('JSON_INVALID_UTF8_SUBSTITUTE')) {
            $flags |= JSON_INVALID_UTF8_SUBSTITUTE;
        }
        $raw = json_encode($body, $flags);
        if ($raw === false) {
            throw new RuntimeException('the event cannot be encoded as JSON: ' . json_last_error_msg());
        }

        return $raw;
    }
}
