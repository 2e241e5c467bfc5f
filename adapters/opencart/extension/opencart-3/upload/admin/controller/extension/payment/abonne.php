<?php
/**
 * abonne for OpenCart 3.0, admin side of the payment method abonne's renewal orders carry (Extensions > Payments).
 * The method itself is catalog/model/extension/payment/abonne.php; it is offered to API sessions only, so it never
 * shows at the storefront checkout. Installing the abonne module (Extensions > Modules) installs and enables this
 * payment extension too (self::enable()); it can also be installed, disabled or removed here on its own.
 */
class ControllerExtensionPaymentAbonne extends Controller
{
    const ROUTE = 'extension/payment/abonne';
    const SETTING_CODE = 'payment_abonne';

    private $error = '';

    public function index()
    {
        $this->load->language(self::ROUTE);
        $this->document->setTitle($this->language->get('heading_title'));
        $token = 'user_token=' . $this->session->data['user_token'];
        $this->load->model('setting/setting');

        if ($this->request->server['REQUEST_METHOD'] === 'POST' && $this->validate()) {
            $post = $this->request->post;
            $this->model_setting_setting->editSetting(self::SETTING_CODE, [
                'payment_abonne_status' => empty($post['payment_abonne_status']) ? 0 : 1,
                'payment_abonne_sort_order' => isset($post['payment_abonne_sort_order']) ? (int) $post['payment_abonne_sort_order'] : 0,
            ]);
            $this->session->data['success'] = $this->language->get('text_success');
            $this->response->redirect($this->url->link('marketplace/extension', $token . '&type=payment', true));
        }

        $data['error_warning'] = $this->error;
        $data['breadcrumbs'] = [
            ['text' => $this->language->get('text_home'), 'href' => $this->url->link('common/dashboard', $token, true)],
            ['text' => $this->language->get('text_extension'), 'href' => $this->url->link('marketplace/extension', $token . '&type=payment', true)],
            ['text' => $this->language->get('heading_title'), 'href' => $this->url->link(self::ROUTE, $token, true)],
        ];
        $data['action'] = $this->url->link(self::ROUTE, $token, true);
        $data['cancel'] = $this->url->link('marketplace/extension', $token . '&type=payment', true);
        $data['payment_abonne_status'] = (int) $this->config->get('payment_abonne_status');
        $data['payment_abonne_sort_order'] = (int) $this->config->get('payment_abonne_sort_order');

        $data['header'] = $this->load->controller('common/header');
        $data['column_left'] = $this->load->controller('common/column_left');
        $data['footer'] = $this->load->controller('common/footer');

        $this->response->setOutput($this->load->view(self::ROUTE, $data));
    }

    /**
     * Called by Extensions > Payments > Install, after OpenCart added the oc_extension row and the permissions.
     */
    public function install()
    {
        $this->load->model('setting/setting');
        $this->model_setting_setting->editSetting(self::SETTING_CODE, ['payment_abonne_status' => 1, 'payment_abonne_sort_order' => 0]);
    }

    /**
     * Installs and enables the payment method the way Extensions > Payments > Install does (the oc_extension row,
     * the current user group's access and modify permission, status on). Used by the abonne module's install().
     *
     * @param Registry $registry
     */
    public static function enable($registry)
    {
        $load = $registry->get('load');
        $load->model('setting/extension');
        $registry->get('model_setting_extension')->install('payment', 'abonne'); // no second row if installed

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
     *
     * @param Registry $registry
     */
    public static function remove($registry)
    {
        $load = $registry->get('load');
        $load->model('setting/extension');
        $registry->get('model_setting_extension')->uninstall('payment', 'abonne');
        $load->model('user/user_group');
        $registry->get('model_user_user_group')->removePermissions(self::ROUTE);
    }

    private function validate()
    {
        if (!$this->user->hasPermission('modify', self::ROUTE)) {
            $this->error = $this->language->get('error_permission');
        }

        return $this->error === '';
    }
}
