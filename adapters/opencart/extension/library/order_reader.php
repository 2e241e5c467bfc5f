<?php
/**
 * Reads orders out of OpenCart's tables into the plain arrays AbonneOcEventBody::order() takes. Plain SQL on the
 * tables OpenCart 3.0, 4.0 and 4.1 share, so one reader serves every version, outside any model (no model events
 * fire while an event handler reads).
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcOrderReader
{
    /** Most orders one signed read answers. */
    const MAX_ORDERS = 100;
    /** When an order last changed: its date_modified, or its last history if later (SQL over `o`, the order). */
    const CHANGED_AT = 'GREATEST(`o`.`date_modified`, COALESCE((SELECT MAX(`h`.`date_added`) FROM `%1$sorder_history` `h`'
        . ' WHERE `h`.`order_id` = `o`.`order_id`), `o`.`date_modified`))';

    private $db;
    private $prefix;

    /**
     * @param object $db OpenCart's $this->db
     * @param string $prefix DB_PREFIX
     */
    public function __construct($db, $prefix)
    {
        $this->db = $db;
        $this->prefix = (string) $prefix;
    }

    /**
     * The order's current status id, or null when there is no such order.
     *
     * @return int|null
     */
    public function statusId($orderId)
    {
        $row = $this->db->query('SELECT `order_status_id` FROM `' . $this->prefix . 'order` WHERE `order_id` = ' . (int) $orderId)->row;

        return $row ? (int) $row['order_status_id'] : null;
    }

    /**
     * The last status other than 0 in the order's history: on 3.0 an order edit first sets status 0 without an event,
     * so this is the status the order had before the edit.
     *
     * @return int
     */
    public function lastRealStatusId($orderId)
    {
        $row = $this->db->query('SELECT `order_status_id` FROM `' . $this->prefix . 'order_history` WHERE `order_id` = ' . (int) $orderId
            . ' AND `order_status_id` > 0 ORDER BY `order_history_id` DESC LIMIT 1')->row;

        return $row ? (int) $row['order_status_id'] : 0;
    }

    /**
     * What AbonneOcEventBody::order() needs for one order, or null when there is no such order.
     *
     * @param int $orderId
     * @param int|null $oldStatusId the status before a change; null for a new order or a read
     * @param array $settings paid_status_ids, refunded_status_ids, cancelled_status_ids
     *
     * @return array|null
     */
    public function snapshot($orderId, $oldStatusId, array $settings)
    {
        $p = $this->prefix;
        $order = $this->db->query('SELECT `o`.*, ' . $this->changedAt() . ' AS `abonne_changed_at` FROM `' . $p . 'order` `o`'
            . ' WHERE `o`.`order_id` = ' . (int) $orderId)->row;
        if (!$order) {
            return null;
        }
        // 4.1 changes the status without touching date_modified: the order's last history counts as a change too.
        $order['date_modified'] = $order['abonne_changed_at'];
        unset($order['abonne_changed_at']);
        foreach (['payment', 'shipping'] as $kind) {
            $country = $this->db->query('SELECT `iso_code_2` FROM `' . $p . 'country` WHERE `country_id` = '
                . (int) ($order[$kind . '_country_id'] ?? 0))->row;
            $order[$kind . '_iso_code_2'] = $country ? $country['iso_code_2'] : '';
        }
        $options = [];
        foreach ($this->db->query('SELECT * FROM `' . $p . 'order_option` WHERE `order_id` = ' . (int) $orderId
            . ' ORDER BY `order_option_id` ASC')->rows as $option) {
            $options[(int) $option['order_product_id']][] = $option;
        }
        $plans = $this->subscriptions($orderId, (int) ($order['language_id'] ?? 0));
        $products = [];
        foreach ($this->db->query('SELECT * FROM `' . $p . 'order_product` WHERE `order_id` = ' . (int) $orderId
            . ' ORDER BY `order_product_id` ASC')->rows as $product) {
            $product['options'] = $options[(int) $product['order_product_id']] ?? [];
            $product['subscription'] = $plans[(int) $product['order_product_id']] ?? null;
            $products[] = $product;
        }
        $currency = $this->db->query('SELECT `decimal_place` FROM `' . $p . 'currency` WHERE `code` = \''
            . $this->db->escape((string) $order['currency_code']) . '\'')->row;
        $languageId = (int) ($order['language_id'] ?? 0);

        return [
            'order' => $order,
            'status' => $this->status((int) $order['order_status_id'], $languageId),
            'old_status' => $oldStatusId === null ? null : $this->status((int) $oldStatusId, $languageId),
            'paid_status_ids' => $settings['paid_status_ids'] ?? [],
            'refunded_status_ids' => $settings['refunded_status_ids'] ?? [],
            'cancelled_status_ids' => $settings['cancelled_status_ids'] ?? [],
            'products' => $products,
            'totals' => $this->db->query('SELECT * FROM `' . $p . 'order_total` WHERE `order_id` = ' . (int) $orderId
                . ' ORDER BY `sort_order` ASC, `order_total_id` ASC')->rows,
            'decimal_place' => $currency ? (int) $currency['decimal_place'] : 2,
            'timezone' => date_default_timezone_get(),
        ];
    }

    /**
     * Ids of confirmed orders changed after (modified_since, after_id), oldest change first, then by id; a change
     * is date_modified or the last history, whichever is later (the modified_at the events carry).
     *
     * @param string $since "Y-m-d H:i:s" in the shop's time zone
     *
     * @return int[]
     */
    public function changedSince($since, $afterId, $limit)
    {
        $since = $this->db->escape((string) $since);
        $changed = $this->changedAt();
        $rows = $this->db->query('SELECT `o`.`order_id`, ' . $changed . ' AS `changed_at` FROM `' . $this->prefix . 'order` `o`'
            . ' WHERE `o`.`order_status_id` > 0'
            . ' AND (' . $changed . ' > \'' . $since . '\' OR (' . $changed . ' = \'' . $since . '\' AND `o`.`order_id` > ' . (int) $afterId . '))'
            . ' ORDER BY `changed_at` ASC, `o`.`order_id` ASC LIMIT ' . max(1, min(self::MAX_ORDERS, (int) $limit)))->rows;

        return array_map(function ($row) {
            return (int) $row['order_id'];
        }, $rows);
    }

    /**
     * Ids of orders whose comment contains the marker, unconfirmed ones (status 0) included: that is how abonne
     * finds a renewal attempt again. OpenCart stores the comment HTML-escaped, so both spellings are searched.
     *
     * @return int[]
     */
    public function withMarker($marker)
    {
        $patterns = [];
        foreach (array_unique([(string) $marker, htmlspecialchars((string) $marker, ENT_COMPAT, 'UTF-8')]) as $text) {
            $patterns[] = '`comment` LIKE \'%' . $this->db->escape(addcslashes($text, '\\%_')) . '%\'';
        }
        $rows = $this->db->query('SELECT `order_id` FROM `' . $this->prefix . 'order` WHERE (' . implode(' OR ', $patterns) . ')'
            . ' ORDER BY `order_id` ASC LIMIT ' . self::MAX_ORDERS)->rows;

        return array_map(function ($row) {
            return (int) $row['order_id'];
        }, $rows);
    }

    /**
     * OpenCart 4's own subscription plans on the order's lines (order_subscription, with the plan's name), by
     * order_product_id; none on 3.0, which has no such table.
     *
     * @return array[]
     */
    private function subscriptions($orderId, $languageId)
    {
        if (!$this->hasTable('order_subscription')) {
            return [];
        }
        $p = $this->prefix;
        $plans = [];
        foreach ($this->db->query('SELECT `s`.*, (SELECT `d`.`name` FROM `' . $p . 'subscription_plan_description` `d`'
            . ' WHERE `d`.`subscription_plan_id` = `s`.`subscription_plan_id` ORDER BY (`d`.`language_id` = ' . (int) $languageId . ') DESC LIMIT 1) AS `plan_name`'
            . ' FROM `' . $p . 'order_subscription` `s` WHERE `s`.`order_id` = ' . (int) $orderId)->rows as $row) {
            $plans[(int) $row['order_product_id']] = $row;
        }

        return $plans;
    }

    /**
     * A product with its attributes in every language, for abonne's product read; null when there is none.
     *
     * @return array|null
     */
    public function product($productId)
    {
        $p = $this->prefix;
        $product = $this->db->query('SELECT `p`.`product_id`, `p`.`model`, `p`.`price`, (SELECT `d`.`name` FROM `' . $p . 'product_description` `d`'
            . ' WHERE `d`.`product_id` = `p`.`product_id` ORDER BY `d`.`language_id` ASC LIMIT 1) AS `name` FROM `' . $p . 'product` `p`'
            . ' WHERE `p`.`product_id` = ' . (int) $productId)->row;
        if (!$product) {
            return null;
        }
        $product['attributes'] = $this->db->query('SELECT `ad`.`name`, `pa`.`text`, `pa`.`language_id` FROM `' . $p . 'product_attribute` `pa`'
            . ' JOIN `' . $p . 'attribute_description` `ad` ON `ad`.`attribute_id` = `pa`.`attribute_id` AND `ad`.`language_id` = `pa`.`language_id`'
            . ' WHERE `pa`.`product_id` = ' . (int) $productId . ' ORDER BY `pa`.`attribute_id` ASC, `pa`.`language_id` ASC')->rows;

        return $product;
    }

    private function hasTable($name)
    {
        static $known = [];
        $table = $this->prefix . $name;
        if (!isset($known[$table])) {
            $known[$table] = (bool) $this->db->query('SHOW TABLES LIKE \'' . $this->db->escape(addcslashes($table, '\\%_')) . '\'')->num_rows;
        }

        return $known[$table];
    }

    private function changedAt()
    {
        return sprintf(self::CHANGED_AT, $this->prefix);
    }

    /**
     * @return array|null ['id', 'name'] in the order's language (any language when that one has no name)
     */
    private function status($statusId, $languageId)
    {
        if ($statusId <= 0) {
            return null;
        }
        $row = $this->db->query('SELECT `name` FROM `' . $this->prefix . 'order_status` WHERE `order_status_id` = ' . (int) $statusId
            . ' ORDER BY (`language_id` = ' . (int) $languageId . ') DESC LIMIT 1')->row;

        return ['id' => (string) $statusId, 'name' => $row ? (string) $row['name'] : ''];
    }
}
