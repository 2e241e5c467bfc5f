<?php
// Heading
$_['heading_title'] = 'abonne (subscriptions)';

// Text
$_['text_extension'] = 'Extensions';
$_['text_edit'] = 'Connection to abonne';
$_['text_success'] = 'Settings saved.';
$_['text_ping'] = 'Save and send a test ping';
$_['text_ping_ok'] = 'abonne answered:';
$_['text_ping_failed'] = 'The test ping failed:';
$_['text_secret_set'] = 'A secret is set. Leave empty to keep it.';
$_['text_secret_unset'] = 'Not set yet: copy it from abonne\'s page for this shop.';
$_['text_statuses'] = 'Order statuses';
$_['text_delivery'] = 'Delivery';
$_['text_queue'] = 'Events waiting to be sent again';
$_['text_due'] = 'due now';
$_['text_last_error'] = 'Last error';
$_['text_webhook_url'] = 'Events go to';
$_['text_cron_url'] = 'Cron URL (every 5 minutes)';
$_['text_read_url'] = 'Read URL (for abonne)';
$_['text_multi'] = 'Hold Ctrl (Cmd on a Mac) to choose several.';
$_['text_api_ip'] = 'Status changes made in the admin reach the shop through its API: the admin\'s IP address must be allowed in System > Users > API, or no event is sent.';

// Entry
$_['entry_url'] = 'Bridge URL';
$_['entry_shop_id'] = 'Shop id';
$_['entry_secret'] = 'Signing secret';
$_['entry_paid_status'] = 'Paid statuses';
$_['entry_refunded_status'] = 'Refunded statuses';
$_['entry_cancelled_status'] = 'Cancelled statuses';

// Help
$_['help_url'] = 'abonne\'s public address (ABONNE_PUBLIC_URL); events go to /webhooks/opencart/<shop id> there.';
$_['help_shop_id'] = 'The id abonne gave this shop.';
$_['help_paid_status'] = 'An order in one of these statuses is paid.';
$_['help_refunded_status'] = 'A first order set to one of these ends its subscriptions (refunded).';
$_['help_cancelled_status'] = 'A first order set to one of these ends its subscriptions (cancelled).';

// Error
$_['error_permission'] = 'Warning: You do not have permission to modify the abonne extension!';
$_['error_warning'] = 'Warning: Please check the form carefully for errors!';
$_['error_url'] = 'The bridge URL must be an http:// or https:// address, such as https://abonne.example.com.';
$_['error_shop_id'] = 'The shop id must be a positive whole number: the id abonne gave this shop.';
$_['error_secret'] = 'Enter the signing secret abonne shows for this shop.';
