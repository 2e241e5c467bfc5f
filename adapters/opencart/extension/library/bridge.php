<?php
/**
 * What the abonne extension does, for every OpenCart version: sends signed order events (or keeps them in the queue
 * and sends them again), pings, and answers abonne's signed reads. The version-specific controllers only collect the
 * event arguments and the request, and call this. Never throws out of an event: checkout must not notice abonne.
 */
if (!defined('VERSION')) {
    exit;
}

require_once __DIR__ . '/event_signer.php';
require_once __DIR__ . '/backoff.php';
require_once __DIR__ . '/event_body.php';
require_once __DIR__ . '/delivery.php';
require_once __DIR__ . '/event_queue.php';
require_once __DIR__ . '/order_reader.php';
require_once __DIR__ . '/read_signature.php';

class AbonneOcBridge
{
    const MODULE_VERSION = '1.0.0';
    /** OpenCart setting code; keys are module_abonne_<name>. */
    const SETTING_CODE = 'module_abonne';
    /** Checkout must never wait long for abonne. */
    const EVENT_CONNECT_TIMEOUT = 2;
    const EVENT_TIMEOUT = 3;
    /** Queued events a later event may resend on its way out. */
    const EVENT_RESEND_LIMIT = 3;
    /** After abonne did not answer at all, new events go straight to the queue for this long. */
    const PAUSE_SECONDS = 60;
    /** Events one cron run sends at most; the next run continues. */
    const CRON_LIMIT = 500;
    /** The stock statuses (identical in 3.0 and 4.x installs) until the owner chooses: Processing, Shipped,
     * Complete, Processed are paid; Refunded; Canceled. */
    const DEFAULT_PAID = ['2', '3', '5', '15'];
    const DEFAULT_REFUNDED = ['11'];
    const DEFAULT_CANCELLED = ['7'];

    /** order id => status id read in the "before" event, for the "after" event of the same call. */
    private static $statusBefore = [];

    private $db;
    private $prefix;
    private $settings;
    private $log;
    private $platformVersion;

    /**
     * @param object $db OpenCart's $this->db
     * @param string $prefix DB_PREFIX
     * @param array $settings from self::settings()
     * @param callable $log function (string $message): void, OpenCart's $this->log->write
     * @param string $platformVersion OpenCart's VERSION
     */
    public function __construct($db, $prefix, array $settings, callable $log, $platformVersion)
    {
        $this->db = $db;
        $this->prefix = (string) $prefix;
        $this->settings = $settings;
        $this->log = $log;
        $this->platformVersion = (string) $platformVersion;
    }

    /**
     * The extension's settings (module_abonne_*), normalized.
     *
     * @param object|array $source OpenCart's $this->config, or the module_abonne_* values just saved
     *
     * @return array url, shop_id, secret, cron_token, paused_until, paid_status_ids, refunded_status_ids,
     *               cancelled_status_ids
     */
    public static function settings($source)
    {
        $get = function ($name) use ($source) {
            $key = self::SETTING_CODE . '_' . $name;

            return is_array($source) ? ($source[$key] ?? null) : $source->get($key);
        };
        $ids = function ($value) {
            return array_values(array_map('strval', array_map('intval', is_array($value) ? $value : [])));
        };

        return [
            'url' => trim((string) $get('url')),
            'shop_id' => (int) $get('shop_id'),
            'secret' => (string) $get('secret'),
            'cron_token' => (string) $get('cron_token'),
            'paused_until' => (int) $get('paused_until'),
            'paid_status_ids' => $ids($get('paid_status')),
            'refunded_status_ids' => $ids($get('refunded_status')),
            'cancelled_status_ids' => $ids($get('cancelled_status')),
        ];
    }

    public function queue()
    {
        return new AbonneOcEventQueue($this->db, $this->prefix);
    }

    public function reader()
    {
        return new AbonneOcOrderReader($this->db, $this->prefix);
    }

