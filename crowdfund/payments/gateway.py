"""The one module that talks to Stripe. Everything else asks it, in the project's own terms,
to save a card, charge, refund or verify an event, and gets plain results back.

Without STRIPE_SECRET_KEY it talks to the localstripe stand-in (STRIPE_STANDIN_URL) with a test
key: the same calls, so the same code path runs in the default run, the tests and production.
Stand-in gaps are filled here only where real Stripe behaves the same way either way (attaching
a SetupIntent's card is harmless on Stripe, where it is already attached)."""
import json
import time
from dataclasses import dataclass

import stripe
from flask import current_app

STANDIN_SECRET_KEY = "sk_test_crowdfund_standin"
STANDIN_PUBLISHABLE_KEY = "pk_test_crowdfund_standin"


class GatewayError(Exception):
    """Stripe could not be reached or refused the request for a reason that is not the card's."""


@dataclass(frozen=True)
class ChargeResult:
    """What became of a charge attempt: status is "succeeded", "requires_action" (the backer
    must authenticate on-session, using client_secret) or "failed" (error_code says why)."""

    status: str
    payment_intent_id: str | None
    charge_id: str | None = None
    client_secret: str | None = None
    error_code: str | None = None
    message: str | None = None


def is_test_mode() -> bool:
    """True when no live Stripe keys are configured (the stand-in, or Stripe test keys)."""
    key = current_app.config.get("STRIPE_SECRET_KEY")
    return not key or key.startswith("sk_test_")


def uses_standin() -> bool:
    return not current_app.config.get("STRIPE_SECRET_KEY")


def publishable_key() -> str:
    return current_app.config.get("STRIPE_PUBLISHABLE_KEY") or STANDIN_PUBLISHABLE_KEY


def stripe_js_url() -> str:
    configured = current_app.config.get("STRIPE_JS_URL")
    if configured:
        return configured
    if uses_standin():
        return current_app.config["STRIPE_STANDIN_URL"].rstrip("/") + "/js.stripe.com/v3/"
    return "https://js.stripe.com/v3/"


def client() -> stripe.StripeClient:
    """A client for this app's Stripe (or stand-in), made once per app, with explicit limits: a call
    gives up after STRIPE_CONNECT_TIMEOUT / STRIPE_READ_TIMEOUT seconds (the library's default is 80 s)
    and is retried STRIPE_NETWORK_RETRIES times on network errors, with the same idempotency key (the
    library adds one to every POST), so a retry never charges twice. The stand-in ignores idempotency
    keys, so it gets no retries."""
    cached = current_app.extensions.get("crowdfund_stripe")
    if cached is None:
        config = current_app.config
        http = stripe.RequestsClient(timeout=(float(config["STRIPE_CONNECT_TIMEOUT"]),
                                              float(config["STRIPE_READ_TIMEOUT"])))
        if uses_standin():
            cached = stripe.StripeClient(STANDIN_SECRET_KEY, max_network_retries=0, http_client=http,
                                         base_addresses={"api": config["STRIPE_STANDIN_URL"]})
        else:
            cached = stripe.StripeClient(config["STRIPE_SECRET_KEY"], http_client=http,
                                         max_network_retries=int(config["STRIPE_NETWORK_RETRIES"]))
        current_app.extensions["crowdfund_stripe"] = cached
    return cached


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except stripe.CardError:
        raise
    except stripe.StripeError as error:
        raise GatewayError(getattr(error, "user_message", None) or str(error)) from error


def create_customer(email: str, name: str, user_id: int) -> str:
    customer = _call(client().v1.customers.create,
                     params={"email": email, "name": name, "metadata": {"user_id": str(user_id)}})
    return customer.id


def create_setup_intent(customer_id: str, pledge_id: int) -> tuple[str, str]:
    """A SetupIntent that saves a card for later off-session charges; returns (id, client_secret)."""
    intent = _call(client().v1.setup_intents.create, params={
        "customer": customer_id, "usage": "off_session", "payment_method_types": ["card"],
        "metadata": {"pledge_id": str(pledge_id)}})
    return intent.id, intent.client_secret


