<?php
/**
 * abonne's signed read of a cart's total: GET index.php?fc=module&module=abonne&controller=cart&id_cart=N with
 * X-Abonne-Timestamp and X-Abonne-Signature: v1=<hex HMAC-SHA256(secret, timestamp + ".cart:id_cart=" + N)>
 * (abonne's README, "Reads from abonne": the call, then the other parameters sorted and form-encoded).
 *
 * The Webservice has no cart totals, and an order whose total_paid differs from the cart's total lands in
 * "Payment error" with the payment booked anyway; so abonne asks here, before it creates a renewal order, what
 * validateOrder() will compute for the cart it built (tax, shipping, its pinned prices), and stops on a mismatch.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}
require_once dirname(__DIR__, 2) . '/classes/AbonneMachineController.php';

class AbonneCartModuleFrontController extends AbonneMachineController
{
    /** Seconds a signed request stays valid, as for events. */
    const WINDOW = 300;

    public function postProcess()
    {
        $idCart = (int) Tools::getValue('id_cart');
        $stamp = isset($_SERVER['HTTP_X_ABONNE_TIMESTAMP']) ? (string) $_SERVER['HTTP_X_ABONNE_TIMESTAMP'] : '';
        $given = isset($_SERVER['HTTP_X_ABONNE_SIGNATURE']) ? (string) $_SERVER['HTTP_X_ABONNE_SIGNATURE'] : '';
        $secret = (string) Configuration::get(Abonne::CONFIG_SECRET);
        if ($secret === '' || $stamp === '' || !ctype_digit($stamp)) {
            $this->answer(401, ['ok' => false, 'error' => 'signature_missing', 'detail' => 'a signed request is needed']);
        }
        $expected = 'v1=' . hash_hmac('sha256', $stamp . '.cart:' . http_build_query(['id_cart' => $idCart]), $secret);
        if (!hash_equals($expected, $given)) {
            $this->answer(401, ['ok' => false, 'error' => 'signature_mismatch', 'detail' => 'the signature does not match this shop\'s abonne secret']);
        }
        if (abs(time() - (int) $stamp) > self::WINDOW) {
            $this->answer(401, ['ok' => false, 'error' => 'timestamp_out_of_window', 'detail' => 'the request is more than 5 minutes away from the shop\'s clock']);
        }
        $cart = new Cart($idCart);
        if (!Validate::isLoadedObject($cart)) {
            $this->answer(404, ['ok' => false, 'error' => 'cart_unknown', 'detail' => 'no cart ' . $idCart]);
        }
        $context = Context::getContext();
        $context->cart = $cart;
        $context->customer = new Customer((int) $cart->id_customer);
        $context->currency = new Currency((int) $cart->id_currency);
        $precision = (int) $context->getComputingPrecision();
        $this->answer(200, [
            'ok' => true,
            'id_cart' => (string) $idCart,
            'currency' => $context->currency->iso_code,
            'products' => $this->money($cart->getOrderTotal(true, Cart::ONLY_PRODUCTS), $precision),
            'shipping' => $this->money($cart->getOrderTotal(true, Cart::ONLY_SHIPPING), $precision),
            'total' => $this->money($cart->getOrderTotal(true, Cart::BOTH), $precision),
        ]);
    }

    private function money($amount, $precision)
    {
        return number_format(Tools::ps_round((float) $amount, $precision), $precision, '.', '');
    }
}
