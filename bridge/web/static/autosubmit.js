// Sends the customer on to the payment page without a click; the button stays for browsers without scripts.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("autosubmit");
  if (form) { form.submit(); }
});
