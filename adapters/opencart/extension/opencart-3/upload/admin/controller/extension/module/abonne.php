<?php
/**
 * abonne for OpenCart 3.0, admin side: the settings page (bridge URL, shop id, signing secret, which order statuses
 * mean paid, refunded and cancelled, a signed test ping), and install/uninstall of the extension's table, settings
 * and events, and of the payment method abonne's renewal orders are created with (extension/payment/abonne). The event
 * contract is abonne's README, "Events from shop-side modules".
 */
require_once DIR_SYSTEM . 'library/abonne/bridge.php';
require_once DIR_APPLICATION . 'controller/extension/payment/abonne.php';

class ControllerExtensionModuleAbonne extends Controller
{
    const ROUTE = 'extension/module/abonne';
    const EVENT_CODES = ['abonne_history_before', 'abonne_history_after'];

    private $errors = [];

    public function index()
    {
        $this->load->language(self::ROUTE);
        $this->document->setTitle($this->language->get('heading_title'));
        $token = 'user_token=' . $this->session->data['user_token'];

        $data = ['success' => '', 'error_warning' => '', 'error_url' => '', 'error_shop_id' => '', 'error_secret' => ''];
        $form = null;
        if ($this->request->server['REQUEST_METHOD'] === 'POST') {
            $form = $this->request->post;
            $saved = $this->store();
            if ($saved === null) {
                $data['error_warning'] = isset($this->errors['warning']) ? $this->errors['warning'] : $this->language->get('error_warning');
                foreach (['url', 'shop_id', 'secret'] as $field) {
                    $data['error_' . $field] = isset($this->errors[$field]) ? $this->errors[$field] : '';
                }
            } elseif (isset($this->request->post['ping'])) {
                $bridge = new AbonneOcBridge($this->db, DB_PREFIX, AbonneOcBridge::settings($saved), function ($message) {
                    $this->log->write($message);
                }, VERSION);
                $result = $bridge->ping();
                if ($result['delivered']) {
                    $data['success'] = $this->language->get('text_ping_ok') . ' ' . $result['message'];
                } else {
                    $data['error_warning'] = $this->language->get('text_ping_failed') . ' ' . $result['message'];
                }
                $form = null;
            } else {
                $data['success'] = $this->language->get('text_success');
                $form = null;
            }
        }

        $data['breadcrumbs'] = [
            ['text' => $this->language->get('text_home'), 'href' => $this->url->link('common/dashboard', $token, true)],
            ['text' => $this->language->get('text_extension'), 'href' => $this->url->link('marketplace/extension', $token . '&type=module', true)],
            ['text' => $this->language->get('heading_title'), 'href' => $this->url->link(self::ROUTE, $token, true)],
        ];
        $data['action'] = $this->url->link(self::ROUTE, $token, true);
        $data['cancel'] = $this->url->link('marketplace/extension', $token . '&type=module', true);

        $settings = AbonneOcBridge::settings($this->config);
        if ($form !== null) {
            // Show what was typed again, with the errors.
            $typed = AbonneOcBridge::settings($form);
            foreach (['url', 'shop_id', 'paid_status_ids', 'refunded_status_ids', 'cancelled_status_ids'] as $name) {
                $settings[$name] = $typed[$name];
            }
        }
        $data['url'] = $settings['url'];
        $data['shop_id'] = $settings['shop_id'] ?: '';
        $data['secret_set'] = $settings['secret'] !== '';
        $data['paid_status'] = $settings['paid_status_ids'];
        $data['refunded_status'] = $settings['refunded_status_ids'];
        $data['cancelled_status'] = $settings['cancelled_status_ids'];

        $this->load->model('localisation/order_status');
        $data['order_statuses'] = $this->model_localisation_order_status->getOrderStatuses();

        $catalog = defined('HTTP_CATALOG') ? HTTP_CATALOG : '';
        $data['cron_url'] = $catalog . 'index.php?route=' . self::ROUTE . '/cron&token=' . rawurlencode($settings['cron_token']);
        $data['read_url'] = $catalog . 'index.php?route=' . self::ROUTE . '/read';
        $data['webhook_url'] = $settings['url'] !== '' && $settings['shop_id'] > 0
            ? AbonneOcDelivery::endpoint($settings['url'], $settings['shop_id']) : '';
        try {
            $data['queue'] = (new AbonneOcEventQueue($this->db, DB_PREFIX))->counts(time());
        } catch (Throwable $e) {
            $data['queue'] = ['queued' => 0, 'due' => 0, 'last_error' => 'the queue table is missing: install the extension again'];
        }

        $data['header'] = $this->load->controller('common/header');
        $data['column_left'] = $this->load->controller('common/column_left');
        $data['footer'] = $this->load->controller('common/footer');

        $this->response->setOutput($this->load->view(self::ROUTE, $data));
    }

