<?php
/**
 * php bin/console abonne:resend-events [--limit=N]: sends every due queued event again, like the cron URL.
 */

namespace PrestaShop\Module\Abonne\Command;

if (!defined('_PS_VERSION_')) {
    exit;
}

use Module;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Input\InputOption;
use Symfony\Component\Console\Output\OutputInterface;

class ResendEventsCommand extends Command
{
    protected function configure()
    {
        $this->setName('abonne:resend-events')
            ->setDescription('Send the events abonne has not accepted yet (due ones only)')
            ->addOption('limit', null, InputOption::VALUE_REQUIRED, 'send at most this many events', 500);
    }

    protected function execute(InputInterface $input, OutputInterface $output)
    {
        $module = Module::getInstanceByName('abonne');
        if (!$module || !$module->active) {
            $output->writeln('<error>the abonne module is not installed or not enabled</error>');

            return 1;
        }
        $summary = $module->resendDue(max(1, (int) $input->getOption('limit')));
        $output->writeln(json_encode(['ok' => $summary['message'] === ''] + $summary, JSON_UNESCAPED_SLASHES));

        return $summary['message'] === '' ? 0 : 1;
    }
}
