<?php
/**
 * abonne for OpenCart 4.0 and 4.1, admin side of the payment method abonne's renewal orders carry (Extensions >
 * Payments). The method itself is catalog/model/payment/abonne.php; it is offered to API sessions only, so it never
 * shows at the storefront checkout. Installing the abonne module (Extensions > Modules) installs and enables it too
 * (self::enable()); it can also be installed, disabled or removed here on its own.
 */
namespace Opencart\Admin\Controller\Extension\Abonne\Payment;

class Abonne extends \Opencart\System\Engine\Controller
{
    const ROUTE = 'extension/abonne/payment/abonne';
    const SETTING_CODE = 'payment_abonne';

    public function index(): void
    {
        $this->load->language(self::ROUTE);
        $this->document->setTitle($this->language->get('heading_title'));
        $token = 'user_token=' . $this->session->data['user_token'];
        $separator = version_compare(VERSION, '4.0.2.0', '>=') ? '.' : '|';

        $data['breadcrumbs'] = [
            ['text' => $this->language->get('text_home'), 'href' => $this->url->link('common/dashboard', $token)],
            ['text' => $this->language->get('text_extension'), 'href' => $this->url->link('marketplace/extension', $token . '&type=payment')],
            ['text' => $this->language->get('heading_title'), 'href' => $this->url->link(self::ROUTE, $token)],
        ];
        $data['save'] = $this->url->link(self::ROUTE . $separator . 'save', $token);
        $data['back'] = $this->url->link('marketplace/extension', $token . '&type=payment');
        $data['payment_abonne_status'] = (int) $this->config->get('payment_abonne_status');
        $data['payment_abonne_sort_order'] = (int) $this->config->get('payment_abonne_sort_order');

        $data['header'] = $this->load->controller('common/header');
        $data['column_left'] = $this->load->controller('common/column_left');
        $data['footer'] = $this->load->controller('common/footer');

        $this->response->setOutput($this->load->view(self::ROUTE, $data));
    }

    public function save(): void
    {
        $this->load->language(self::ROUTE);
        $json = [];
        if (!$this->user->hasPermission('modify', self::ROUTE)) {
            $json['error']['warning'] = $this->language->get('error_permission');
        } else {
            $this->load->model('setting/setting');
            $this->model_setting_setting->editSetting(self::SETTING_CODE, [
                'payment_abonne_status' => empty($this->request->post['payment_abonne_status']) ? 0 : 1,
                'payment_abonne_sort_order' => (int) ($this->request->post['payment_abonne_sort_order'] ?? 0),
            ]);
            $json['success'] = $this->language->get('text_success');
        }
        $this->response->addHeader('Content-Type: application/json');
        $this->response->setOutput(json_encode($json));
    }

    /**
     * Called by Extensions > Payments > Install, after OpenCart added the oc_extension row and the permissions.
     */
    public function install(): void
    {
        $this->load->model('setting/setting');
        $this->model_setting_setting->editSetting(self::SETTING_CODE, ['payment_abonne_status' => 1, 'payment_abonne_sort_order' => 0]);
    }

    /**
     * Installs and enables the payment method as Extensions > Payments > Install does (the oc_extension row, the
     * current user group's access and modify permission, status on). Used by the abonne module's install().
     */
    public static function enable(\Opencart\System\Engine\Registry $registry): void
    {
        $load = $registry->get('load');
        $load->model('setting/extension');
        $extensions = $registry->get('model_setting_extension');
        $installed = $extensions->getExtensionsByType('payment');
        if (!in_array('abonne', array_column($installed, 'code'), true)) {
            $extensions->install('payment', 'abonne', 'abonne');
        }
        $groupId = $registry->get('user')->getGroupId();
        $load->model('user/user_group');
        $groups = $registry->get('model_user_user_group');
        $group = $groups->getUserGroup($groupId);
        foreach (['access', 'modify'] as $type) {
            // OpenCart's addPermission appends even when the route is already there.
            if (empty($group['permission'][$type]) || !in_array(self::ROUTE, (array) $group['permission'][$type], true)) {
                $groups->addPermission($groupId, $type, self::ROUTE);
            }
        }
        $load->model('setting/setting');
        $registry->get('model_setting_setting')->editSetting(self::SETTING_CODE, ['payment_abonne_status' => 1, 'payment_abonne_sort_order' => 0]);
    }

    /**
     * Removes what self::enable() added: the oc_extension row, the payment_abonne settings, the permissions.
     */
    public static function remove(\Opencart\System\Engine\Registry $registry): void
    {
        $load = $registry->get('load');
        $load->model('setting/extension');
        $registry->get('model_setting_extension')->uninstall('payment', 'abonne');
        $load->model('setting/setting');
        $registry->get('model_setting_setting')->deleteSetting(self::SETTING_CODE);
        $load->model('user/user_group');
        $groups = $registry->get('model_user_user_group');
        $groupId = $registry->get('user')->getGroupId();
        foreach (['access', 'modify'] as $type) {
            $groups->removePermission($groupId, $type, self::ROUTE);
        }
    }
}
