"""What localstripe (through our launcher) really does, observed through the official stripe SDK.

Each assertion records observed behaviour, including where it differs from real Stripe (marked
"real Stripe:"); docs/localstripe.md explains what the app's gateway must do about each."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

stripe = pytest.importorskip("stripe")

CHARGE = {"amount": 2500, "currency": "eur"}


def off_session_charge(client, customer, payment_method, **extra):
    return client.v1.payment_intents.create(
        params={**CHARGE, "customer": customer.id, "payment_method": payment_method.id,
                "off_session": True, "confirm": True, **extra}
    )


def stand_in_js_authenticate(standin, payment_intent_id: str, client_secret: str, success: bool):
    """What the stand-in Stripe.js confirmCardPayment() posts once its 3-D Secure dialog is answered."""
    return standin.request(
        "POST",
        f"/v1/payment_intents/{payment_intent_id}/_authenticate?success={'true' if success else 'false'}",
        {"key": standin.publishable_key, "client_secret": client_secret},
    )


# --- the launcher itself -------------------------------------------------------------------------


def test_health_counts_objects_and_reset_empties_the_store(stripe_standin, stripe_client):
    assert stripe_standin.request("GET", "/_standin/health") == (200, {"status": "ok", "objects": 0})
    stripe_client.v1.customers.create(params={"email": "a@example.com"})
    # A customer and its customer.created event.
    assert stripe_standin.request("GET", "/_standin/health")[1]["objects"] == 2

    stripe_standin.reset()

    assert stripe_standin.request("GET", "/_standin/health")[1]["objects"] == 0


def test_state_is_not_pickled_to_tmp(stripe_client):
    started = time.time()
    stripe_client.v1.customers.create(params={"email": "a@example.com"})
    pickle = Path("/tmp/localstripe.pickle")
    assert not pickle.exists() or pickle.stat().st_mtime < started


def test_stand_in_stripe_js_is_served_without_a_key(stripe_standin):
    status, script = stripe_standin.request("GET", "/js.stripe.com/v3/")
    assert status == 200
    assert "confirmCardSetup" in script and "confirmCardPayment" in script
    # The API itself needs a secret key; only a few browser routes accept a pk_ key in the body.
    assert stripe_standin.request("GET", "/v1/customers")[0] == 401


def test_launcher_binds_loopback_only_logs_to_stderr_and_stops_on_sigterm(start_standin):
    standin = start_standin()
    listening = _listening_addresses(standin.port)
    if listening is not None:
        assert listening == {"127.0.0.1"}
    assert standin.stop() == 0
    assert f"Running on http://127.0.0.1:{standin.port}" in standin.log()


def _listening_addresses(port: int) -> set[str] | None:
    """Local addresses in LISTEN state on port, from /proc/net/tcp{,6} (None off Linux)."""
    addresses = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            return None
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, local_port = local.rsplit(":", 1)
            if state == "0A" and int(local_port, 16) == port:
                addresses.add(".".join(str(b) for b in reversed(bytes.fromhex(host))) if name == "tcp" else host)
    return addresses


# --- saving a card (all-or-nothing) ----------------------------------------------------------------


def test_setup_intent_confirmed_with_4242_succeeds_but_does_not_attach_the_card(stripe_client, card, customer):
    setup_intent = stripe_client.v1.setup_intents.create(params={"customer": customer.id, "usage": "off_session"})
    assert setup_intent.status == "requires_payment_method"
    assert setup_intent.client_secret.startswith(f"{setup_intent.id}_secret_")
    payment_method = card("4242424242424242")

    setup_intent = stripe_client.v1.setup_intents.confirm(setup_intent.id, params={"payment_method": payment_method.id})

    assert setup_intent.status == "succeeded"
    assert setup_intent.payment_method == payment_method.id
    # real Stripe: the card is now attached to the SetupIntent's customer. localstripe: not.
    assert stripe_client.v1.payment_methods.retrieve(payment_method.id).customer is None
    attached = stripe_client.v1.payment_methods.attach(payment_method.id, params={"customer": customer.id})
    assert attached.customer == customer.id
    listed = stripe_client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [pm.id for pm in listed.data] == [payment_method.id]


def test_setup_intent_with_3ds_card_requires_action_until_the_stand_in_js_confirms_again(
    stripe_standin, stripe_client, card, customer
):
    setup_intent = stripe_client.v1.setup_intents.create(params={"customer": customer.id, "usage": "off_session"})
    setup_intent = stripe_client.v1.setup_intents.confirm(
        setup_intent.id, params={"payment_method": card("4000002500003155").id}
    )
    assert setup_intent.status == "requires_action"
    assert setup_intent.next_action.type == "use_stripe_sdk"

    # "Complete authentication" in the stand-in's dialog: confirm again with the publishable key.
    status, body = stripe_standin.request(
        "POST",
        f"/v1/setup_intents/{setup_intent.id}/confirm",
        {"key": stripe_standin.publishable_key, "client_secret": setup_intent.client_secret, "use_stripe_sdk": True},
    )

    assert (status, body["status"]) == (200, "succeeded")


def test_attaching_an_always_declined_card_is_a_402(stripe_client, card, customer):
    with pytest.raises(stripe.CardError) as raised:
        stripe_client.v1.payment_methods.attach(card("4000000000000002").id, params={"customer": customer.id})
    assert raised.value.http_status == 402
    assert raised.value.code == "card_declined"


# --- charging off-session at the deadline ------------------------------------------------------------


def test_off_session_charge_with_4242_succeeds(stripe_client, customer, saved_card):
    payment_intent = off_session_charge(stripe_client, customer, saved_card("4242424242424242"),
                                        metadata={"pledge": "1"})

    assert payment_intent.status == "succeeded"
    assert payment_intent.amount == 2500 and payment_intent.metadata["pledge"] == "1"
    # real Stripe: latest_charge is an id unless expanded. localstripe: always the whole Charge.
    assert payment_intent.latest_charge.status == "succeeded"
    assert payment_intent.latest_charge.payment_intent == payment_intent.id


def test_off_session_charge_with_0341_is_a_402_card_declined_and_leaves_the_intent_needing_a_card(
    stripe_client, customer, saved_card
):
    payment_method = saved_card("4000000000000341")  # attaching works, charging fails

    with pytest.raises(stripe.CardError) as raised:
        off_session_charge(stripe_client, customer, payment_method)

    error = raised.value
    assert (error.http_status, error.code, error.user_message) == (402, "card_declined", "Your card was declined.")
    # real Stripe: type card_error, a decline_code and the PaymentIntent in the error.
    # localstripe: type invalid_request_error, only the charge id.
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert "payment_intent" not in error.json_body["error"] and "decline_code" not in error.json_body["error"]
    charge = stripe_client.v1.charges.retrieve(error.json_body["error"]["charge"])
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")
    payment_intent = stripe_client.v1.payment_intents.retrieve(charge.payment_intent)
    assert payment_intent.status == "requires_payment_method"
    assert payment_intent.last_payment_error.code == "card_declined"
    with pytest.raises(stripe.InvalidRequestError, match="Cannot refund a failed payment"):
        stripe_client.v1.refunds.create(params={"payment_intent": payment_intent.id})


@pytest.mark.parametrize("number", ["4000002500003155", "4000002760003184"])
def test_off_session_charge_with_3ds_card_returns_requires_action_instead_of_an_error(
    stripe_client, customer, saved_card, number
):
    # real Stripe: 4000002760003184 fails with a 402 authentication_required (intent back to
    # requires_payment_method); 4000002500003155 set up by a SetupIntent charges off-session without
    # authentication. localstripe: both answer 200 with status requires_action.
    payment_intent = off_session_charge(stripe_client, customer, saved_card(number))

    assert payment_intent.status == "requires_action"
    assert payment_intent.next_action.type == "use_stripe_sdk"
    assert payment_intent.latest_charge is None and payment_intent.last_payment_error is None


def test_3ds_payment_intent_is_confirmed_only_through_the_stand_in_js_authenticate_route(
    stripe_standin, stripe_client, customer, saved_card
):
    payment_method = saved_card("4000002500003155")
    payment_intent = off_session_charge(stripe_client, customer, payment_method)

    # The server-side confirm cannot finish it: no status change, no payment_method either.
    with pytest.raises(stripe.InvalidRequestError, match="Bad request"):
        stripe_client.v1.payment_intents.confirm(payment_intent.id)
    with pytest.raises(stripe.APIError, match="Not implemented"):
        stripe_client.v1.payment_intents.confirm(payment_intent.id, params={"payment_method": payment_method.id})
    assert stand_in_js_authenticate(stripe_standin, payment_intent.id, "wrong", success=True)[0] == 401

    status, body = stand_in_js_authenticate(stripe_standin, payment_intent.id, payment_intent.client_secret, True)

    assert (status, body["status"]) == (200, "succeeded")
    assert stripe_client.v1.payment_intents.retrieve(payment_intent.id).status == "succeeded"


def test_failed_3ds_authentication_leaves_the_intent_needing_a_new_card(
    stripe_standin, stripe_client, customer, saved_card
):
    payment_intent = off_session_charge(stripe_client, customer, saved_card("4000002500003155"))

    status, body = stand_in_js_authenticate(
        stripe_standin, payment_intent.id, payment_intent.client_secret, success=False)

    assert (status, body["status"]) == (200, "requires_payment_method")
    assert body["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert body["payment_method"] is None


# --- refunds -----------------------------------------------------------------------------------------


def test_full_and_partial_refunds_of_a_succeeded_charge(stripe_client, customer, saved_card):
    payment_method = saved_card("4242424242424242")
    partly = off_session_charge(stripe_client, customer, payment_method)
    fully = off_session_charge(stripe_client, customer, payment_method)

    partial = stripe_client.v1.refunds.create(params={"charge": partly.latest_charge.id, "amount": 1000})
    full = stripe_client.v1.refunds.create(params={"payment_intent": fully.id})

    assert (partial.status, partial.amount, partial.charge) == ("succeeded", 1000, partly.latest_charge.id)
    assert (full.status, full.amount, full.charge) == ("succeeded", 2500, fully.latest_charge.id)
    partly = stripe_client.v1.payment_intents.retrieve(partly.id, params={"expand": ["latest_charge"]})
    fully = stripe_client.v1.payment_intents.retrieve(fully.id, params={"expand": ["latest_charge"]})
    # A refund does not change the PaymentIntent's status, only its charge's totals.
    assert partly.status == fully.status == "succeeded"
    assert (partly.latest_charge.amount_refunded, partly.latest_charge.refunded) == (1000, False)
    assert (fully.latest_charge.amount_refunded, fully.latest_charge.refunded) == (2500, True)
    listed = stripe_client.v1.refunds.list(params={"payment_intent": partly.id})
    assert [refund.id for refund in listed.data] == [partial.id]


def test_refunds_are_not_capped_at_what_remains(stripe_client, customer, saved_card):
    payment_intent = off_session_charge(stripe_client, customer, saved_card("4242424242424242"))
    stripe_client.v1.refunds.create(params={"payment_intent": payment_intent.id, "amount": 1000})

    # real Stripe: a refund without amount refunds what remains (1500); one more is an error.
    # localstripe: it refunds the whole amount again, and keeps accepting refunds.
    rest = stripe_client.v1.refunds.create(params={"payment_intent": payment_intent.id})
    again = stripe_client.v1.refunds.create(params={"payment_intent": payment_intent.id})

    assert (rest.amount, again.amount) == (2500, 2500)
    charge = stripe_client.v1.charges.retrieve(payment_intent.latest_charge.id)
    assert charge.amount_refunded == 6000 and charge.refunded is True


# --- cards, idempotency, flexible funding --------------------------------------------------------


def test_detach_clears_the_customer_but_the_card_still_charges(stripe_client, customer, saved_card):
    payment_method = saved_card("4242424242424242")

    detached = stripe_client.v1.payment_methods.detach(payment_method.id)

    assert detached.customer is None
    assert stripe_client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"}).data == []
    # real Stripe: a detached PaymentMethod cannot be used again. localstripe does not check.
    assert off_session_charge(stripe_client, customer, payment_method).status == "succeeded"


def test_idempotency_key_is_ignored(stripe_client, customer, saved_card):
    payment_method = saved_card("4242424242424242")
    key = {"idempotency_key": "pledge-1-charge-1"}

    first = stripe_client.v1.payment_intents.create(
        params={**CHARGE, "customer": customer.id, "payment_method": payment_method.id,
                "off_session": True, "confirm": True}, options=key)
    second = stripe_client.v1.payment_intents.create(
        params={**CHARGE, "customer": customer.id, "payment_method": payment_method.id,
                "off_session": True, "confirm": True}, options=key)

    # real Stripe: the second call returns the first PaymentIntent. localstripe: a second charge.
    assert first.id != second.id
    assert first.status == second.status == "succeeded"
    assert len(stripe_client.v1.charges.list(params={"customer": customer.id}).data) == 2


def test_flexible_payment_intent_confirmed_immediately_on_session(stripe_client, customer, card):
    payment_intent = stripe_client.v1.payment_intents.create(
        params={**CHARGE, "customer": customer.id, "payment_method": card("4242424242424242").id, "confirm": True}
    )

    assert payment_intent.status == "succeeded"
    assert payment_intent.client_secret.startswith(f"{payment_intent.id}_secret_")


def test_flexible_payment_intent_without_a_card_cannot_be_confirmed_by_the_stand_in_js(
    stripe_standin, stripe_client, customer, card
):
    payment_intent = stripe_client.v1.payment_intents.create(params={**CHARGE, "customer": customer.id})
    assert payment_intent.status == "requires_payment_method"

    # The stand-in confirmCardPayment() ignores its card data and only posts _authenticate, which
    # wants an intent in requires_action: a card must reach the intent some other way.
    assert stand_in_js_authenticate(
        stripe_standin, payment_intent.id, payment_intent.client_secret, success=True)[0] == 400
    payment_intent = stripe_client.v1.payment_intents.update(
        payment_intent.id, params={"payment_method": card("4242424242424242").id})
    assert payment_intent.status == "requires_confirmation"
    assert stripe_client.v1.payment_intents.confirm(payment_intent.id).status == "succeeded"


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("payment_intents", {"transfer_group": "campaign-1"}),
        ("payment_intents", {"description": "Pledge 1"}),
        ("payment_intents", {"receipt_email": "backer@example.com"}),
        ("payment_intents", {"setup_future_usage": "off_session"}),
        ("payment_intents", {"statement_descriptor_suffix": "PLEDGE"}),
        ("payment_intents", {"automatic_payment_methods": {"enabled": True}}),
        ("refunds", {"reason": "requested_by_customer"}),
    ],
)
def test_parameters_localstripe_rejects(stripe_client, customer, saved_card, path, extra):
    params = {**CHARGE, "customer": customer.id, "payment_method": saved_card("4242424242424242").id, "confirm": True}
    if path == "refunds":
        params = {"payment_intent": stripe_client.v1.payment_intents.create(params=params).id}
    service = getattr(stripe_client.v1, path)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        service.create(params={**params, **extra})

    assert raised.value.http_status == 400
    assert raised.value.user_message == f"Unexpected {next(iter(extra))}"


# --- webhooks -----------------------------------------------------------------------------------


@pytest.fixture
def webhook_receiver(stripe_standin):
    """A local endpoint registered with localstripe (POST /_config/webhooks/{id}); yields what it received."""
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.rfile.read(int(self.headers["Content-Length"])), self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/stripe/webhook"
    assert stripe_standin.request("POST", "/_config/webhooks/tests", {"url": url, "secret": "whsec_test"})[0] == 200
    yield received
    # Registrations cannot be deleted and survive DELETE /_config/data: mute this one instead.
    stripe_standin.request("POST", "/_config/webhooks/tests", {"url": url, "secret": "whsec_test", "events": []})
    server.shutdown()
    server.server_close()


def test_webhooks_are_signed_like_stripe_and_cover_only_some_events(
    stripe_client, webhook_receiver, customer, card, saved_card
):
    setup_intent = stripe_client.v1.setup_intents.create(params={"customer": customer.id})
    stripe_client.v1.setup_intents.confirm(setup_intent.id, params={"payment_method": card("4242424242424242").id})
    succeeded = off_session_charge(stripe_client, customer, saved_card("4242424242424242"))
    with pytest.raises(stripe.CardError):
        off_session_charge(stripe_client, customer, saved_card("4000000000000341"))
    stripe_client.v1.refunds.create(params={"payment_intent": succeeded.id})

    def events_of_this_test():
        # Verified as the app will: stripe.Webhook.construct_event on the raw body.
        events = [stripe.Webhook.construct_event(body, header, "whsec_test") for body, header in webhook_receiver]
        return [e for e in events
                if customer.id in (e.data.object.to_dict().get("id"), e.data.object.to_dict().get("customer"))]

    # Each event is delivered once, about a second after the request that caused it, never retried.
    deadline = time.monotonic() + 10
    while len(events_of_this_test()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # anything more would have arrived by now
    events = events_of_this_test()

    # No setup_intent.succeeded, payment_method.attached, charge.succeeded or charge.refunded.
    assert sorted(event.type for event in events) == [
        "customer.created", "payment_intent.payment_failed", "payment_intent.succeeded"]
    assert {event.api_version for event in events} == {"2017-08-15"}
    body, header = webhook_receiver[0]
    assert header.startswith("t=") and ",v1=" in header
    assert json.loads(body)["object"] == "event"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_other")
