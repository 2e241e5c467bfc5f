<?php
/**
 * abonne for OpenCart 3.0, shop side: the order history events (the status read "before", the event sent "after"),
 * the cron route that sends queued events again, and abonne's signed reads. The work is in system/library/abonne
 * (AbonneOcBridge), shared with 4.x.
 *
 * 3.0 passes the event arguments as strings (OPENCART.md, section 5), so every argument is cast. Admin status changes
 * reach this through the catalog API (api/order/history), so they fire these events too.
 */
require_once DIR_SYSTEM . 'library/abonne/bridge.php';

class ControllerExtensionModuleAbonne extends Controller
{
    /**
     * Nothing to show in a layout position.
     */
    public function index()
    {
        return '';
    }

    /**
     * Event catalog/model/checkout/order/addOrderHistory/before.
     */
    public function historyBefore(&$route, &$args)
    {
        if (isset($args[0])) {
            // api/order/edit first sets the order's status to 0 without an event: that is no new order.
            $isEdit = isset($this->request->get['route']) && $this->request->get['route'] === 'api/order/edit';
            $this->bridge()->historyBefore((int) $args[0], $isEdit);
        }
    }

    /**
     * Event catalog/model/checkout/order/addOrderHistory/after: $args = [order_id, order_status_id, ...].
     */
    public function historyAfter(&$route, &$args, &$output)
    {
        if (isset($args[0], $args[1])) {
            $this->bridge()->historyAfter((int) $args[0], (int) $args[1]);
        }
    }

    /**
     * GET index.php?route=extension/module/abonne/cron&token=<cron token>: sends the due queued events again.
     */
    public function cron()
    {
        $settings = AbonneOcBridge::settings($this->config);
        $given = isset($_GET['token']) ? (string) $_GET['token'] : '';
        if ($settings['cron_token'] === '' || !hash_equals($settings['cron_token'], $given)) {
            $this->answer(403, ['ok' => false, 'error' => 'token_invalid', 'detail' => 'the token does not match this shop\'s abonne cron token']);

            return;
        }
        @set_time_limit(300);
        $summary = $this->bridge()->resendDue(AbonneOcBridge::CRON_LIMIT, null, true);
        $this->answer(200, ['ok' => $summary['message'] === ''] + $summary);
    }

    /**
     * GET index.php?route=extension/module/abonne/read&call=order&order_id=N (or call=orders, call=find), signed by
     * abonne (README, "Reads from abonne").
     */
    public function read()
    {
        $call = isset($_GET['call']) ? (string) $_GET['call'] : '';
        list($status, $body) = $this->bridge()->read(
            $call,
            $_GET, // raw: OpenCart's request object HTML-escapes values, the signature is over what was sent
            isset($_SERVER['HTTP_X_ABONNE_TIMESTAMP']) ? (string) $_SERVER['HTTP_X_ABONNE_TIMESTAMP'] : '',
            isset($_SERVER['HTTP_X_ABONNE_SIGNATURE']) ? (string) $_SERVER['HTTP_X_ABONNE_SIGNATURE'] : '',
            time()
        );
        $this->answer($status, $body);
    }

    private function bridge()
    {
        return new AbonneOcBridge($this->db, DB_PREFIX, AbonneOcBridge::settings($this->config), function ($message) {
            $this->log->write($message);
        }, VERSION);
    }

    private function answer($status, array $body)
    {
        http_response_code((int) $status);
        $this->response->addHeader('Content-Type: application/json');
        $this->response->addHeader('Cache-Control: no-store');
        $this->response->setOutput(json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE));
    }
}
