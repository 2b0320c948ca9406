"""The gateway against the stand-in: the project's own terms for saving cards and charging."""
import pytest

from crowdfund.payments import gateway


def _card(number):
    return gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})


def _saved_card(number):
    customer_id = gateway.create_customer("backer@example.com", "Backer", 1)
    setup_id, secret = gateway.create_setup_intent(customer_id, pledge_id=1)
    intent = gateway.client().v1.setup_intents.confirm(setup_id, params={"payment_method": _card(number).id})
    if intent.status == "requires_action":  # a 3-D Secure card: the browser would show the dialog
        gateway.client().v1.setup_intents.confirm(setup_id)
    return customer_id, gateway.confirmed_card(setup_id, customer_id)


def test_confirmed_setup_intent_leaves_the_card_attached_and_described(app, stripe_standin):
    customer_id, setup = _saved_card("4242424242424242")

    assert setup.status == "succeeded"
    assert setup.card_summary == "Visa •••• 4242"
    method = gateway.client().v1.payment_methods.retrieve(setup.payment_method_id)
    assert method.customer == customer_id


def test_unconfirmed_setup_intent_has_no_card_yet(app, stripe_standin):
    customer_id = gateway.create_customer("backer@example.com", "Backer", 1)
    setup_id, _ = gateway.create_setup_intent(customer_id, pledge_id=1)

    assert gateway.confirmed_card(setup_id, customer_id).payment_method_id is None


@pytest.mark.parametrize("number, status, code", [
    ("4242424242424242", "succeeded", None),
    ("4000000000000341", "failed", "card_declined"),
    ("4000002500003155", "requires_action", "authentication_required"),
])
def test_off_session_charge_outcomes_by_test_card(app, stripe_standin, number, status, code):
    customer_id, setup = _saved_card(number)

    result = gateway.charge(customer_id, setup.payment_method_id, 2500, "EUR", "pledge-1-charge-1", {"pledge_id": "1"})

    assert result.status == status
    assert result.error_code == code
    if status == "succeeded":
        assert result.charge_id and result.payment_intent_id
    if status == "requires_action":
        assert result.client_secret


def test_refund_of_part_of_a_charge(app, stripe_standin):
    customer_id, setup = _saved_card("4242424242424242")
    result = gateway.charge(customer_id, setup.payment_method_id, 2500, "USD", "k", {})

    refund_id = gateway.refund(result.payment_intent_id, 1000, "pledge-1-refund-1", {"pledge_id": "1"})

    assert refund_id.startswith("re_")


def test_a_stripe_that_never_answers_is_given_up_on_after_the_read_timeout(app):
    """A hung Stripe (it accepts the connection and says nothing) fails the call with GatewayError after
    STRIPE_READ_TIMEOUT, instead of the library's 80 s that would hold the request (and, before the
    settlement layer, SQLite's write lock)."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    app.config.update(STRIPE_STANDIN_URL=f"http://127.0.0.1:{silent.getsockname()[1]}", STRIPE_READ_TIMEOUT=1)
    app.extensions.pop("crowdfund_stripe", None)
    try:
        started = time.monotonic()
        with pytest.raises(gateway.GatewayError):
            gateway.create_customer("backer@example.com", "Backer", 1)
        assert time.monotonic() - started < 30  # bounded by the setting, not the library's 80 s
    finally:
        silent.close()
        app.extensions.pop("crowdfund_stripe", None)
