<?php
/**
 * The cron entry point: GET /module/abonne/cron?token=<ABONNE_CRON_TOKEN> (or
 * index.php?fc=module&module=abonne&controller=cron&token=...) sends every due queued event again and prints a
 * one-line JSON summary. Works while the shop is in maintenance mode: it is a machine endpoint behind its token.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}
require_once dirname(__DIR__, 2) . '/classes/AbonneMachineController.php';

class AbonneCronModuleFrontController extends AbonneMachineController
{
    /** Events one run sends at most; the next run continues. */
    const LIMIT = 500;

    public function postProcess()
    {
        $expected = (string) Configuration::get(Abonne::CONFIG_CRON_TOKEN);
        $given = (string) Tools::getValue('token', '');
        if ($expected === '' || !hash_equals($expected, $given)) {
            $this->answer(403, ['ok' => false, 'error' => 'token_invalid', 'detail' => 'the token does not match this shop\'s abonne cron token']);
        }
        @set_time_limit(300);
        $summary = $this->module->resendDue(self::LIMIT);
        $this->answer(200, ['ok' => $summary['message'] === ''] + $summary);
    }
}