    /**
     * "before" an order history is added: remember the status the order has now.
     *
     * @param int $orderId
     * @param bool $isEdit the request edits the order (3.0 api/order/edit first sets status 0 without an event)
     */
    public function historyBefore($orderId, $isEdit = false)
    {
        $this->guarded('the order history event (before)', function () use ($orderId, $isEdit) {
            $status = $this->reader()->statusId($orderId);
            if ($status === null) {
                return;
            }
            if ($status === 0 && $isEdit) {
                $status = $this->reader()->lastRealStatusId($orderId);
            }
            self::$statusBefore[(int) $orderId] = $status;
        });
    }

    /**
     * "after" the history is added: the order was confirmed (status 0 before) or its status changed.
     *
     * @param int $orderId
     * @param int $newStatusId the status the history set (an order set to 0 is not confirmed: nothing is sent)
     */
    public function historyAfter($orderId, $newStatusId)
    {
        $this->guarded('the order history event (after)', function () use ($orderId, $newStatusId) {
            $orderId = (int) $orderId;
            $old = array_key_exists($orderId, self::$statusBefore) ? self::$statusBefore[$orderId] : null;
            unset(self::$statusBefore[$orderId]);
            if ((int) $newStatusId <= 0) {
                return;
            }
            $event = $old === 0 ? 'order.created' : 'order.status_changed';
            $snapshot = $this->reader()->snapshot($orderId, $event === 'order.created' ? null : $old, $this->settings);
            if ($snapshot !== null) {
                $this->sendEvent($event, $orderId, AbonneOcEventBody::order($snapshot));
            }
        });
    }

    /**
     * Sends an event now, or keeps it in the queue. Never throws.
     *
     * @param string $event
     * @param int $orderId
     * @param array|null $order the contract's "order" object
     */
    public function sendEvent($event, $orderId, ?array $order = null)
    {
        try {
            $raw = AbonneOcEventSigner::encode(AbonneOcEventBody::envelope($event, $this->platformVersion, self::MODULE_VERSION, $order));
        } catch (Throwable $e) {
            $this->log('the ' . $event . ' event could not be built: ' . $e->getMessage());

            return;
        }
        $eventId = AbonneOcEventSigner::newEventId();
        $now = time();
        try {
            $delivery = $this->delivery(self::EVENT_CONNECT_TIMEOUT, self::EVENT_TIMEOUT);
            if ($delivery === null) {
                $this->keep($eventId, $event, $orderId, $raw, 1, $now, 'the extension is not configured (bridge URL, shop id, signing secret)');

                return;
            }
            if ($this->settings['paused_until'] > $now) {
                // abonne did not answer a moment ago: do not make this checkout wait for the same timeout again.
                $this->queue()->add($eventId, $event, $orderId, $raw, 0, $this->settings['paused_until'], 'abonne was unreachable a moment ago', $now);

                return;
            }
            $result = $delivery->send($raw, $eventId, $now);
            if ($result['delivered']) {
                $this->resendDue(self::EVENT_RESEND_LIMIT, $delivery);

                return;
            }
            if ($result['status'] === 0) {
                $this->pauseUntil($now + self::PAUSE_SECONDS);
            }
            $this->keep($eventId, $event, $orderId, $raw, 1, $now, $result['message']);
        } catch (Throwable $e) {
            $this->log('the ' . $event . ' event for order ' . (int) $orderId . ' could not be sent or queued: ' . get_class($e) . ': ' . $e->getMessage());
        }
    }

    private function keep($eventId, $event, $orderId, $raw, $attempts, $now, $error)
    {
        $next = AbonneOcBackoff::nextAttemptAt($attempts, $now, $now);
        $this->queue()->add($eventId, $event, $orderId, $raw, $attempts, $next, $error, $now);
        $this->log('the ' . $event . ' event for order ' . (int) $orderId . ' (' . $eventId . ') is queued and will be sent again: ' . $error);
    }

