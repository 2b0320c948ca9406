// The card page: a Stripe Card Element, confirmCardSetup on submit, then the form posts to the
// server, which reads the SetupIntent back. Data comes from data- attributes (no inline scripts,
// so the Content-Security-Policy can forbid them). The same code runs against Stripe.js and the
// localstripe stand-in: confirmCardSetup is the call both implement with a Card Element.
(function () {
  "use strict";

  function showError(box, message) {
    box.textContent = message || "";
  }

  function setUpCardForm(form) {
    var errors = document.getElementById("card-errors");
    var button = document.getElementById("card-submit");
    if (typeof Stripe !== "function") {
      showError(errors, form.dataset.errorUnavailable);
      button.disabled = true;
      return;
    }
    var stripe = Stripe(form.dataset.stripeKey);
    var card = stripe.elements().create("card");
    card.mount("#card-element");
    if (card.on) {
      card.on("change", function (event) {
        showError(errors, event && event.error ? event.error.message : "");
      });
    }
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }
      busy = true;
      button.disabled = true;
      showError(errors, "");
      stripe.confirmCardSetup(form.dataset.clientSecret, {
        payment_method: { card: card, billing_details: { name: form.dataset.cardholder } }
      }).then(function (result) {
        if (result.error) {
          showError(errors, result.error.message);
          busy = false;
          button.disabled = false;
          return;
        }
        form.submit();  // HTMLFormElement.submit() skips this listener: the server completes the pledge
      }, function (failure) {
        showError(errors, (failure && failure.message) || form.dataset.errorGeneric);
        busy = false;
        button.disabled = false;
      });
    });
  }

  // On the pledge form: the country matters only for rewards that ship.
  function setUpPledgeForm(form) {
    var country = form.querySelector("select[name=shipping_country]");
    if (!country) { return; }
    var wrapper = country.closest(".field");
    function update() {
      var chosen = form.querySelector("input[name=reward]:checked");
      var ships = chosen && chosen.dataset.ships === "1";
      wrapper.hidden = !ships && !wrapper.classList.contains("has-error");
    }
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var cardForm = document.getElementById("card-form");
    if (cardForm) { setUpCardForm(cardForm); }
    var pledgeForm = document.querySelector(".pledge-form form");
    if (pledgeForm) { setUpPledgeForm(pledgeForm); }
  });
}());