    /**
     * @return array|null the module_abonne_* values saved, or null with $this->errors set
     */
    private function store()
    {
        if (!$this->user->hasPermission('modify', self::ROUTE)) {
            $this->errors['warning'] = $this->language->get('error_permission');

            return null;
        }
        $post = $this->request->post;
        $url = html_entity_decode(trim((string) (isset($post['module_abonne_url']) ? $post['module_abonne_url'] : '')), ENT_QUOTES, 'UTF-8');
        $shopId = trim((string) (isset($post['module_abonne_shop_id']) ? $post['module_abonne_shop_id'] : ''));
        // Read raw: OpenCart's request object HTML-escapes every value, and the secret must stay byte for byte.
        $secret = isset($_POST['module_abonne_secret']) ? trim((string) $_POST['module_abonne_secret']) : '';
        $scheme = strtolower((string) parse_url($url, PHP_URL_SCHEME));
        if (!filter_var($url, FILTER_VALIDATE_URL) || !in_array($scheme, ['http', 'https'], true)) {
            $this->errors['url'] = $this->language->get('error_url');
        }
        if (!ctype_digit($shopId) || (int) $shopId <= 0) {
            $this->errors['shop_id'] = $this->language->get('error_shop_id');
        }
        $current = AbonneOcBridge::settings($this->config);
        if ($secret === '' && $current['secret'] === '') {
            $this->errors['secret'] = $this->language->get('error_secret');
        }
        if ($this->errors) {
            return null;
        }
        $saved = [
            'module_abonne_status' => 1,
            'module_abonne_url' => rtrim($url, '/'),
            'module_abonne_shop_id' => (int) $shopId,
            'module_abonne_secret' => $secret !== '' ? $secret : $current['secret'],
            'module_abonne_cron_token' => $current['cron_token'] !== '' ? $current['cron_token'] : bin2hex(random_bytes(16)),
            'module_abonne_paused_until' => 0,
            'module_abonne_paid_status' => self::ids(isset($post['module_abonne_paid_status']) ? $post['module_abonne_paid_status'] : []),
            'module_abonne_refunded_status' => self::ids(isset($post['module_abonne_refunded_status']) ? $post['module_abonne_refunded_status'] : []),
            'module_abonne_cancelled_status' => self::ids(isset($post['module_abonne_cancelled_status']) ? $post['module_abonne_cancelled_status'] : []),
        ];
        $this->load->model('setting/setting');
        $this->model_setting_setting->editSetting(AbonneOcBridge::SETTING_CODE, $saved);
        // editSetting leaves this request's config as it was; the page shows the saved values.
        foreach ($saved as $key => $value) {
            $this->config->set($key, $value);
        }

        return $saved;
    }

    public function install()
    {
        if (!$this->user->hasPermission('modify', 'extension/extension/module')) {
            return;
        }
        (new AbonneOcEventQueue($this->db, DB_PREFIX))->createTable();

        $this->load->model('setting/setting');
        $current = AbonneOcBridge::settings($this->config);
        $this->model_setting_setting->editSetting(AbonneOcBridge::SETTING_CODE, [
            'module_abonne_status' => 1,
            'module_abonne_url' => $current['url'],
            'module_abonne_shop_id' => $current['shop_id'] ?: '',
            'module_abonne_secret' => $current['secret'],
            'module_abonne_cron_token' => bin2hex(random_bytes(16)),
            'module_abonne_paused_until' => 0,
            'module_abonne_paid_status' => AbonneOcBridge::DEFAULT_PAID,
            'module_abonne_refunded_status' => AbonneOcBridge::DEFAULT_REFUNDED,
            'module_abonne_cancelled_status' => AbonneOcBridge::DEFAULT_CANCELLED,
        ]);

        $this->load->model('setting/event');
        foreach (self::EVENT_CODES as $code) {
            $this->model_setting_event->deleteEventByCode($code);
        }
        foreach (self::events() as $event) {
            $this->model_setting_event->addEvent($event['code'], $event['trigger'], $event['action'], 1, 0);
        }
        // 3.0's api/payment/method accepts only a method of an installed, enabled payment extension.
        ControllerExtensionPaymentAbonne::enable($this->registry);
    }

    public function uninstall()
    {
        if (!$this->user->hasPermission('modify', 'extension/extension/module')) {
            return;
        }
        (new AbonneOcEventQueue($this->db, DB_PREFIX))->dropTable();
        $this->db->query("DELETE FROM `" . DB_PREFIX . "setting` WHERE `code` = '" . $this->db->escape(AbonneOcBridge::SETTING_CODE) . "'");
        $this->load->model('setting/event');
        foreach (self::EVENT_CODES as $code) {
            $this->model_setting_event->deleteEventByCode($code);
        }
        ControllerExtensionPaymentAbonne::remove($this->registry);
    }

    /**
     * 3.0 fires model events as model/checkout/order/addOrderHistory and separates a controller's method with "/".
     *
     * @return array[] code, trigger, action
     */
    public static function events()
    {
        return [
            ['code' => 'abonne_history_before', 'trigger' => 'catalog/model/checkout/order/addOrderHistory/before',
             'action' => self::ROUTE . '/historyBefore'],
            ['code' => 'abonne_history_after', 'trigger' => 'catalog/model/checkout/order/addOrderHistory/after',
             'action' => self::ROUTE . '/historyAfter'],
        ];
    }

    private static function ids($values)
    {
        return array_values(array_unique(array_filter(array_map('intval', is_array($values) ? $values : []))));
    }
}
