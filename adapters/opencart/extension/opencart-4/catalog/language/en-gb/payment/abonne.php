<?php
// Text: the payment name OpenCart copies into the renewal order (oc_order.payment_method).
$_['text_title'] = 'Card on file, myPOS';
