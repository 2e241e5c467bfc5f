<?php
/**
 * The PSR-4 autoloader composer.json describes, written by hand so the module needs no composer run:
 * PrestaShop includes modules/<name>/vendor/autoload.php for every enabled module before it loads config/services.yml.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

spl_autoload_register(function ($class) {
    $prefix = 'PrestaShop\\Module\\Abonne\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = dirname(__DIR__) . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require_once $file;
    }
});
