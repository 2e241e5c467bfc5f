<?php
/**
 * One signed POST of an event to abonne, with curl and short timeouts, and its outcome in plain words.
 * Never throws and never puts the secret (or credentials in the URL) into a message. Pure: no OpenCart class.
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcDelivery
{
    /** @var string */
    private $url;
    /** @var string */
    private $secret;
    /** @var int */
    private $connectTimeout;
    /** @var int */
    private $timeout;

    /**
     * @param string $url the full endpoint, {bridge URL}/webhooks/opencart/{shop id}
     * @param string $secret the shop's signing secret in abonne
     * @param int $connectTimeout seconds
     * @param int $timeout seconds for the whole request
     */
    public function __construct($url, $secret, $connectTimeout = 2, $timeout = 3)
    {
        $this->url = (string) $url;
        $this->secret = (string) $secret;
        $this->connectTimeout = max(1, (int) $connectTimeout);
        $this->timeout = max(1, (int) $timeout);
    }

    /**
     * The endpoint for a shop: {bridge URL}/webhooks/opencart/{shop id}.
     */
    public static function endpoint($bridgeUrl, $shopId)
    {
        return rtrim(trim((string) $bridgeUrl), '/') . '/webhooks/opencart/' . (int) $shopId;
    }

    /**
     * Signs the raw body now and posts it.
     *
     * @param string $rawBody
     * @param string $eventId
     * @param int|null $now Unix seconds, for tests
     *
     * @return array ['delivered' => bool (a 2xx answer), 'status' => int HTTP status or 0, 'message' => string]
     */
    public function send($rawBody, $eventId, $now = null)
    {
        if (!function_exists('curl_init')) {
            return self::outcome(false, 0, 'the PHP curl extension is missing on the shop server');
        }
        $timestamp = $now === null ? time() : (int) $now;
        $lines = [];
        foreach (AbonneOcEventSigner::headers($this->secret, $rawBody, $eventId, $timestamp) as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $lines[] = 'Expect:';
        try {
            $curl = curl_init($this->url);
            curl_setopt_array($curl, [
                CURLOPT_POST => true,
                CURLOPT_POSTFIELDS => $rawBody,
                CURLOPT_HTTPHEADER => $lines,
                CURLOPT_RETURNTRANSFER => true,
                CURLOPT_FOLLOWLOCATION => false,
                CURLOPT_CONNECTTIMEOUT => $this->connectTimeout,
                CURLOPT_TIMEOUT => $this->timeout,
                CURLOPT_NOSIGNAL => true,
                CURLOPT_USERAGENT => 'abonne-opencart-extension',
            ]);
            if (defined('CURLOPT_PROTOCOLS')) {
                curl_setopt($curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
            }
            $answer = curl_exec($curl);
            $status = (int) curl_getinfo($curl, CURLINFO_HTTP_CODE);
            $error = $answer === false ? curl_error($curl) : '';
            curl_close($curl);
        } catch (Throwable $e) {
            return self::outcome(false, 0, 'the request could not be sent: ' . get_class($e));
        }
        if ($answer === false) {
            return self::outcome(false, 0, 'no answer from abonne at ' . self::safeUrl($this->url) . ': ' . $error);
        }

        return self::describe($status, (string) $answer);
    }

    /**
     * abonne's answer in plain words: its "message" on success, its "error" and "detail" otherwise.
     *
     * @param int $status
     * @param string $answer the response body
     *
     * @return array ['delivered' => bool, 'status' => int, 'message' => string]
     */
    public static function describe($status, $answer)
    {
        $json = json_decode($answer, true);
        $json = is_array($json) ? $json : [];
        if ($status >= 200 && $status < 300) {
            $message = isset($json['message']) && is_scalar($json['message']) ? (string) $json['message'] : '';

            return self::outcome(true, $status, $message !== '' ? $message : 'abonne accepted the event (HTTP ' . $status . ')');
        }
        $parts = [];
        foreach (['error', 'detail'] as $name) {
            if (isset($json[$name]) && is_scalar($json[$name]) && (string) $json[$name] !== '') {
                $parts[] = (string) $json[$name];
            }
        }
        if (!$parts) {
            $text = trim(strip_tags($answer));
            $parts[] = $text !== '' ? (function_exists('mb_substr') ? mb_substr($text, 0, 200) : substr($text, 0, 200)) : 'no explanation in the answer';
        }

        return self::outcome(false, $status, 'abonne answered HTTP ' . $status . ': ' . implode(': ', $parts));
    }

    /**
     * The URL without user:password, for messages and logs.
     */
    public static function safeUrl($url)
    {
        return (string) preg_replace('#^([a-z][a-z0-9+.-]*://)[^/@]*@#i', '$1', (string) $url);
    }

    private static function outcome($delivered, $status, $message)
    {
        return ['delivered' => (bool) $delivered, 'status' => (int) $status, 'message' => (string) $message];
    }
}
