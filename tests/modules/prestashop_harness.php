<?php
/**
 * Runs the PrestaShop module's pure classes under a bare php CLI for tests/modules/test_prestashop_module.py:
 * reads one JSON request on stdin, writes one JSON answer on stdout. No PrestaShop is loaded.
 */
define('_PS_VERSION_', getenv('ABONNE_TEST_PS_VERSION') ?: '8.2.0');

$classes = $argv[1];
foreach (['AbonneEventSigner', 'AbonneBackoff', 'AbonneEventBody', 'AbonneDelivery'] as $class) {
    require_once $classes . '/' . $class . '.php';
}

$request = json_decode(stream_get_contents(STDIN), true);
switch ($request['op']) {
    case 'sign':
        $answer = ['signature' => AbonneEventSigner::signature($request['secret'], $request['timestamp'], $request['body'])];
        break;
    case 'body':
        $order = isset($request['snapshot']) ? AbonneEventBody::order($request['snapshot']) : null;
        $answer = ['body' => AbonneEventSigner::encode(
            AbonneEventBody::envelope($request['event'], _PS_VERSION_, $request['module_version'], $order)
        )];
        break;
    case 'backoff':
        $answer = ['next' => array_map(function ($attempt) use ($request) {
            return AbonneBackoff::nextAttemptAt($attempt['failed'], $request['created_at'], $attempt['now']);
        }, $request['attempts'])];
        break;
    case 'deliver':
        $delivery = new AbonneDelivery($request['url'], $request['secret'], $request['connect_timeout'], $request['timeout']);
        $answer = $delivery->send($request['body'], $request['event_id']);
        break;
    case 'describe':
        $answer = AbonneDelivery::describe($request['status'], $request['answer']);
        break;
    case 'money':
        $answer = ['values' => array_map(function ($pair) {
            return AbonneEventBody::money($pair[0], $pair[1]);
        }, $request['values'])];
        break;
    default:
        fwrite(STDERR, 'unknown op ' . $request['op'] . "\n");
        exit(2);
}
echo json_encode($answer, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