def reusable_setup_intent(setup_intent_id: str) -> str | None:
    """The client secret of a SetupIntent that can still take a card (not succeeded nor cancelled), else None."""
    intent = _call(client().v1.setup_intents.retrieve, setup_intent_id)
    if intent.status in ("requires_payment_method", "requires_confirmation", "requires_action"):
        return intent.client_secret
    return None


def setup_intent_client_secret(setup_intent_id: str) -> str:
    """The client secret the browser needs to confirm a SetupIntent (read back, never stored)."""
    return _call(client().v1.setup_intents.retrieve, setup_intent_id).client_secret


@dataclass(frozen=True)
class SetupResult:
    status: str
    payment_method_id: str | None
    card_summary: str | None = None
    card_fingerprint: str | None = None  # the same card number gives the same one (None if not provided)


def confirmed_card(setup_intent_id: str, customer_id: str) -> SetupResult:
    """Read a SetupIntent back; when it succeeded, make sure its card is attached to the customer
    (localstripe does not attach it; real Stripe already has) and describe the card."""
    intent = _call(client().v1.setup_intents.retrieve, setup_intent_id)
    if intent.status != "succeeded" or not intent.payment_method:
        return SetupResult(intent.status, None)
    pm_id = intent.payment_method if isinstance(intent.payment_method, str) else intent.payment_method.id
    method = _call(client().v1.payment_methods.retrieve, pm_id)
    if getattr(method, "customer", None) != customer_id:
        method = _call(client().v1.payment_methods.attach, pm_id, params={"customer": customer_id})
    card = getattr(method, "card", None)
    summary = f"{card.brand.title()} •••• {card.last4}" if card is not None else None
    fingerprint = getattr(card, "fingerprint", None) if card is not None else None
    return SetupResult("succeeded", pm_id, summary, str(fingerprint)[:64] if fingerprint else None)


def charge(customer_id: str, payment_method_id: str, amount: int, currency: str, idempotency_key: str,
           metadata: dict, off_session: bool = True) -> ChargeResult:
    """Create and confirm a PaymentIntent for a saved card. Declines come back as a failed result,
    never as an exception; a network or API failure raises GatewayError."""
    params = {"amount": amount, "currency": currency.lower(), "customer": customer_id,
              "payment_method": payment_method_id, "confirm": True, "metadata": metadata,
              "payment_method_types": ["card"]}
    if off_session:
        params["off_session"] = True
    try:
        intent = _call(client().v1.payment_intents.create, params=params,
                       options={"idempotency_key": idempotency_key})
    except stripe.CardError as error:
        body = error.json_body.get("error", {}) if error.json_body else {}
        intent_id = (body.get("payment_intent") or {}).get("id") if isinstance(body.get("payment_intent"), dict) \
            else body.get("payment_intent")
        code = body.get("decline_code") or body.get("code") or error.code
        if intent_id is None and body.get("charge"):  # localstripe names only the charge
            try:
                intent_id = payment_intent_of_charge(body["charge"])
            except GatewayError:
                pass
        return ChargeResult("failed", intent_id, body.get("charge"), error_code=code,
                            message=error.user_message or str(error))
    return _intent_result(intent)


def _charge_id(intent) -> str | None:
    latest = getattr(intent, "latest_charge", None)
    if latest is None:
        return None
    return latest if isinstance(latest, str) else latest.id


def _intent_result(intent) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult("succeeded", intent.id, _charge_id(intent))
    if intent.status == "requires_action":
        return ChargeResult("requires_action", intent.id, client_secret=intent.client_secret,
                            error_code="authentication_required")
    error = getattr(intent, "last_payment_error", None)
    return ChargeResult("failed", intent.id, _charge_id(intent),
                        error_code=getattr(error, "code", None) or intent.status,
                        message=getattr(error, "message", None))


def payment_intent_result(payment_intent_id: str) -> ChargeResult:
    """The current outcome of a PaymentIntent (after 3-D Secure, or when a webhook arrives)."""
    return _intent_result(_call(client().v1.payment_intents.retrieve, payment_intent_id))