    /**
     * Sends due queued events: from a later event (a few) or the cron route (all).
     *
     * @param int $limit at most this many events
     * @param AbonneOcDelivery|null $delivery null: the configured endpoint with the given timeouts
     * @param bool $stopWhenUnreachable stop at the first event abonne does not answer at all
     *
     * @return array ['sent', 'failed', 'given_up', 'queued', 'due', 'message']
     */
    public function resendDue($limit, ?AbonneOcDelivery $delivery = null, $stopWhenUnreachable = true, $connectTimeout = 5, $timeout = 10)
    {
        $summary = ['sent' => 0, 'failed' => 0, 'given_up' => 0];
        $queue = $this->queue();
        try {
            $delivery = $delivery ?: $this->delivery($connectTimeout, $timeout);
            $remaining = (int) $limit;
            while ($delivery !== null && $remaining > 0) {
                $now = time();
                $rows = $queue->claimDue(min(20, $remaining), $now);
                if (!$rows) {
                    break;
                }
                $remaining -= count($rows);
                $unreachable = false;
                foreach ($rows as $row) {
                    if ($unreachable) {
                        $queue->reschedule($row['id'], $row['attempts'], $now, $row['last_error']);
                        continue;
                    }
                    $result = $delivery->send($row['body'], $row['event_id']);
                    if ($result['delivered']) {
                        $queue->delete($row['id']);
                        ++$summary['sent'];
                        continue;
                    }
                    $attempts = (int) $row['attempts'] + 1;
                    $next = AbonneOcBackoff::nextAttemptAt($attempts, (int) $row['created_at'], time());
                    if ($next === null) {
                        $queue->delete($row['id']);
                        ++$summary['given_up'];
                        $this->log('gave up the ' . $row['event'] . ' event (' . $row['event_id'] . ') after ' . $attempts
                            . ' attempts over 3 days: ' . $result['message']);
                    } else {
                        $queue->reschedule($row['id'], $attempts, $next, $result['message']);
                        ++$summary['failed'];
                    }
                    $unreachable = $stopWhenUnreachable && $result['status'] === 0;
                }
                if ($unreachable) {
                    break;
                }
            }
            $summary['message'] = $delivery === null ? 'the extension is not configured (bridge URL, shop id, signing secret)' : '';
        } catch (Throwable $e) {
            $this->log('resending queued events failed: ' . get_class($e) . ': ' . $e->getMessage());
            $summary['message'] = 'resending failed, see the shop\'s error log';
        }
        try {
            $counts = $queue->counts(time());
        } catch (Throwable $e) {
            $counts = ['queued' => 0, 'due' => 0, 'last_error' => ''];
        }

        return $summary + ['queued' => $counts['queued'], 'due' => $counts['due']];
    }

    /**
     * Sends a signed ping now.
     *
     * @return array ['delivered' => bool, 'status' => int, 'message' => string]
     */
    public function ping()
    {
        $delivery = $this->delivery(self::EVENT_CONNECT_TIMEOUT, 10);
        if ($delivery === null) {
            return ['delivered' => false, 'status' => 0, 'message' => 'set the bridge URL, the shop id and the signing secret first'];
        }
        $raw = AbonneOcEventSigner::encode(AbonneOcEventBody::envelope('ping', $this->platformVersion, self::MODULE_VERSION));
        $result = $delivery->send($raw, AbonneOcEventSigner::newEventId());
        if ($result['delivered']) {
            $this->pauseUntil(0);
        }

        return $result;
    }

