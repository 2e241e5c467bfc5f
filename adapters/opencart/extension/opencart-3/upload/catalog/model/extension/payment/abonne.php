<?php
/**
 * abonne for OpenCart 3.0: the payment method abonne's renewal orders are created with. OpenCart 3.0's
 * api/payment/method only accepts a method that api/payment/methods listed, and that list is built from the enabled
 * payment extensions' getMethod(), so abonne needs one of its own.
 *
 * It is offered only to API sessions, never at the storefront checkout: the card was already charged by abonne.
 * api/payment/methods keys the list by the extension code, so abonne selects it with payment_method=abonne, while
 * api/order/add stores this method's 'code' as the order's payment_code: 'abonne.card', the code the extension's
 * events mark as abonne's own renewal (AbonneOcEventBody::RENEWAL_PAYMENT_CODE).
 */
require_once DIR_SYSTEM . 'library/abonne/event_body.php';

class ModelExtensionPaymentAbonne extends Model
{
    public function getMethod($address, $total)
    {
        // api_id is set only in a session opened by api/login (catalog/controller/api/login.php).
        if (!isset($this->session->data['api_id'])) {
            return [];
        }
        $this->load->language('extension/payment/abonne');

        return [
            'code' => AbonneOcEventBody::RENEWAL_PAYMENT_CODE,
            'title' => $this->language->get('text_title'),
            'terms' => '',
            'sort_order' => $this->config->get('payment_abonne_sort_order'),
        ];
    }
}
