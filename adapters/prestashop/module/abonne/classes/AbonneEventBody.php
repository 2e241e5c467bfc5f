<?php
/**
 * The body of an abonne event, built from plain arrays shaped like PrestaShop's own rows (Order fields,
 * Order::getProducts() rows, OrderPayment rows, Address fields). AbonneOrderReader collects those arrays from a live
 * shop; keeping this class free of PrestaShop lets the tests build a body from a captured hook dump under a bare php.
 *
 * The contract is abonne's README, "Events from shop-side modules": money is a decimal string in the order's currency,
 * times are ISO 8601 with their offset, ids are strings.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

class AbonneEventBody
{
    const PLATFORM = 'prestashop';

    /**
     * @param string $event order.created | order.status_changed | order.refunded | order.deleted | ping
     * @param string $platformVersion _PS_VERSION_
     * @param string $moduleVersion
     * @param array|null $order from self::order(), or null for ping
     *
     * @return array
     */
    public static function envelope($event, $platformVersion, $moduleVersion, array $order = null)
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
     *   order: Order fields (id, reference, id_cart, module, payment, total_products_wt, total_shipping_tax_incl,
     *          total_discounts_tax_incl, total_paid_tax_incl, total_paid_tax_excl, date_add, date_upd)
     *   status, old_status: ['id', 'name', 'paid'] or null; refund_state_id, cancel_state_id: PS_OS_REFUND / PS_OS_CANCELED
     *   products: Order::getProducts() rows; payments: OrderPayment rows (transaction_id)
     *   customer: ['id', 'email', 'firstname', 'lastname']
     *   invoice_address, delivery_address: Address fields plus country_iso and state_name
     *   currency: ['iso_code', 'precision']; timezone: PS_TIMEZONE
     *   refund (order.refunded only): ['id', 'amount', 'shipping', 'total_refunded'] as numbers
     *
     * @return array
     */
    public static function order(array $snapshot)
    {
        $order = $snapshot['order'];
        $currency = isset($snapshot['currency']) ? $snapshot['currency'] : [];
        $precision = isset($currency['precision']) && $currency['precision'] !== '' ? (int) $currency['precision'] : 2;
        $timezone = isset($snapshot['timezone']) ? (string) $snapshot['timezone'] : '';
        $refundStateId = isset($snapshot['refund_state_id']) ? (string) $snapshot['refund_state_id'] : '';
        $cancelStateId = isset($snapshot['cancel_state_id']) ? (string) $snapshot['cancel_state_id'] : '';
        $customer = isset($snapshot['customer']) ? $snapshot['customer'] : [];

        $lines = [];
        foreach (isset($snapshot['products']) ? $snapshot['products'] : [] as $product) {
            $lines[] = self::line($product, $precision);
        }

        $body = [
            'id' => self::id($order, 'id'),
            'reference' => self::text($order, 'reference'),
            'cart_id' => self::id($order, 'id_cart'),
            'status' => self::status(self::field($snapshot, 'status'), $refundStateId, $cancelStateId),
            'old_status' => self::status(self::field($snapshot, 'old_status'), $refundStateId, $cancelStateId),
            'renewal' => self::text($order, 'module') === 'abonne',
            'payment_module' => self::text($order, 'module'),
            'payment' => self::text($order, 'payment'),
            'transaction_id' => self::transactionId(isset($snapshot['payments']) ? $snapshot['payments'] : []),
            'customer' => [
                'id' => self::id($customer, 'id'),
                'email' => self::text($customer, 'email'),
                'first_name' => self::text($customer, 'firstname'),
                'last_name' => self::text($customer, 'lastname'),
            ],
            'billing_address' => self::address(self::field($snapshot, 'invoice_address')),
            'shipping_address' => self::address(self::field($snapshot, 'delivery_address')),
            'currency' => strtoupper(self::text($currency, 'iso_code')),
            'lines' => $lines,
            'totals' => [
                'products' => self::money(self::field($order, 'total_products_wt'), $precision),
                'shipping' => self::money(self::field($order, 'total_shipping_tax_incl'), $precision),
                'discounts' => self::money(self::field($order, 'total_discounts_tax_incl'), $precision),
                'total' => self::money(self::field($order, 'total_paid_tax_incl'), $precision),
                'total_net' => self::money(self::field($order, 'total_paid_tax_excl'), $precision),
                // Every credit slip so far, shipping included: a partial refund never changes the order's state.
                'refunded' => self::money(isset($order['total_refunded']) ? $order['total_refunded'] : 0, $precision),
            ],
        ];
        if (isset($snapshot['refund']) && is_array($snapshot['refund'])) {
            $refund = $snapshot['refund'];
            $body['refund'] = [
                'id' => self::id($refund, 'id'),
                'amount' => self::money(self::field($refund, 'amount'), $precision),
                'shipping' => self::money(self::field($refund, 'shipping'), $precision),
                'total_refunded' => self::money(self::field($refund, 'total_refunded'), $precision),
            ];
        }
        $body['created_at'] = self::time(self::field($order, 'date_add'), $timezone);
        $body['modified_at'] = self::time(self::field($order, 'date_upd'), $timezone);

        return $body;
    }

    /**
     * A decimal string rounded half up to the currency's precision: "19.90", "0.00".
     *
     * @param mixed $value PrestaShop's own decimal(20,6) text or a number
     * @param int $precision
     *
     * @return string
     */
    public static function money($value, $precision = 2)
    {
        $precision = max(0, (int) $precision);

        return number_format(round((float) $value, $precision), $precision, '.', '');
    }

    /**
     * ISO 8601 with offset for a DATETIME that PrestaShop stored in the shop's local time (PS_TIMEZONE).
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
     * @param array|null $state ['id', 'name', 'paid']
     *
     * @return array|null
     */
    private static function status($state, $refundStateId, $cancelStateId)
    {
        if (!is_array($state) || self::id($state, 'id') === '' || self::id($state, 'id') === '0') {
            return null;
        }
        $id = self::id($state, 'id');

        return [
            'id' => $id,
            'name' => self::text($state, 'name'),
            'paid' => (bool) self::field($state, 'paid'),
            'refunded' => $refundStateId !== '' && $id === $refundStateId,
            'cancelled' => $cancelStateId !== '' && $id === $cancelStateId,
        ];
    }

    private static function line(array $product, $precision)
    {
        return [
            'id' => self::id($product, 'id_order_detail'),
            'product_id' => self::id($product, 'product_id'),
            'variant_id' => self::id($product, 'product_attribute_id') !== '' ? self::id($product, 'product_attribute_id') : '0',
            'reference' => self::text($product, 'product_reference') !== ''
                ? self::text($product, 'product_reference') : self::text($product, 'reference'),
            'name' => self::text($product, 'product_name'),
            'quantity' => (int) self::field($product, 'product_quantity'),
            'unit_price' => self::money(self::field($product, 'unit_price_tax_incl'), $precision),
            'unit_price_net' => self::money(self::field($product, 'unit_price_tax_excl'), $precision),
            'total' => self::money(self::field($product, 'total_price_tax_incl'), $precision),
            'total_net' => self::money(self::field($product, 'total_price_tax_excl'), $precision),
            'tax_rate' => number_format((float) self::field($product, 'tax_rate'), 3, '.', ''),
        ];
    }

    /**
     * @param array|null $address Address fields plus country_iso and state_name
     *
     * @return array|null
     */
    private static function address($address)
    {
        if (!is_array($address) || self::id($address, 'id') === '' || self::id($address, 'id') === '0') {
            return null;
        }
        $phone = self::text($address, 'phone');

        return [
            'id' => self::id($address, 'id'),
            'first_name' => self::text($address, 'firstname'),
            'last_name' => self::text($address, 'lastname'),
            'company' => self::text($address, 'company'),
            'address_1' => self::text($address, 'address1'),
            'address_2' => self::text($address, 'address2'),
            'city' => self::text($address, 'city'),
            'postcode' => self::text($address, 'postcode'),
            'state' => self::text($address, 'state_name'),
            'country' => strtoupper(self::text($address, 'country_iso')),
            'phone' => $phone !== '' ? $phone : self::text($address, 'phone_mobile'),
        ];
    }

    /**
     * The first non-empty transaction id among the order's payments (a renewal's myPOS transaction).
     */
    private static function transactionId(array $payments)
    {
        foreach ($payments as $payment) {
            $id = self::text((array) $payment, 'transaction_id');
            if ($id !== '') {
                return $id;
            }
        }

        return '';
    }

    private static function field($data, $name)
    {
        return is_array($data) && isset($data[$name]) ? $data[$name] : null;
    }

    private static function text($data, $name)
    {
        $value = self::field($data, $name);

        return is_scalar($value) ? trim((string) $value) : '';
    }

    private static function id($data, $name)
    {
        $value = self::field($data, $name);

        return is_scalar($value) && $value !== false ? (string) $value : '';
    }
}
