<?php
/**
 * The body of an abonne event, built from plain arrays shaped like OpenCart's own rows: the order as
 * model_checkout_order->getOrder() returns it (3.0: payment_method is the title and payment_code the code; 4.x:
 * payment_method is {name, code}), order_product rows (each with its order_option rows under "options") and
 * order_total rows. AbonneOcOrderReader collects them from the database; keeping this class free of OpenCart lets
 * the tests build a body from a captured getOrder() dump under a bare php.
 *
 * The contract is abonne's README, "Events from shop-side modules": money is a decimal string in the order's
 * currency, times are ISO 8601 with their offset, ids are strings.
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcEventBody
{
    const PLATFORM = 'opencart';
    /** The payment code abonne's renewal orders carry (4.x payment_method.code, 3.0 payment_code). */
    const RENEWAL_PAYMENT_CODE = 'abonne.card';
    /** order_total codes that are neither products, shipping, tax nor the total, and may lower the total. */
    const NOT_DISCOUNTS = ['sub_total', 'shipping', 'tax', 'total'];

    /**
     * @param string $event order.created | order.status_changed | ping
     * @param string $platformVersion OpenCart's VERSION
     * @param string $moduleVersion
     * @param array|null $order from self::order(), or null for ping
     *
     * @return array
     */
    public static function envelope($event, $platformVersion, $moduleVersion, ?array $order = null)
    {
        $body = [
            'event' => (string) $event,
            'platform' => self::PLATFORM,
            'platform_version' => (string) $platformVersion,
            'module_version' => (string) $moduleVersion,
        ];
        if ($order !== null) {
            $body['order'] = $order;
        }

        return $body;
    }

    /**
     * The "order" object of the contract.
     *
     * @param array $snapshot keys:
     *   order: getOrder()-shaped row (order_id, invoice_no, invoice_prefix, transaction_id (4.x), customer_id,
     *          firstname, lastname, email, telephone, payment_* and shipping_* with *_iso_code_2 and *_zone,
     *          payment_method, payment_code (3.0), currency_code, currency_value, total, date_added, date_modified)
     *   status, old_status: ['id', 'name'] or null
     *   paid_status_ids, refunded_status_ids, cancelled_status_ids: the order status ids the owner chose
     *   products: order_product rows, each with 'options' => order_option rows
     *   totals: order_total rows
     *   decimal_place: the order currency's decimal places; timezone: the zone the shop's dates are stored in
     *
     * @return array
     */
    public static function order(array $snapshot)
    {
        $order = $snapshot['order'];
        $decimals = isset($snapshot['decimal_place']) && $snapshot['decimal_place'] !== '' ? (int) $snapshot['decimal_place'] : 2;
        // OpenCart keeps every amount in the default currency; the order's currency_value converts it.
        $rate = isset($order['currency_value']) && (float) $order['currency_value'] > 0 ? (float) $order['currency_value'] : 1.0;
        $timezone = isset($snapshot['timezone']) ? (string) $snapshot['timezone'] : '';
        $flags = [
            'paid' => self::ids(self::field($snapshot, 'paid_status_ids')),
            'refunded' => self::ids(self::field($snapshot, 'refunded_status_ids')),
            'cancelled' => self::ids(self::field($snapshot, 'cancelled_status_ids')),
        ];

        $lines = [];
        foreach ((array) self::field($snapshot, 'products') as $product) {
            $lines[] = self::line((array) $product, $rate, $decimals);
        }
        list($paymentName, $paymentCode) = self::payment($order);

        $body = [
            'id' => self::id($order, 'order_id'),
            'reference' => self::reference($order),
            'status' => self::status(self::field($snapshot, 'status'), $flags),
            'old_status' => self::status(self::field($snapshot, 'old_status'), $flags),
            'renewal' => $paymentCode === self::RENEWAL_PAYMENT_CODE,
            'payment_module' => $paymentCode,
            'payment' => $paymentName,
            'transaction_id' => self::text($order, 'transaction_id'),
            'customer' => [
                'id' => self::id($order, 'customer_id'),
                'email' => self::text($order, 'email'),
                'first_name' => self::text($order, 'firstname'),
                'last_name' => self::text($order, 'lastname'),
                'group_id' => self::id($order, 'customer_group_id'),
            ],
            'comment' => self::text($order, 'comment'),
            'billing_address' => self::address($order, 'payment'),
            'shipping_address' => self::address($order, 'shipping'),
            'currency' => strtoupper(self::text($order, 'currency_code')),
            'lines' => $lines,
            'totals' => self::totals((array) self::field($snapshot, 'totals'), $order, $rate, $decimals),
            'created_at' => self::time(self::field($order, 'date_added'), $timezone),
            'modified_at' => self::time(self::field($order, 'date_modified'), $timezone),
        ];

        return $body;
    }

    /**
     * An amount in the default currency converted with the order's rate, rounded half up to the currency's decimal
     * places: "19.90", "0.00".
     *
     * @param mixed $value OpenCart's decimal(15,4) text or a number
     * @param float $rate the order's currency_value
     * @param int $decimals
     *
     * @return string
     */
    public static function money($value, $rate = 1.0, $decimals = 2)
    {
        $decimals = max(0, (int) $decimals);

        return number_format(round((float) $value * (float) $rate, $decimals), $decimals, '.', '');
    }

    /**
     * ISO 8601 with offset for a DATETIME stored in the shop's time zone (OpenCart sets MySQL's session time zone
     * to PHP's, so NOW() in the tables is the server's local time).
     *
     * @param string|null $dateTime "Y-m-d H:i:s"
     * @param string $timezone
     *
     * @return string|null null for an empty or zero date
     */
    public static function time($dateTime, $timezone)
    {
        if ($dateTime === null || $dateTime === '' || strpos((string) $dateTime, '0000-00-00') === 0) {
            return null;
        }
        try {
            $zone = new DateTimeZone($timezone !== '' ? $timezone : date_default_timezone_get());
        } catch (Exception $e) {
            $zone = new DateTimeZone('UTC');
        }
        try {
            $moment = new DateTime((string) $dateTime, $zone);
        } catch (Exception $e) {
            return null;
        }

        return $moment->format(DATE_ATOM);
    }

    /**
     * [payment name, payment code]: 4.x stores payment_method as {name, code}, 3.0 as the title with payment_code.
     */
    private static function payment(array $order)
    {
        $method = self::field($order, 'payment_method');
        if (is_string($method) && $method !== '' && $method[0] === '{') {
            $decoded = json_decode($method, true);
            $method = is_array($decoded) ? $decoded : $method;
        }
        if (is_array($method)) {
            return [self::text($method, 'name'), self::text($method, 'code')];
        }

        return [self::decode(is_scalar($method) ? (string) $method : ''), self::text($order, 'payment_code')];
    }

    private static function reference(array $order)
    {
        $invoice = self::text($order, 'invoice_no');
        if ($invoice !== '' && $invoice !== '0') {
            return self::text($order, 'invoice_prefix') . $invoice;
        }

        return self::id($order, 'order_id');
    }

    /**
     * @param array|null $state ['id', 'name']
     *
     * @return array|null null for no status (an order not confirmed yet has status 0)
     */
    private static function status($state, array $flags)
    {
        if (!is_array($state) || self::id($state, 'id') === '' || self::id($state, 'id') === '0') {
            return null;
        }
        $id = self::id($state, 'id');

        return [
            'id' => $id,
            'name' => self::text($state, 'name'),
            'paid' => in_array($id, $flags['paid'], true),
            'refunded' => in_array($id, $flags['refunded'], true),
            'cancelled' => in_array($id, $flags['cancelled'], true),
        ];
    }

    private static function line(array $product, $rate, $decimals)
    {
        $price = (float) self::field($product, 'price');
        $tax = (float) self::field($product, 'tax');
        $quantity = (int) self::field($product, 'quantity');
        $variant = '0';
        $options = [];
        foreach ((array) self::field($product, 'options') as $option) {
            $value = self::id((array) $option, 'product_option_value_id');
            if ($variant === '0' && $value !== '' && $value !== '0') {
                $variant = $value;
            }
            // The ids are what OpenCart's API takes back (option[product_option_id]) when abonne renews the line.
            $options[] = [
                'name' => self::text((array) $option, 'name'),
                'value' => self::text((array) $option, 'value'),
                'type' => self::text((array) $option, 'type'),
                'product_option_id' => self::id((array) $option, 'product_option_id'),
                'product_option_value_id' => $value !== '' ? $value : '0',
            ];
        }

        return [
            'id' => self::id($product, 'order_product_id'),
            'product_id' => self::id($product, 'product_id'),
            'variant_id' => $variant,
            'reference' => self::text($product, 'model'),
            'name' => self::text($product, 'name'),
            'quantity' => $quantity,
            'unit_price' => self::money($price + $tax, $rate, $decimals),
            'unit_price_net' => self::money($price, $rate, $decimals),
            'total' => self::money(($price + $tax) * $quantity, $rate, $decimals),
            // order_product.total is price * quantity, without tax.
            'total_net' => self::money(self::field($product, 'total'), $rate, $decimals),
            'tax_rate' => number_format($price > 0 ? $tax / $price * 100 : 0, 3, '.', ''),
            'options' => $options,
            'subscription' => self::plan(self::field($product, 'subscription'), $rate, $decimals),
        ];
    }

    /**
     * OpenCart 4's subscription plan on a line (an order_subscription row with plan_name) in the contract's terms:
     * every `every` `unit` (OpenCart's frequency: day, week, semi_month, month, year), `cycles` charges in all
     * (0: until cancelled), `price` per cycle with tax, and the trial when the plan has one.
     *
     * @return array|null
     */
    public static function plan($row, $rate = 1.0, $decimals = 2)
    {
        if (!is_array($row) || !$row) {
            return null;
        }
        $plan = [
            'id' => self::id($row, 'subscription_plan_id'),
            'name' => self::text($row, 'plan_name'),
            'unit' => self::text($row, 'frequency'),
            'every' => (int) self::field($row, 'cycle'),
            'cycles' => (int) self::field($row, 'duration'),
            'price' => self::money((float) self::field($row, 'price') + (float) self::field($row, 'tax'), $rate, $decimals),
            'trial' => null,
        ];
        if ((int) self::field($row, 'trial_status') === 1) {
            $plan['trial'] = [
                'unit' => self::text($row, 'trial_frequency'),
                'every' => (int) self::field($row, 'trial_cycle'),
                'cycles' => (int) self::field($row, 'trial_duration'),
                'price' => self::money((float) self::field($row, 'trial_price') + (float) self::field($row, 'trial_tax'), $rate, $decimals),
            ];
        }

        return $plan;
    }

    /**
     * The answer to abonne's product read: id, model, name, price (the catalog's, without tax) and its attributes.
     *
     * @param array $product AbonneOcOrderReader::product()
     *
     * @return array
     */
    public static function product(array $product)
    {
        $attributes = [];
        foreach ((array) self::field($product, 'attributes') as $attribute) {
            $attributes[] = [
                'name' => self::text((array) $attribute, 'name'),
                'text' => self::text((array) $attribute, 'text'),
                'language_id' => self::id((array) $attribute, 'language_id'),
            ];
        }

        return [
            'id' => self::id($product, 'product_id'),
            'model' => self::text($product, 'model'),
            'name' => self::text($product, 'name'),
            'price' => self::money(self::field($product, 'price'), 1.0, 4),
            'attributes' => $attributes,
        ];
    }

    private static function totals(array $rows, array $order, $rate, $decimals)
    {
        $sums = ['sub_total' => 0.0, 'shipping' => 0.0, 'tax' => 0.0, 'discounts' => 0.0];
        $total = null;
        foreach ($rows as $row) {
            $code = self::text((array) $row, 'code');
            $value = (float) self::field((array) $row, 'value');
            if ($code === 'total') {
                $total = $value;
            } elseif (isset($sums[$code])) {
                $sums[$code] += $value;
            } elseif ($value < 0) {
                $sums['discounts'] -= $value; // coupon, voucher, reward points, store credit
            }
        }
        if ($total === null) {
            $total = (float) self::field($order, 'total');
        }

        return [
            'products' => self::money($sums['sub_total'], $rate, $decimals),
            'shipping' => self::money($sums['shipping'], $rate, $decimals),
            'discounts' => self::money($sums['discounts'], $rate, $decimals),
            'total' => self::money($total, $rate, $decimals),
            'total_net' => self::money($total - $sums['tax'], $rate, $decimals),
            // Core OpenCart records no refunded amounts: a refund is only a status (flagged "refunded").
            'refunded' => self::money(0, 1.0, $decimals),
        ];
    }

    /**
     * @param string $prefix payment | shipping
     *
     * @return array|null null when the order has no such address (no shipping needed, or no payment address asked)
     */
    private static function address(array $order, $prefix)
    {
        $text = function ($name) use ($order, $prefix) {
            return self::text($order, $prefix . '_' . $name);
        };
        if ($text('firstname') === '' && $text('lastname') === '' && $text('address_1') === '' && $text('city') === '') {
            return null;
        }

        return [
            'id' => self::id($order, $prefix . '_address_id'),
            'first_name' => $text('firstname'),
            'last_name' => $text('lastname'),
            'company' => $text('company'),
            'address_1' => $text('address_1'),
            'address_2' => $text('address_2'),
            'city' => $text('city'),
            'postcode' => $text('postcode'),
            'state' => $text('zone'),
            'country' => strtoupper($text('iso_code_2')),
            'phone' => self::text($order, 'telephone'),
            // OpenCart's API takes ids, not names: what abonne sends back when it makes a renewal order.
            'country_id' => self::id($order, $prefix . '_country_id'),
            'zone_id' => self::id($order, $prefix . '_zone_id'),
        ];
    }

    /**
     * @return string[]
     */
    private static function ids($values)
    {
        $ids = [];
        foreach (is_array($values) ? $values : [] as $value) {
            if (is_scalar($value) && (string) (int) $value !== '0') {
                $ids[] = (string) (int) $value;
            }
        }

        return $ids;
    }

    private static function field($data, $name)
    {
        return is_array($data) && isset($data[$name]) ? $data[$name] : null;
    }

    /**
     * OpenCart stores text HTML-escaped (its request object escapes every input), abonne wants it as typed.
     */
    private static function text($data, $name)
    {
        $value = self::field($data, $name);

        return is_scalar($value) ? self::decode(trim((string) $value)) : '';
    }

    private static function decode($text)
    {
        return html_entity_decode((string) $text, ENT_QUOTES | ENT_HTML5, 'UTF-8');
    }

    private static function id($data, $name)
    {
        $value = self::field($data, $name);

        return is_scalar($value) && $value !== false ? (string) $value : '';
    }
}
