<?php
/**
 * A front controller that machines call, not people: no login, no page around the answer, served even while the
 * shop is in maintenance mode (it is protected by its own token or signature), and answered as one JSON line.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

abstract class AbonneMachineController extends ModuleFrontController
{
    public $auth = false;
    public $ajax = true;

    protected function displayMaintenancePage()
    {
    }

    protected function displayRestrictedCountryPage()
    {
    }

    protected function answer($status, array $body)
    {
        http_response_code($status);
        header('Content-Type: application/json');
        header('Cache-Control: no-store');
        echo json_encode($body, JSON_UNESCAPED_SLASHES) . "\n";
        exit;
    }
}
