<?php
/**
 * abonne for OpenCart 4.0 and 4.1: the payment method abonne's renewal orders are created with. 4.0's
 * api/sale/payment_method.save only accepts "<code>.<option>" from the list api/sale/payment_method built from the
 * enabled payment extensions' getMethods(), so abonne needs a method of its own (4.1 takes the posted code as is).
 *
 * It is offered only to API sessions, never at the storefront checkout: the card was already charged by abonne.
 * The list is keyed by this extension's code, and the option's code, 'abonne.card', is what the order stores and
 * what the extension's events mark as abonne's own renewal (AbonneOcEventBody::RENEWAL_PAYMENT_CODE).
 */
namespace Opencart\Catalog\Model\Extension\Abonne\Payment;

require_once dirname(__DIR__, 3) . '/system/library/abonne/event_body.php';

class Abonne extends \Opencart\System\Engine\Model
{
    public function getMethods(array $address = []): array
    {
        // api_id is set only in a session opened by api/account/login (4.0) or a signed API call (4.1).
        if (!isset($this->session->data['api_id'])) {
            return [];
        }
        $this->load->language('extension/abonne/payment/abonne');
        $name = $this->language->get('text_title');

        return [
            'code' => 'abonne',
            'name' => $name,
            'option' => ['card' => ['code' => \AbonneOcEventBody::RENEWAL_PAYMENT_CODE, 'name' => $name]],
            'sort_order' => (int) $this->config->get('payment_abonne_sort_order'),
        ];
    }
}