def refund(payment_intent_id: str, amount: int, idempotency_key: str, metadata: dict) -> str:
    """Refund amount (minor units) of a succeeded PaymentIntent; returns the refund id."""
    result = _call(client().v1.refunds.create,
                   params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
                   options={"idempotency_key": idempotency_key})
    return result.id


def detach_card(payment_method_id: str) -> None:
    """Forget a saved card (the campaign failed, or the backer replaced it)."""
    try:
        _call(client().v1.payment_methods.detach, payment_method_id)
    except GatewayError:
        current_app.logger.warning("Could not detach %s; it may be detached already", payment_method_id)


WEBHOOK_TOLERANCE_SECONDS = 300  # a signed timestamp may be this far in the past or in the future


def _signed_timestamp(signature_header: str) -> int:
    for item in signature_header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise ValueError("Unable to extract timestamp and signatures from header.")


def verify_event(payload: bytes, signature_header: str | None):
    """The Event in a webhook body if its Stripe-Signature is valid and fresh (its timestamp within
    WEBHOOK_TOLERANCE_SECONDS either way: Stripe's own check bounds only the past) and the body is
    a JSON object with an id and a type; raises ValueError otherwise."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise ValueError("No webhook secret is configured.")
    if not signature_header:
        raise ValueError("Missing Stripe-Signature header.")
    try:
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise ValueError(str(error)) from None
    if _signed_timestamp(signature_header) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise ValueError("Timestamp is in the future (outside the tolerance zone).")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, or nested too deep
        raise ValueError(f"Invalid payload: {str(error)[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise ValueError("Invalid payload: the event must be a JSON object with an id and a type.")
    try:
        return stripe.Event.construct_from(data, stripe.api_key)
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"Invalid payload: {str(error)[:200]}") from None


@dataclass(frozen=True)
class PaymentDetails:
    """A PaymentIntent as the ledger sees it: what was asked, what was taken, what was given back."""

    id: str
    status: str
    amount: int
    currency: str
    charge_id: str | None
    amount_refunded: int
    metadata: dict


@dataclass(frozen=True)
class RefundDetails:
    id: str
    amount: int
    status: str
    metadata: dict


def _metadata(obj) -> dict:
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata or {})


def payment_details(payment_intent_id: str) -> PaymentDetails | None:
    """Read a PaymentIntent back (with its latest charge); None when Stripe does not know it."""
    try:
        intent = client().v1.payment_intents.retrieve(payment_intent_id, params={"expand": ["latest_charge"]})
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            return None
        raise GatewayError(getattr(error, "user_message", None) or str(error)) from error
    except stripe.StripeError as error:
        raise GatewayError(getattr(error, "user_message", None) or str(error)) from error
    latest = getattr(intent, "latest_charge", None)
    refunded = getattr(latest, "amount_refunded", 0) if latest is not None and not isinstance(latest, str) else 0
    return PaymentDetails(intent.id, intent.status, intent.amount, intent.currency.upper(), _charge_id(intent),
                          int(refunded or 0), _metadata(intent))


def refunds_of(payment_intent_id: str) -> list[RefundDetails]:
    """Every refund Stripe made of a PaymentIntent, whatever the ledger says."""
    listing = _call(client().v1.refunds.list, params={"payment_intent": payment_intent_id, "limit": 100})
    return [RefundDetails(r.id, r.amount, r.status, _metadata(r)) for r in listing.auto_paging_iter()]


def payment_intent_of_charge(charge_id: str) -> str | None:
    """The PaymentIntent a charge belongs to (disputes and refund events name the charge)."""
    charge_object = _call(client().v1.charges.retrieve, charge_id)
    intent = getattr(charge_object, "payment_intent", None)
    return intent if isinstance(intent, str) or intent is None else intent.id


def payment_intent_client_secret(payment_intent_id: str) -> str:
    """The client secret the browser needs to confirm a PaymentIntent on-session (read back, never stored)."""
    return _call(client().v1.payment_intents.retrieve, payment_intent_id).client_secret


def find_payment_intent(customer_id: str | None, metadata_key: str, value: str) -> ChargeResult | None:
    """The outcome of the customer's PaymentIntent whose metadata[metadata_key] is value, found
    through the customer's charges (listing intents by customer is not in localstripe); None when
    there is none. An intent that never made a charge (3-D Secure pending) moved no money."""
    if not customer_id:
        return None
    charges = _call(client().v1.charges.list, params={"customer": customer_id, "limit": 100})
    seen = set()
    for charge_object in charges.data:
        intent_id = getattr(charge_object, "payment_intent", None)
        intent_id = intent_id if isinstance(intent_id, str) or intent_id is None else intent_id.id
        if not intent_id or intent_id in seen:
            continue
        seen.add(intent_id)
        intent = _call(client().v1.payment_intents.retrieve, intent_id)
        if _metadata(intent).get(metadata_key) == value:
            return _intent_result(intent)
    return None


def setup_intent_belongs_to(setup_intent_id: str, customer_id: str, pledge_id: int) -> bool:
    """Whether a SetupIntent named by the browser was made for this customer and pledge."""
    try:
        intent = _call(client().v1.setup_intents.retrieve, setup_intent_id)
    except GatewayError:
        return False
    customer = getattr(intent, "customer", None)
    customer = customer if isinstance(customer, str) or customer is None else customer.id
    return customer == customer_id and _metadata(intent).get("pledge_id") == str(pledge_id)


# --- Connect: founders' payout accounts and transfers to them (crowdfund/payouts) -----------------

@dataclass(frozen=True)
class AccountStatus:
    details_submitted: bool
    transfers_active: bool
    payouts_enabled: bool


def create_connect_account(email: str, user_id: int, country: str | None = None) -> str:
    """A new Express account for a founder, able to receive transfers once onboarded; returns its id."""
    params = {"type": "express", "email": email, "capabilities": {"transfers": {"requested": True}},
              "metadata": {"user_id": str(user_id)}}
    if country:
        params["country"] = country
    return _call(client().v1.accounts.create, params=params).id


def account_link_url(account_id: str, refresh_url: str, return_url: str) -> str:
    """Where to send the founder to fill in (or finish) the account's onboarding at Stripe."""
    return _call(client().v1.account_links.create, params={
        "account": account_id, "refresh_url": refresh_url, "return_url": return_url,
        "type": "account_onboarding"}).url


