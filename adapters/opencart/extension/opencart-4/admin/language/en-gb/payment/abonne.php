<?php
// Heading
$_['heading_title'] = 'Card on file, myPOS (abonne renewals)';

// Text
$_['text_extension'] = 'Extensions';
$_['text_success'] = 'Settings saved.';
$_['text_edit'] = 'Payment method of abonne\'s renewal orders';
$_['text_about'] = 'abonne creates each renewal order through the shop\'s API after it charged the customer\'s card with myPOS, and gives it this payment method. It is offered to API sessions only: customers never see it at the checkout. Keep it enabled while abonne renews subscriptions, or abonne cannot create the renewal orders on OpenCart 4.0.';
$_['text_enabled'] = 'Enabled';
$_['text_disabled'] = 'Disabled';

// Entry
$_['entry_status'] = 'Status';
$_['entry_sort_order'] = 'Sort Order';

// Error
$_['error_permission'] = 'Warning: You do not have permission to modify the abonne payment method!';
