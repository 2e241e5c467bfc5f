<?php
/**
 * abonne for PrestaShop: tells abonne (the recurring-payments bridge) about orders, status changes, credit slips and
 * deletions with signed events, and is the payment module that abonne's renewal orders name ("Card on file, myPOS").
 * It offers nothing at checkout. The event contract is abonne's README, "Events from shop-side modules".
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

require_once __DIR__ . '/classes/AbonneEventSigner.php';
require_once __DIR__ . '/classes/AbonneBackoff.php';
require_once __DIR__ . '/classes/AbonneEventBody.php';
require_once __DIR__ . '/classes/AbonneDelivery.php';
require_once __DIR__ . '/classes/AbonneOrderReader.php';
require_once __DIR__ . '/classes/AbonneEventQueue.php';
require_once __DIR__ . '/classes/AbonneMachineController.php';

class Abonne extends PaymentModule
{
    const CONFIG_BRIDGE_URL = 'ABONNE_BRIDGE_URL';
    const CONFIG_SHOP_ID = 'ABONNE_SHOP_ID';
    const CONFIG_SECRET = 'ABONNE_SECRET';
    const CONFIG_CRON_TOKEN = 'ABONNE_CRON_TOKEN';
    /** Until when new events skip the direct send because abonne did not answer at all (Unix seconds). */
    const CONFIG_PAUSED_UNTIL = 'ABONNE_PAUSED_UNTIL';

    /** Checkout must never wait long for abonne. */
    const HOOK_CONNECT_TIMEOUT = 2;
    const HOOK_TIMEOUT = 3;
    /** Queued events a later hook may resend on its way out. */
    const HOOK_RESEND_LIMIT = 3;
    /** After abonne did not answer, new events go straight to the queue for this long. */
    const PAUSE_SECONDS = 60;

    public function __construct()
    {
        $this->name = 'abonne';
        $this->tab = 'payments_gateways';
        $this->version = '1.0.0';
        $this->author = 'abonne';
        $this->need_instance = 0;
        $this->ps_versions_compliancy = ['min' => '1.7.8.0', 'max' => _PS_VERSION_];
        $this->bootstrap = true;
        $this->controllers = ['cron'];
        $this->currencies = true;
        $this->currencies_mode = 'checkbox';

        parent::__construct();

        $this->displayName = $this->trans('Card on file, myPOS (abonne)', [], 'Modules.Abonne.Admin');
        $this->description = $this->trans(
            'Sends orders, status changes and refunds to abonne, and records the subscription renewals abonne charges on the stored card. Offers nothing at checkout.',
            [],
            'Modules.Abonne.Admin'
        );
        $this->confirmUninstall = $this->trans(
            'Events not yet delivered to abonne will be lost. Uninstall?',
            [],
            'Modules.Abonne.Admin'
        );
    }

    public function isUsingNewTranslationSystem()
    {
        return true;
    }

    public function install()
    {
        return parent::install()
            && $this->registerHook($this->hookNames())
            && AbonneEventQueue::createTable()
            && Configuration::updateValue(self::CONFIG_BRIDGE_URL, '')
            && Configuration::updateValue(self::CONFIG_SHOP_ID, '')
            && Configuration::updateValue(self::CONFIG_SECRET, '')
            && Configuration::updateValue(self::CONFIG_CRON_TOKEN, bin2hex(random_bytes(16)))
            && Configuration::updateValue(self::CONFIG_PAUSED_UNTIL, 0);
    }

    public function uninstall()
    {
        $removed = true;
        foreach ([self::CONFIG_BRIDGE_URL, self::CONFIG_SHOP_ID, self::CONFIG_SECRET, self::CONFIG_CRON_TOKEN, self::CONFIG_PAUSED_UNTIL] as $key) {
            $removed = Configuration::deleteByName($key) && $removed;
        }

        return AbonneEventQueue::dropTable() && $removed && parent::uninstall();
    }

    /**
     * actionValidateOrderAfter (PrestaShop 8+) is the one creation hook where state, lines and history are final;
     * PrestaShop 1.7.8 lacks it, so there the event is sent from actionValidateOrder.
     */
    private function hookNames()
    {
        $hooks = ['actionValidateOrderAfter', 'actionOrderStatusPostUpdate', 'actionOrderSlipAdd', 'actionObjectOrderDeleteAfter', 'actionObjectCustomerMessageAddAfter'];
        if (version_compare(_PS_VERSION_, '8.0.0', '<')) {
            $hooks[] = 'actionValidateOrder';
        }

        return $hooks;
    }

    /**
     * Nothing at checkout: abonne creates its renewal orders through the Webservice with module=abonne.
     */
    public function hookPaymentOptions($params)
    {
        return [];
    }

    public function hookActionValidateOrderAfter($params)
    {
        $this->guarded('actionValidateOrderAfter', function () use ($params) {
            $orders = isset($params['orders']) && is_array($params['orders']) && $params['orders']
                ? $params['orders'] : [isset($params['order']) ? $params['order'] : null];
            foreach ($orders as $order) {
                if ($order instanceof Order && Validate::isLoadedObject($order)) {
                    $this->sendOrderEvent('order.created', $order);
                }
            }
        });
    }

    /**
     * PrestaShop 1.7.8 only (registered there): the order's lines are written, its state is in orderStatus.
     */
    public function hookActionValidateOrder($params)
    {
        if (version_compare(_PS_VERSION_, '8.0.0', '>=')) {
            return;
        }
        $this->guarded('actionValidateOrder', function () use ($params) {
            $order = isset($params['order']) ? $params['order'] : null;
            $status = isset($params['orderStatus']) ? $params['orderStatus'] : null;
            if ($order instanceof Order && Validate::isLoadedObject($order)) {
                $this->sendOrderEvent('order.created', $order, $status);
            }
        });
    }

    /**
     * For a new order this fires before actionValidateOrderAfter, with an empty OrderState (id null) as the old
     * state and possibly incomplete lines: that case is skipped, the order.created event carries the state.
     */
    public function hookActionOrderStatusPostUpdate($params)
    {
        $this->guarded('actionOrderStatusPostUpdate', function () use ($params) {
            $old = isset($params['oldOrderStatus']) ? $params['oldOrderStatus'] : null;
            $new = isset($params['newOrderStatus']) ? $params['newOrderStatus'] : null;
            if (!$old instanceof OrderState || !(int) $old->id || empty($params['id_order'])) {
                return;
            }
            $order = new Order((int) $params['id_order']);
            if (Validate::isLoadedObject($order)) {
                $this->sendOrderEvent('order.status_changed', $order, $new, $old);
            }
        });
    }

    /**
     * Every credit slip (partial refund, standard refund, return): none changes the order's state, so without
     * this abonne would never learn about them. The slip's shipping is only in the order_slip row.
     */
    public function hookActionOrderSlipAdd($params)
    {
        $this->guarded('actionOrderSlipAdd', function () use ($params) {
            $order = isset($params['order']) ? $params['order'] : null;
            if (!$order instanceof Order || !Validate::isLoadedObject($order)) {
                return;
            }
            $refund = AbonneOrderReader::latestRefund($order);
            if ($refund !== null) {
                $this->sendOrderEvent('order.refunded', $order, null, null, $refund);
            }
        });
    }

    /**
     * Only the Webservice or code can delete an order; the row is gone already, its lines and addresses are not.
     */
    public function hookActionObjectOrderDeleteAfter($params)
    {
        $this->guarded('actionObjectOrderDeleteAfter', function () use ($params) {
            $order = isset($params['object']) ? $params['object'] : null;
            if (!$order instanceof Order || !$order->id) {
                return;
            }
            try {
                $body = AbonneEventBody::order(AbonneOrderReader::snapshot($order));
            } catch (Throwable $e) {
                $body = ['id' => (string) (int) $order->id, 'reference' => (string) $order->reference, 'cart_id' => (string) (int) $order->id_cart];
            }
            $this->sendEvent('order.deleted', $body);
        });
    }

    /**
     * abonne posts the pay link and the card-update link as a customer message on the order (through the
     * Webservice, so no employee is involved); the shop shows it in the customer's account, and this mails it to
     * the customer the way the back office mails an employee's answer (template reply_msg).
     */
    public function hookActionObjectCustomerMessageAddAfter($params)
    {
        $this->guarded('actionObjectCustomerMessageAddAfter', function () use ($params) {
            $message = isset($params['object']) ? $params['object'] : null;
            if (!$message instanceof CustomerMessage || $message->private || (int) $message->id_employee
                || Context::getContext()->controller !== null) {
                return; // only the Webservice's public messages: the back office mails its own
            }
            $thread = new CustomerThread((int) $message->id_customer_thread);
            $customer = new Customer((int) $thread->id_customer);
            if (!Validate::isLoadedObject($thread) || !$thread->id_order || !Validate::isEmail($customer->email)) {
                return;
            }
            $context = Context::getContext();
            if ($context->link === null) {
                $context->link = new Link();
            }
            $order = new Order((int) $thread->id_order);
            Mail::Send(
                (int) $thread->id_lang,
                'reply_msg',
                $this->trans('About your order %reference%', ['%reference%' => $order->reference], 'Modules.Abonne.Shop'),
                [
                    '{reply}' => Tools::nl2br(Tools::htmlentitiesUTF8($message->message)),
                    '{link}' => $context->link->getPageLink('order-detail', true, (int) $thread->id_lang, 'id_order=' . (int) $order->id),
                    '{firstname}' => $customer->firstname,
                    '{lastname}' => $customer->lastname,
                ],
                $customer->email,
                $customer->firstname . ' ' . $customer->lastname,
                null,
                null,
                null,
                null,
                _PS_MAIL_DIR_,
                false,
                (int) $thread->id_shop
            );
        });
    }

    private function sendOrderEvent($event, Order $order, $status = null, $oldStatus = null, array $refund = null)
    {
        $this->sendEvent($event, AbonneEventBody::order(AbonneOrderReader::snapshot($order, $status, $oldStatus, $refund)));
    }

    /**
     * Sends an event now, or keeps it in the queue. Never throws.
     *
     * @param string $event
     * @param array|null $order the contract's "order" object
     */
    public function sendEvent($event, array $order = null)
    {
        try {
            $raw = AbonneEventSigner::encode(AbonneEventBody::envelope($event, _PS_VERSION_, $this->version, $order));
        } catch (Throwable $e) {
            $this->log('the ' . $event . ' event could not be built: ' . $e->getMessage(), 3);

            return;
        }
        $eventId = AbonneEventSigner::newEventId();
        $now = time();
        $delivery = $this->delivery(self::HOOK_CONNECT_TIMEOUT, self::HOOK_TIMEOUT);
        if ($delivery === null) {
            $this->queue($eventId, $event, $raw, 1, $now, 'the module is not configured (bridge URL, shop id, signing secret)');

            return;
        }
        $pausedUntil = (int) Configuration::get(self::CONFIG_PAUSED_UNTIL);
        if ($pausedUntil > $now) {
            // abonne did not answer a moment ago: do not make this checkout wait for the same timeout again.
            AbonneEventQueue::add($eventId, $event, $raw, 0, $pausedUntil, 'abonne was unreachable a moment ago', $now);

            return;
        }
        $result = $delivery->send($raw, $eventId, $now);
        if ($result['delivered']) {
            $this->resendDue(self::HOOK_RESEND_LIMIT, $delivery, true);

            return;
        }
        if ($result['status'] === 0) {
            Configuration::updateValue(self::CONFIG_PAUSED_UNTIL, $now + self::PAUSE_SECONDS);
        }
        $this->queue($eventId, $event, $raw, 1, $now, $result['message']);
    }

    private function queue($eventId, $event, $raw, $attempts, $now, $error)
    {
        $next = AbonneBackoff::nextAttemptAt($attempts, $now, $now);
        AbonneEventQueue::add($eventId, $event, $raw, $attempts, $next, $error, $now);
        $this->log('the ' . $event . ' event (' . $eventId . ') is queued and will be sent again: ' . $error, 2);
    }

    /**
     * Sends due queued events: from a later hook (a few), the cron URL or the console command (all).
     *
     * @param int $limit at most this many events
     * @param AbonneDelivery|null $delivery null: the configured endpoint with the given timeouts
     * @param bool $stopWhenUnreachable stop at the first event abonne does not answer at all
     *
     * @return array ['sent', 'failed', 'given_up', 'queued', 'due', 'message']
     */
    public function resendDue($limit, AbonneDelivery $delivery = null, $stopWhenUnreachable = true, $connectTimeout = 5, $timeout = 10)
    {
        $summary = ['sent' => 0, 'failed' => 0, 'given_up' => 0];
        try {
            $delivery = $delivery ?: $this->delivery($connectTimeout, $timeout);
            $remaining = (int) $limit;
            while ($delivery !== null && $remaining > 0) {
                $now = time();
                $rows = AbonneEventQueue::claimDue(min(20, $remaining), $now);
                if (!$rows) {
                    break;
                }
                $remaining -= count($rows);
                $unreachable = false;
                foreach ($rows as $row) {
                    if ($unreachable) {
                        AbonneEventQueue::reschedule($row['id'], $row['attempts'], $now, $row['last_error']);
                        continue;
                    }
                    $result = $delivery->send($row['body'], $row['event_id']);
                    if ($result['delivered']) {
                        AbonneEventQueue::delete($row['id']);
                        ++$summary['sent'];
                        continue;
                    }
                    $attempts = (int) $row['attempts'] + 1;
                    $next = AbonneBackoff::nextAttemptAt($attempts, (int) $row['created_at'], time());
                    if ($next === null) {
                        AbonneEventQueue::delete($row['id']);
                        ++$summary['given_up'];
                        $this->log('gave up the ' . $row['event'] . ' event (' . $row['event_id'] . ') after ' . $attempts
                            . ' attempts over 3 days: ' . $result['message'], 3);
                    } else {
                        AbonneEventQueue::reschedule($row['id'], $attempts, $next, $result['message']);
                        ++$summary['failed'];
                    }
                    $unreachable = $stopWhenUnreachable && $result['status'] === 0;
                }
                if ($unreachable) {
                    break;
                }
            }
            $summary['message'] = $delivery === null ? 'the module is not configured (bridge URL, shop id, signing secret)' : '';
        } catch (Throwable $e) {
            $this->log('resending queued events failed: ' . $e->getMessage(), 3);
            $summary['message'] = 'resending failed, see the shop logs';
        }

        return $summary + AbonneEventQueue::counts(time());
    }

    /**
     * Sends a signed ping synchronously.
     *
     * @return array ['delivered' => bool, 'status' => int, 'message' => string]
     */
    public function ping()
    {
        $delivery = $this->delivery(self::HOOK_CONNECT_TIMEOUT, 10);
        if ($delivery === null) {
            return ['delivered' => false, 'status' => 0, 'message' => $this->trans('Set the bridge URL, the shop id and the signing secret first.', [], 'Modules.Abonne.Admin')];
        }
        $raw = AbonneEventSigner::encode(AbonneEventBody::envelope('ping', _PS_VERSION_, $this->version));
        $result = $delivery->send($raw, AbonneEventSigner::newEventId());
        if ($result['delivered']) {
            Configuration::updateValue(self::CONFIG_PAUSED_UNTIL, 0);
        }

        return $result;
    }

    /**
     * @return AbonneDelivery|null null until the bridge URL, shop id and secret are set
     */
    private function delivery($connectTimeout, $timeout)
    {
        $url = (string) Configuration::get(self::CONFIG_BRIDGE_URL);
        $shopId = (int) Configuration::get(self::CONFIG_SHOP_ID);
        $secret = (string) Configuration::get(self::CONFIG_SECRET);
        if ($url === '' || $shopId <= 0 || $secret === '') {
            return null;
        }

        return new AbonneDelivery(AbonneDelivery::endpoint($url, $shopId), $secret, $connectTimeout, $timeout);
    }

    public function cronUrl()
    {
        return $this->context->link->getModuleLink($this->name, 'cron', ['token' => Configuration::get(self::CONFIG_CRON_TOKEN)], true);
    }

    /**
     * A hook must never break or slow the shop beyond the short timeout: everything is caught and logged.
     */
    private function guarded($hook, callable $work)
    {
        try {
            $work();
        } catch (Throwable $e) {
            $this->log($hook . ' failed: ' . get_class($e) . ': ' . $e->getMessage(), 3);
        }
    }

    /**
     * Log lines never contain the secret: messages come from AbonneDelivery, which never includes it.
     */
    private function log($message, $severity)
    {
        try {
            PrestaShopLogger::addLog('abonne: ' . $message, (int) $severity, null, 'Module', (int) $this->id, true);
        } catch (Throwable $e) {
            // Logging must not break a checkout either.
        }
    }

    public function getContent()
    {
        $output = '';
        if (Tools::isSubmit('submitAbonneSettings') || Tools::isSubmit('submitAbonnePing')) {
            $errors = $this->saveSettings();
            if ($errors) {
                $output .= $this->displayError(implode('<br>', $errors));
            } elseif (Tools::isSubmit('submitAbonnePing')) {
                // trans() escapes its result on PrestaShop 8 only, so abonne's words are escaped here, outside it.
                $result = $this->ping();
                $text = htmlspecialchars($result['message'], ENT_NOQUOTES);
                $output .= $result['delivered']
                    ? $this->displayConfirmation($this->trans('abonne answered:', [], 'Modules.Abonne.Admin') . ' ' . $text)
                    : $this->displayError($this->trans('The test ping failed:', [], 'Modules.Abonne.Admin') . ' ' . $text);
            } else {
                $output .= $this->displayConfirmation($this->trans('Settings saved.', [], 'Modules.Abonne.Admin'));
            }
        }

        return $output . $this->renderForm() . $this->renderStatus();
    }

    /**
     * @return string[] what is wrong with the submitted values; nothing is saved unless all are valid
     */
    private function saveSettings()
    {
        $url = trim((string) Tools::getValue(self::CONFIG_BRIDGE_URL));
        $shopId = trim((string) Tools::getValue(self::CONFIG_SHOP_ID));
        $secret = (string) Tools::getValue(self::CONFIG_SECRET);
        $errors = [];
        $scheme = strtolower((string) parse_url($url, PHP_URL_SCHEME));
        if (!filter_var($url, FILTER_VALIDATE_URL) || !in_array($scheme, ['http', 'https'], true)) {
            $errors[] = $this->trans('The bridge URL must be an http:// or https:// address, such as https://abonne.example.com.', [], 'Modules.Abonne.Admin');
        }
        if (!ctype_digit($shopId) || (int) $shopId <= 0) {
            $errors[] = $this->trans('The shop id must be a positive whole number: the id abonne gave this shop.', [], 'Modules.Abonne.Admin');
        }
        if ($secret === '' && (string) Configuration::get(self::CONFIG_SECRET) === '') {
            $errors[] = $this->trans('Enter the signing secret abonne shows for this shop.', [], 'Modules.Abonne.Admin');
        }
        if ($errors) {
            return $errors;
        }
        Configuration::updateValue(self::CONFIG_BRIDGE_URL, rtrim($url, '/'));
        Configuration::updateValue(self::CONFIG_SHOP_ID, (int) $shopId);
        if ($secret !== '') {
            Configuration::updateValue(self::CONFIG_SECRET, $secret);
        }
        Configuration::updateValue(self::CONFIG_PAUSED_UNTIL, 0);

        return [];
    }

    private function renderForm()
    {
        $form = [
            'form' => [
                'legend' => ['title' => $this->trans('Connection to abonne', [], 'Modules.Abonne.Admin'), 'icon' => 'icon-cogs'],
                'input' => [
                    [
                        'type' => 'text',
                        'label' => $this->trans('Bridge URL', [], 'Modules.Abonne.Admin'),
                        'name' => self::CONFIG_BRIDGE_URL,
                        'required' => true,
                        'desc' => $this->trans('abonne\'s public address (ABONNE_PUBLIC_URL); events go to /webhooks/prestashop/<shop id> there.', [], 'Modules.Abonne.Admin'),
                    ],
                    [
                        'type' => 'text',
                        'label' => $this->trans('Shop id', [], 'Modules.Abonne.Admin'),
                        'name' => self::CONFIG_SHOP_ID,
                        'required' => true,
                        'class' => 'fixed-width-sm',
                    ],
                    [
                        'type' => 'password',
                        'label' => $this->trans('Signing secret', [], 'Modules.Abonne.Admin'),
                        'name' => self::CONFIG_SECRET,
                        'desc' => Configuration::get(self::CONFIG_SECRET)
                            ? $this->trans('A secret is set. Leave empty to keep it.', [], 'Modules.Abonne.Admin')
                            : $this->trans('Not set yet.', [], 'Modules.Abonne.Admin'),
                    ],
                ],
                'submit' => ['title' => $this->trans('Save', [], 'Admin.Actions'), 'name' => 'submitAbonneSettings'],
                'buttons' => [[
                    'type' => 'submit',
                    'name' => 'submitAbonnePing',
                    'title' => $this->trans('Save and send a test ping', [], 'Modules.Abonne.Admin'),
                    'icon' => 'process-icon-refresh',
                    'class' => 'pull-right',
                ]],
            ],
        ];

        $helper = new HelperForm();
        $helper->module = $this;
        $helper->name_controller = $this->name;
        $helper->table = $this->table;
        $helper->identifier = $this->identifier;
        $helper->token = Tools::getAdminTokenLite('AdminModules');
        $helper->currentIndex = AdminController::$currentIndex . '&configure=' . $this->name;
        $helper->default_form_language = (int) Configuration::get('PS_LANG_DEFAULT');
        $helper->submit_action = 'submitAbonneSettings';
        $helper->fields_value = [
            self::CONFIG_BRIDGE_URL => Tools::getValue(self::CONFIG_BRIDGE_URL, Configuration::get(self::CONFIG_BRIDGE_URL)),
            self::CONFIG_SHOP_ID => Tools::getValue(self::CONFIG_SHOP_ID, Configuration::get(self::CONFIG_SHOP_ID)),
            self::CONFIG_SECRET => '',
        ];

        return $helper->generateForm([$form]);
    }

    private function renderStatus()
    {
        $counts = AbonneEventQueue::counts(time());
        $cronUrl = $this->cronUrl();
        $rows = [
            $this->trans('Events waiting to be sent again', [], 'Modules.Abonne.Admin') => $counts['queued'] . ' (' . $counts['due'] . ' ' . $this->trans('due now', [], 'Modules.Abonne.Admin') . ')',
            $this->trans('Cron URL (every 5 minutes)', [], 'Modules.Abonne.Admin') => $cronUrl,
            $this->trans('crontab line', [], 'Modules.Abonne.Admin') => '*/5 * * * * curl -fsS \'' . $cronUrl . '\' >/dev/null',
            $this->trans('or, from the shop root', [], 'Modules.Abonne.Admin') => 'php bin/console abonne:resend-events',
        ];
        $html = '<div class="panel"><div class="panel-heading"><i class="icon-time"></i> '
            . $this->trans('Delivery', [], 'Modules.Abonne.Admin') . '</div><dl class="dl-horizontal">';
        foreach ($rows as $label => $value) {
            $html .= '<dt>' . $label . '</dt><dd><code>' . htmlspecialchars($value) . '</code></dd>';
        }

        return $html . '</dl></div>';
    }
}
