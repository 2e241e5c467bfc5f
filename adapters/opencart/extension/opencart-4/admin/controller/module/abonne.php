<?php
/**
 * abonne for OpenCart 4.0 and 4.1, admin side: the settings page (bridge URL, shop id, signing secret, which order
 * statuses mean paid, refunded and cancelled, a signed test ping), and install/uninstall of the extension's table,
 * settings and events. The event contract is abonne's README, "Events from shop-side modules".
 */
namespace Opencart\Admin\Controller\Extension\Abonne\Module;

require_once dirname(__DIR__, 3) . '/system/library/abonne/bridge.php';

class Abonne extends \Opencart\System\Engine\Controller
{
    const ROUTE = 'extension/abonne/module/abonne';
    const EVENT_CODES = ['abonne_history_before', 'abonne_history_after', 'abonne_api_cart_cleanup'];

    public function index(): void
    {
        $this->load->language(self::ROUTE);
        $this->document->setTitle($this->language->get('heading_title'));
        $token = 'user_token=' . $this->session->data['user_token'];

        $data['breadcrumbs'] = [
            ['text' => $this->language->get('text_home'), 'href' => $this->url->link('common/dashboard', $token)],
            ['text' => $this->language->get('text_extension'), 'href' => $this->url->link('marketplace/extension', $token . '&type=module')],
            ['text' => $this->language->get('heading_title'), 'href' => $this->url->link(self::ROUTE, $token)],
        ];
        $data['save'] = $this->url->link(self::ROUTE . self::separator() . 'save', $token);
        $data['ping'] = $this->url->link(self::ROUTE . self::separator() . 'ping', $token);
        $data['back'] = $this->url->link('marketplace/extension', $token . '&type=module');

        $settings = \AbonneOcBridge::settings($this->config);
        $data['url'] = $settings['url'];
        $data['shop_id'] = $settings['shop_id'] ?: '';
        $data['secret_set'] = $settings['secret'] !== '';
        $data['paid_status'] = $settings['paid_status_ids'];
        $data['refunded_status'] = $settings['refunded_status_ids'];
        $data['cancelled_status'] = $settings['cancelled_status_ids'];

        $this->load->model('localisation/order_status');
        $data['order_statuses'] = $this->model_localisation_order_status->getOrderStatuses();

        $catalog = defined('HTTP_CATALOG') ? HTTP_CATALOG : '';
        $data['cron_url'] = $catalog . 'index.php?route=' . self::ROUTE . self::separator() . 'cron&token=' . rawurlencode($settings['cron_token']);
        $data['read_url'] = $catalog . 'index.php?route=' . self::ROUTE . self::separator() . 'read';
        $data['webhook_url'] = $settings['url'] !== '' && $settings['shop_id'] > 0
            ? \AbonneOcDelivery::endpoint($settings['url'], $settings['shop_id']) : '';
        try {
            $data['queue'] = (new \AbonneOcEventQueue($this->db, DB_PREFIX))->counts(time());
        } catch (\Throwable $e) {
            $data['queue'] = ['queued' => 0, 'due' => 0, 'last_error' => 'the queue table is missing: install the extension again'];
        }

        $data['header'] = $this->load->controller('common/header');
        $data['column_left'] = $this->load->controller('common/column_left');
        $data['footer'] = $this->load->controller('common/footer');

        $this->response->setOutput($this->load->view(self::ROUTE, $data));
    }

    public function save(): void
    {
        $this->load->language(self::ROUTE);
        $json = $this->store();
        if (!$json) {
            $json['success'] = $this->language->get('text_success');
        }
        $this->answer($json);
    }

    /**
     * Saves the form, then sends a signed ping with the saved settings and shows abonne's answer in plain words.
     */
    public function ping(): void
    {
        $this->load->language(self::ROUTE);
        $json = $this->store($saved);
        if (!$json) {
            $bridge = new \AbonneOcBridge($this->db, DB_PREFIX, \AbonneOcBridge::settings($saved), function ($message) {
                $this->log->write($message);
            }, VERSION);
            $result = $bridge->ping();
            $text = htmlspecialchars($result['message'], ENT_QUOTES, 'UTF-8');
            if ($result['delivered']) {
                $json['success'] = $this->language->get('text_ping_ok') . ' ' . $text;
            } else {
                $json['error'] = $this->language->get('text_ping_failed') . ' ' . $text;
            }
        }
        $this->answer($json);
    }

