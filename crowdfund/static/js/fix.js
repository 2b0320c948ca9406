// The 3-D Secure step of the fix page: confirmCardPayment on the pledge's existing PaymentIntent,
// then the form posts and the server reads the PaymentIntent back (whatever the browser says).
// Data comes from data- attributes, so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("authenticate-form");
    if (!form) { return; }
    var errors = document.getElementById("authenticate-errors");
    var button = document.getElementById("authenticate-submit");
    if (typeof Stripe !== "function") {
      errors.textContent = form.dataset.errorUnavailable;
      button.disabled = true;
      return;
    }
    var stripe = Stripe(form.dataset.stripeKey);
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }
      busy = true;
      button.disabled = true;
      errors.textContent = "";
      stripe.confirmCardPayment(form.dataset.clientSecret).then(function () {
        form.submit();  // success or failure: the server reads the outcome back from Stripe
      }, function () {
        form.submit();
      });
    });
  });
}());