    /**
     * Answers one of abonne's signed reads (README, "Reads from abonne").
     *
     * @param string $call order | orders | find
     * @param array $params the raw query parameters ($_GET, route and call included or not)
     * @param string $stamp X-Abonne-Timestamp
     * @param string $signature X-Abonne-Signature
     * @param int $now
     *
     * @return array [HTTP status, JSON body]
     */
    public function read($call, array $params, $stamp, $signature, $now)
    {
        $refused = AbonneOcReadSignature::verify($this->settings['secret'], $stamp, $signature, $call, $params, $now);
        if ($refused !== null) {
            return [$refused[0], ['ok' => false, 'error' => $refused[1], 'detail' => $refused[2]]];
        }
        $reader = $this->reader();
        if ($call === 'order') {
            $orderId = isset($params['order_id']) ? (int) $params['order_id'] : 0;
            $snapshot = $orderId > 0 ? $reader->snapshot($orderId, null, $this->settings) : null;
            if ($snapshot === null) {
                return [404, ['ok' => false, 'error' => 'order_unknown', 'detail' => 'no order ' . $orderId . ' in this shop']];
            }

            return [200, ['ok' => true, 'platform_version' => $this->platformVersion, 'order' => AbonneOcEventBody::order($snapshot)]];
        }
        if ($call === 'orders') {
            $since = isset($params['modified_since']) ? trim((string) $params['modified_since']) : '';
            try {
                $moment = new DateTime($since !== '' ? $since : '@0');
            } catch (Exception $e) {
                return [400, ['ok' => false, 'error' => 'modified_since_invalid', 'detail' => 'modified_since must be ISO 8601 with its offset']];
            }
            $moment->setTimezone(new DateTimeZone(date_default_timezone_get()));
            $limit = isset($params['limit']) && (int) $params['limit'] > 0 ? (int) $params['limit'] : AbonneOcOrderReader::MAX_ORDERS;
            $ids = $reader->changedSince($moment->format('Y-m-d H:i:s'), isset($params['after_id']) ? (int) $params['after_id'] : 0, $limit);

            return [200, ['ok' => true, 'platform_version' => $this->platformVersion, 'orders' => $this->orders($ids)]];
        }
        if ($call === 'product') {
            $productId = isset($params['product_id']) ? (int) $params['product_id'] : 0;
            $product = $productId > 0 ? $reader->product($productId) : null;
            if ($product === null) {
                return [404, ['ok' => false, 'error' => 'product_unknown', 'detail' => 'no product ' . $productId . ' in this shop']];
            }

            return [200, ['ok' => true, 'platform_version' => $this->platformVersion, 'product' => AbonneOcEventBody::product($product)]];
        }
        if ($call === 'find') {
            $marker = isset($params['marker']) ? trim((string) $params['marker']) : '';
            if ($marker === '') {
                return [400, ['ok' => false, 'error' => 'marker_missing', 'detail' => 'find needs a marker']];
            }

            return [200, ['ok' => true, 'platform_version' => $this->platformVersion, 'orders' => $this->orders($reader->withMarker($marker))]];
        }

        return [400, ['ok' => false, 'error' => 'call_unknown', 'detail' => 'call must be order, orders, product or find']];
    }

    private function orders(array $ids)
    {
        $orders = [];
        foreach ($ids as $id) {
            $snapshot = $this->reader()->snapshot($id, null, $this->settings);
            if ($snapshot !== null) {
                $orders[] = AbonneOcEventBody::order($snapshot);
            }
        }

        return $orders;
    }

    /**
     * @return AbonneOcDelivery|null null until the bridge URL, shop id and secret are set
     */
    private function delivery($connectTimeout, $timeout)
    {
        if ($this->settings['url'] === '' || $this->settings['shop_id'] <= 0 || $this->settings['secret'] === '') {
            return null;
        }

        return new AbonneOcDelivery(AbonneOcDelivery::endpoint($this->settings['url'], $this->settings['shop_id']),
            $this->settings['secret'], $connectTimeout, $timeout);
    }

    /**
     * Stores module_abonne_paused_until for store 0 (where the extension's settings live).
     */
    private function pauseUntil($until)
    {
        $key = self::SETTING_CODE . '_paused_until';
        $this->db->query('DELETE FROM `' . $this->prefix . 'setting` WHERE `store_id` = 0 AND `key` = \'' . $key . '\'');
        $this->db->query('INSERT INTO `' . $this->prefix . 'setting` SET `store_id` = 0, `code` = \'' . self::SETTING_CODE . '\','
            . ' `key` = \'' . $key . '\', `value` = \'' . (int) $until . '\', `serialized` = 0');
        $this->settings['paused_until'] = (int) $until;
    }

    /**
     * An event must never break or slow the shop beyond the short timeout: everything is caught and logged.
     */
    private function guarded($what, callable $work)
    {
        try {
            $work();
        } catch (Throwable $e) {
            $this->log($what . ' failed: ' . get_class($e) . ': ' . $e->getMessage());
        }
    }

    /**
     * Log lines never contain the secret: messages come from AbonneOcDelivery, which never includes it.
     */
    private function log($message)
    {
        try {
            call_user_func($this->log, 'abonne: ' . $message);
        } catch (Throwable $e) {
            // Logging must not break a checkout either.
        }
    }
}
