<?php
/**
 * Reads an order out of PrestaShop into the plain arrays AbonneEventBody::order() takes.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

class AbonneOrderReader
{
    /**
     * @param Order $order
     * @param OrderState|null $status the order's state for this event (the current one when null)
     * @param OrderState|null $oldStatus the state before a change; null for a new order
     * @param array|null $refund ['id', 'amount', 'shipping', 'total_refunded'] for order.refunded
     *
     * @return array
     */
    public static function snapshot(Order $order, $status = null, $oldStatus = null, array $refund = null)
    {
        $idLang = (int) $order->id_lang ?: (int) Configuration::get('PS_LANG_DEFAULT');
        if (!$status instanceof OrderState || !$status->id) {
            $status = new OrderState((int) $order->current_state, $idLang);
        }
        $customer = new Customer((int) $order->id_customer);
        $currency = new Currency((int) $order->id_currency);
        $precision = isset($currency->precision) && $currency->precision !== null && $currency->precision !== ''
            ? (int) $currency->precision : (int) Configuration::get('PS_PRICE_DISPLAY_PRECISION');

        $payments = [];
        foreach ($order->getOrderPaymentCollection() as $payment) {
            $payments[] = ['transaction_id' => (string) $payment->transaction_id];
        }

        $slips = self::latestRefund($order);
        $snapshot = [
            'order' => [
                'id' => (int) $order->id,
                'reference' => $order->reference,
                'id_cart' => (int) $order->id_cart,
                'module' => $order->module,
                'payment' => $order->payment,
                'total_products_wt' => $order->total_products_wt,
                'total_shipping_tax_incl' => $order->total_shipping_tax_incl,
                'total_discounts_tax_incl' => $order->total_discounts_tax_incl,
                'total_paid_tax_incl' => $order->total_paid_tax_incl,
                'total_paid_tax_excl' => $order->total_paid_tax_excl,
                'date_add' => $order->date_add,
                'date_upd' => $order->date_upd,
                'total_refunded' => $slips === null ? 0 : $slips['total_refunded'],
            ],
            'status' => self::state($status, $idLang),
            'old_status' => $oldStatus instanceof OrderState && $oldStatus->id ? self::state($oldStatus, $idLang) : null,
            'refund_state_id' => (int) Configuration::get('PS_OS_REFUND'),
            'cancel_state_id' => (int) Configuration::get('PS_OS_CANCELED'),
            'products' => array_values((array) $order->getProducts()),
            'payments' => $payments,
            'customer' => [
                'id' => (int) $customer->id,
                'email' => $customer->email,
                'firstname' => $customer->firstname,
                'lastname' => $customer->lastname,
            ],
            'invoice_address' => self::address((int) $order->id_address_invoice),
            'delivery_address' => self::address((int) $order->id_address_delivery),
            'currency' => ['iso_code' => $currency->iso_code, 'precision' => $precision],
            'timezone' => (string) Configuration::get('PS_TIMEZONE'),
        ];
        if ($refund !== null) {
            $snapshot['refund'] = $refund;
        }

        return $snapshot;
    }

    /**
     * The newest credit slip of an order and the sum of all its slips, shipping included
     * (PrestaShop's refunded total is amount + shipping_cost_amount per slip).
     *
     * @return array|null ['id', 'amount', 'shipping', 'total_refunded']
     */
    public static function latestRefund(Order $order)
    {
        $rows = Db::getInstance()->executeS(
            'SELECT `id_order_slip`, `amount`, `shipping_cost_amount` FROM `' . _DB_PREFIX_ . 'order_slip`'
            . ' WHERE `id_order` = ' . (int) $order->id . ' ORDER BY `id_order_slip` ASC'
        );
        if (!$rows) {
            return null;
        }
        $total = 0.0;
        foreach ($rows as $row) {
            $total += (float) $row['amount'] + (float) $row['shipping_cost_amount'];
        }
        $last = end($rows);

        return [
            'id' => (int) $last['id_order_slip'],
            'amount' => (float) $last['amount'] + (float) $last['shipping_cost_amount'],
            'shipping' => (float) $last['shipping_cost_amount'],
            'total_refunded' => $total,
        ];
    }

    private static function state(OrderState $state, $idLang)
    {
        $name = $state->name;
        if (is_array($name)) {
            $name = isset($name[$idLang]) ? $name[$idLang] : (string) reset($name);
        }

        return ['id' => (int) $state->id, 'name' => (string) $name, 'paid' => (bool) $state->paid];
    }

    private static function address($idAddress)
    {
        if ($idAddress <= 0) {
            return null;
        }
        $address = new Address($idAddress);
        if (!Validate::isLoadedObject($address)) {
            return null;
        }

        return [
            'id' => (int) $address->id,
            'firstname' => $address->firstname,
            'lastname' => $address->lastname,
            'company' => $address->company,
            'address1' => $address->address1,
            'address2' => $address->address2,
            'city' => $address->city,
            'postcode' => $address->postcode,
            'phone' => $address->phone,
            'phone_mobile' => $address->phone_mobile,
            'country_iso' => (string) Country::getIsoById((int) $address->id_country),
            'state_name' => $address->id_state ? (string) State::getNameById((int) $address->id_state) : '',
        ];
    }
}
