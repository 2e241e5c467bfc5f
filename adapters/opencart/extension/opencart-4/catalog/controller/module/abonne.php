<?php
/**
 * abonne for OpenCart 4.0 and 4.1, shop side: the order history events (the status read "before", the event sent
 * "after"), the cron route that sends queued events again, abonne's signed reads, and on 4.1 the removal of the cart
 * rows its stateless API leaves behind. The work is in system/library/abonne (AbonneOcBridge), shared with 3.0.
 *
 * Event arguments differ per version and caller (OPENCART.md, section 5): a confirm passes only [order_id, status],
 * 4.0 and 4.1 pass ints, storefront payment extensions pass the status as a string; so every argument is cast.
 */
namespace Opencart\Catalog\Controller\Extension\Abonne\Module;

require_once dirname(__DIR__, 3) . '/system/library/abonne/bridge.php';

class Abonne extends \Opencart\System\Engine\Controller
{
    /**
     * Event catalog/model/checkout/order.addHistory/before (4.1) or .../order/addHistory/before (4.0).
     * Its arguments have defaults only so that calling the route by URL does nothing.
     */
    public function historyBefore(string &$route = '', array &$args = []): void
    {
        if (isset($args[0])) {
            $this->bridge()->historyBefore((int) $args[0]);
        }
    }

    /**
     * Event .../addHistory/after: $args = [order_id, order_status_id, comment?, notify?, override?].
     */
    public function historyAfter(string &$route = '', array &$args = [], mixed &$output = null): void
    {
        if (isset($args[0], $args[1])) {
            $this->bridge()->historyAfter((int) $args[0], (int) $args[1]);
        }
    }

    /**
     * Event catalog/controller/api/order/after (4.1 only, OPENCART.md trap S2): every signed API call that names a
     * customer logs her in for that request and writes oc_cart rows under a fresh session that nothing deletes; her
     * next storefront login moves them all into her cart. The rows of this request's session are removed here.
     */
    public function cleanupApiCart(string &$route = '', array &$args = [], mixed &$output = null): void
    {
        try {
            if (isset($this->request->get['route']) && $this->request->get['route'] === 'api/order' || $route === 'api/order') {
                $this->cart->clear();
            }
        } catch (\Throwable $e) {
            $this->log->write('abonne: removing the API call\'s cart rows failed: ' . get_class($e) . ': ' . $e->getMessage());
        }
    }

    /**
     * GET index.php?route=extension/abonne/module/abonne.cron&token=<cron token>: sends the due queued events again.
     */
    public function cron(): void
    {
        $settings = \AbonneOcBridge::settings($this->config);
        $given = isset($_GET['token']) ? (string) $_GET['token'] : '';
        if ($settings['cron_token'] === '' || !hash_equals($settings['cron_token'], $given)) {
            $this->answer(403, ['ok' => false, 'error' => 'token_invalid', 'detail' => 'the token does not match this shop\'s abonne cron token']);

            return;
        }
        @set_time_limit(300);
        $summary = $this->bridge()->resendDue(\AbonneOcBridge::CRON_LIMIT, null, true);
        $this->answer(200, ['ok' => $summary['message'] === ''] + $summary);
    }

    /**
     * GET index.php?route=extension/abonne/module/abonne.read&call=order&order_id=N (or call=orders, call=find),
     * signed by abonne (README, "Reads from abonne").
     */
    public function read(): void
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

    private function bridge(): \AbonneOcBridge
    {
        return new \AbonneOcBridge($this->db, DB_PREFIX, \AbonneOcBridge::settings($this->config), function ($message) {
            $this->log->write($message);
        }, VERSION);
    }

    private function answer(int $status, array $body): void
    {
        http_response_code($status);
        $this->response->addHeader('Content-Type: application/json');
        $this->response->addHeader('Cache-Control: no-store');
        $this->response->setOutput(json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE));
    }
}
