<?php
/**
 * abonne's signed reads (abonne's README, "Reads from abonne"): X-Abonne-Signature is
 * v1=<hex HMAC-SHA256(secret, timestamp + "." + call + ":" + query)>, where query is the request's parameters other
 * than OpenCart's `route` and the `call`, sorted by name and form-encoded as http_build_query does. Pure.
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcReadSignature
{
    /** Seconds a signed request stays valid, as for events. */
    const WINDOW = 300;

    /**
     * The signed query text: every parameter but route and call, ksort-ed, then http_build_query-encoded.
     *
     * @param array $params the raw query parameters ($_GET)
     *
     * @return string
     */
    public static function query(array $params)
    {
        unset($params['route'], $params['call']);
        ksort($params, SORT_STRING);

        return http_build_query($params);
    }

    /**
     * @return string v1=<hex>
     */
    public static function signature($secret, $timestamp, $call, array $params)
    {
        return 'v1=' . hash_hmac('sha256', (int) $timestamp . '.' . (string) $call . ':' . self::query($params), (string) $secret);
    }

    /**
     * Checks a signed read. Python's urlencode leaves "~" as it is where http_build_query writes %7E, so a query
     * signed either way is accepted.
     *
     * @param string $secret
     * @param string $stamp the X-Abonne-Timestamp header
     * @param string $given the X-Abonne-Signature header (several v1= values may be comma-separated)
     * @param string $call
     * @param array $params
     * @param int $now
     *
     * @return array|null null when valid, else [HTTP status, error code, detail]
     */
    public static function verify($secret, $stamp, $given, $call, array $params, $now)
    {
        $stamp = trim((string) $stamp);
        if ((string) $secret === '') {
            return [401, 'not_configured', 'the abonne extension has no signing secret yet'];
        }
        if ($stamp === '' || trim((string) $given) === '') {
            return [401, 'signature_missing', 'a signed request is needed (X-Abonne-Timestamp and X-Abonne-Signature)'];
        }
        if (!ctype_digit($stamp)) {
            return [401, 'timestamp_invalid', 'X-Abonne-Timestamp must be Unix seconds'];
        }
        $query = self::query($params);
        $expected = [];
        foreach (array_unique([$query, str_replace('%7E', '~', $query)]) as $text) {
            $expected[] = 'v1=' . hash_hmac('sha256', $stamp . '.' . (string) $call . ':' . $text, (string) $secret);
        }
        $matched = false;
        foreach (explode(',', (string) $given) as $candidate) {
            foreach ($expected as $value) {
                // hash_equals on every pair, so the time taken does not depend on which one matched.
                $matched = hash_equals($value, trim($candidate)) || $matched;
            }
        }
        if (!$matched) {
            return [401, 'signature_mismatch', 'the signature does not match this shop\'s abonne secret'];
        }
        if (abs((int) $now - (int) $stamp) > self::WINDOW) {
            return [401, 'timestamp_out_of_window', 'the request is more than 5 minutes away from the shop\'s clock'];
        }

        return null;
    }
}