def account_status(account_id: str) -> AccountStatus:
    """The account as Stripe sees it now (after onboarding, or on account.updated)."""
    account = _call(client().v1.accounts.retrieve, account_id)
    capabilities = getattr(account, "capabilities", None) or {}
    # SDK 16 objects are not dicts (no .get): read the capability as an attribute.
    transfers = capabilities.get("transfers") if hasattr(capabilities, "get") else getattr(capabilities, "transfers", None)
    return AccountStatus(bool(getattr(account, "details_submitted", False)), transfers == "active",
                         bool(getattr(account, "payouts_enabled", False)))


def create_transfer(amount: int, currency: str, destination: str, transfer_group: str, idempotency_key: str,
                    metadata: dict) -> str:
    """Move amount (minor units) of the platform's balance to a connected account; returns the transfer id."""
    return _call(client().v1.transfers.create, params={
        "amount": amount, "currency": currency.lower(), "destination": destination,
        "transfer_group": transfer_group, "metadata": metadata},
        options={"idempotency_key": idempotency_key}).id


def find_transfer(transfer_group: str, metadata_key: str, value: str) -> str | None:
    """The id of the transfer in the group whose metadata[metadata_key] is value, or None (used to
    learn whether a transfer whose call failed midway was made after all)."""
    transfers = _call(client().v1.transfers.list, params={"transfer_group": transfer_group, "limit": 100})
    for transfer in transfers.data:
        if _metadata(transfer).get(metadata_key) == value:
            return transfer.id
    return None