    /**
     * @param array|null $saved the module_abonne_* values saved
     *
     * @return array errors for the form (empty when saved)
     */
    private function store(&$saved = null): array
    {
        $json = [];
        if (!$this->user->hasPermission('modify', self::ROUTE)) {
            return ['error' => $this->language->get('error_permission')];
        }
        $post = $this->request->post;
        $url = trim((string) ($post['module_abonne_url'] ?? ''));
        $shopId = trim((string) ($post['module_abonne_shop_id'] ?? ''));
        // Read raw: OpenCart's request object HTML-escapes every value, and the secret must stay byte for byte.
        $secret = isset($_POST['module_abonne_secret']) ? trim((string) $_POST['module_abonne_secret']) : '';
        $url = html_entity_decode($url, ENT_QUOTES, 'UTF-8');
        $scheme = strtolower((string) parse_url($url, PHP_URL_SCHEME));
        if (!filter_var($url, FILTER_VALIDATE_URL) || !in_array($scheme, ['http', 'https'], true)) {
            $json['error']['url'] = $this->language->get('error_url');
        }
        if (!ctype_digit($shopId) || (int) $shopId <= 0) {
            $json['error']['shop_id'] = $this->language->get('error_shop_id');
        }
        $current = \AbonneOcBridge::settings($this->config);
        if ($secret === '' && $current['secret'] === '') {
            $json['error']['secret'] = $this->language->get('error_secret');
        }
        if ($json) {
            $json['error']['warning'] = $this->language->get('error_warning');

            return $json;
        }
        $saved = [
            'module_abonne_status' => 1,
            'module_abonne_url' => rtrim($url, '/'),
            'module_abonne_shop_id' => (int) $shopId,
            'module_abonne_secret' => $secret !== '' ? $secret : $current['secret'],
            'module_abonne_cron_token' => $current['cron_token'] !== '' ? $current['cron_token'] : bin2hex(random_bytes(16)),
            'module_abonne_paused_until' => 0,
            'module_abonne_paid_status' => self::ids($post['module_abonne_paid_status'] ?? []),
            'module_abonne_refunded_status' => self::ids($post['module_abonne_refunded_status'] ?? []),
            'module_abonne_cancelled_status' => self::ids($post['module_abonne_cancelled_status'] ?? []),
        ];
        $this->load->model('setting/setting');
        $this->model_setting_setting->editSetting(\AbonneOcBridge::SETTING_CODE, $saved);

        return [];
    }

    public function install(): void
    {
        if (!$this->user->hasPermission('modify', 'extension/module')) {
            return;
        }
        (new \AbonneOcEventQueue($this->db, DB_PREFIX))->createTable();

        $this->load->model('setting/setting');
        $current = \AbonneOcBridge::settings($this->config);
        $this->model_setting_setting->editSetting(\AbonneOcBridge::SETTING_CODE, [
            'module_abonne_status' => 1,
            'module_abonne_url' => $current['url'],
            'module_abonne_shop_id' => $current['shop_id'] ?: '',
            'module_abonne_secret' => $current['secret'],
            'module_abonne_cron_token' => bin2hex(random_bytes(16)),
            'module_abonne_paused_until' => 0,
            'module_abonne_paid_status' => \AbonneOcBridge::DEFAULT_PAID,
            'module_abonne_refunded_status' => \AbonneOcBridge::DEFAULT_REFUNDED,
            'module_abonne_cancelled_status' => \AbonneOcBridge::DEFAULT_CANCELLED,
        ]);
        // The payment method 4.0's API needs for renewal orders, offered to API sessions only.
        \Opencart\Admin\Controller\Extension\Abonne\Payment\Abonne::enable($this->registry);

        $this->load->model('setting/event');
        foreach (self::EVENT_CODES as $code) {
            $this->model_setting_event->deleteEventByCode($code);
        }
        foreach (self::events() as $event) {
            $this->addEvent($event);
        }
    }

    public function uninstall(): void
    {
        if (!$this->user->hasPermission('modify', 'extension/module')) {
            return;
        }
        (new \AbonneOcEventQueue($this->db, DB_PREFIX))->dropTable();
        \Opencart\Admin\Controller\Extension\Abonne\Payment\Abonne::remove($this->registry);
        $this->db->query("DELETE FROM `" . DB_PREFIX . "setting` WHERE `code` = '" . $this->db->escape(\AbonneOcBridge::SETTING_CODE) . "'");
        $this->load->model('setting/event');
        foreach (self::EVENT_CODES as $code) {
            $this->model_setting_event->deleteEventByCode($code);
        }
    }

    /**
     * The events for this OpenCart: 4.0 fires model events as model/checkout/order/addHistory, 4.1 as
     * model/checkout/order.addHistory; 4.0.0 and 4.0.1 separate a controller's method with "|", later ones with ".".
     *
     * @return array[] code, description, trigger, action
     */
    public static function events(): array
    {
        $history = version_compare(VERSION, '4.1.0.0', '>=') ? 'catalog/model/checkout/order.addHistory' : 'catalog/model/checkout/order/addHistory';
        $action = self::ROUTE . self::separator();
        $events = [
            ['code' => 'abonne_history_before', 'description' => 'abonne: the order status before a history is added',
             'trigger' => $history . '/before', 'action' => $action . 'historyBefore'],
            ['code' => 'abonne_history_after', 'description' => 'abonne: send order.created or order.status_changed',
             'trigger' => $history . '/after', 'action' => $action . 'historyAfter'],
        ];
        if (version_compare(VERSION, '4.1.0.0', '>=')) {
            // 4.1's stateless API logs the customer in and leaves cart rows that reach her storefront cart.
            $events[] = ['code' => 'abonne_api_cart_cleanup', 'description' => 'abonne: remove the cart rows an API order call leaves',
                         'trigger' => 'catalog/controller/api/order/after', 'action' => $action . 'cleanupApiCart'];
        }

        return $events;
    }

    private function addEvent(array $event): void
    {
        if (version_compare(VERSION, '4.0.1.0', '<')) {
            // 4.0.0.0: addEvent(string $code, string $description, string $trigger, string $action, bool $status, int $sort_order)
            $this->model_setting_event->addEvent($event['code'], $event['description'], $event['trigger'], $event['action'], true, 0);

            return;
        }
        $this->model_setting_event->addEvent($event + ['status' => 1, 'sort_order' => 0]);
    }

    private static function separator(): string
    {
        return version_compare(VERSION, '4.0.2.0', '>=') ? '.' : '|';
    }

    private static function ids($values): array
    {
        return array_values(array_unique(array_filter(array_map('intval', is_array($values) ? $values : []))));
    }

    private function answer(array $json): void
    {
        $this->response->addHeader('Content-Type: application/json');
        $this->response->setOutput(json_encode($json));
    }
}
