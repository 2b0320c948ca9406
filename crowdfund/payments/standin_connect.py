"""The stand-in's Stripe Connect routes: Express accounts, account links, onboarding and transfers.

localstripe implements none of Connect, so the launcher (crowdfund.payments.stripe_standin) adds
these. Test-only: served by the launcher process, never imported by the app. They imitate the
parts of Stripe the app uses (crowdfund/payments/gateway.py, "Connect"), Stripe-shaped:

    POST /v1/accounts                       type, email, country, capabilities[transfers][requested], metadata
    GET  /v1/accounts/{id}
    POST /v1/account_links                  account, refresh_url, return_url, type=account_onboarding
    GET  /_standin/connect/onboard/{id}     "Test onboarding" page (what the account link points at)
    POST /_standin/connect/onboard/{id}     completes onboarding, 303 to return_url; emits account.updated
    POST /v1/transfers                      amount, currency, destination, transfer_group, metadata; Idempotency-Key
    GET  /v1/transfers/{id}
    GET  /v1/transfers                      transfer_group, destination, limit

The /v1/ routes sit in localstripe's router, so they get its API-key check (401 without an sk_
key); errors are Stripe-shaped ({"error": {"type", "message", "code", "param"}}). Form bodies are
parsed with localstripe's own helpers (nested keys such as metadata[release_id]). The data lives
in CONNECT, a dict in the launcher process, emptied with localstripe's store by DELETE /_config/data.
"""
import html
import json
import time
from urllib.parse import urlencode, urlsplit

from aiohttp import web

# accounts: id → account dict; transfers: id → transfer dict (insertion order = creation order);
# idempotency: Idempotency-Key → (request parameters, transfer id).
CONNECT: dict[str, dict] = {"accounts": {}, "transfers": {}, "idempotency": {}}

ACCOUNT_TYPES = ("express", "standard", "custom")
LINK_LIFETIME = 300  # seconds, as Stripe's account links


def reset() -> None:
    for table in CONNECT.values():
        table.clear()


def _json(body, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda x: json.dumps(x, indent=2, sort_keys=True) + "\n")


def _error(status: int, message: str, code: str | None = None, param: str | None = None,
           type: str = "invalid_request_error") -> web.Response:
    error = {"type": type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return _json({"error": error}, status)


def _random_id(prefix: str) -> str:
    from localstripe.resources import random_id

    return prefix + random_id(14)


async def _form(request) -> dict:
    """The request's parameters, parsed as localstripe parses them (form or JSON body, nested keys)."""
    from localstripe.server import get_post_data, unflatten_data

    if request.method == "GET":
        return unflatten_data(request.query) or {}
    data = await get_post_data(request)
    return data if isinstance(data, dict) else {}


def _metadata(data: dict):
    """The metadata parameter: a flat dict of strings, or an error response."""
    metadata = data.get("metadata", {}) or {}
    if not isinstance(metadata, dict) or any(isinstance(v, (dict, list)) for v in metadata.values()):
        return None, _error(400, "Invalid metadata: must be a hash of strings.", param="metadata")
    return {str(k): str(v) for k, v in metadata.items()}, None


def _truthy(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _is_http_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _missing(resource: str, value: str, param: str | None = None, status: int = 404) -> web.Response:
    return _error(status, f"No such {resource}: '{value}'", code="resource_missing", param=param)


# --- accounts ---------------------------------------------------------------------------------

async def create_account(request):
    data = await _form(request)
    account_type = data.get("type")
    if account_type not in ACCOUNT_TYPES:
        return _error(400, f"Invalid type: must be one of {', '.join(ACCOUNT_TYPES)}", param="type")
    metadata, error = _metadata(data)
    if error:
        return error
    capabilities = data.get("capabilities") or {}
    if not isinstance(capabilities, dict):
        return _error(400, "Invalid capabilities: must be a hash", param="capabilities")
    requested = {name: "inactive" for name, value in capabilities.items()
                 if isinstance(value, dict) and _truthy(value.get("requested"))}
    account = {
        "id": _random_id("acct_"),
        "object": "account",
        "type": account_type,
        "email": data.get("email"),
        "country": data.get("country") or "US",
        "created": int(time.time()),
        "details_submitted": False,
        "payouts_enabled": False,
        "charges_enabled": False,
        "capabilities": requested,
        "metadata": metadata,
    }
    CONNECT["accounts"][account["id"]] = account
    return _json(account)


def _retrieve(kind: str):
    """GET /v1/<kind>s/{id}: the stored object, or Stripe's resource_missing error."""
    async def retrieve(request):
        found = CONNECT[kind + "s"].get(request.match_info["id"])
        if found is None:
            return _missing(kind, request.match_info["id"])
        return _json(found)
    return retrieve


retrieve_account = _retrieve("account")


async def create_account_link(request):
    data = await _form(request)
    account_id = data.get("account")
    if not account_id:
        return _error(400, "Missing required param: account.", code="parameter_missing", param="account")
    if account_id not in CONNECT["accounts"]:
        return _missing("account", account_id, param="account", status=400)
    if data.get("type") not in ("account_onboarding", "account_update"):
        return _error(400, "Invalid type: must be one of account_onboarding or account_update", param="type")
    for name in ("refresh_url", "return_url"):
        if not _is_http_url(data.get(name)):
            return _error(400, f"Invalid URL: {name} must be an http(s) URL.", code="url_invalid", param=name)
    base = f"{request.scheme}://{request.host}"
    query = urlencode({"return_url": data["return_url"], "refresh_url": data["refresh_url"]})
    now = int(time.time())
    return _json({
        "object": "account_link",
        "created": now,
        "expires_at": now + LINK_LIFETIME,
        "url": f"{base}/_standin/connect/onboard/{account_id}?{query}",
    })


ONBOARD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test onboarding</title></head>
<body>
<h1>Test onboarding</h1>
<p>Stripe stand-in: account {account_id} ({email}). Nothing is checked here.</p>
<form method="post" action="{action}">
<button type="submit">Complete onboarding</button>
</form>
</body></html>
"""


async def onboard_page(request):
    """GET: the page an account link leads to, standing in for Stripe's hosted onboarding."""
    account = CONNECT["accounts"].get(request.match_info["id"])
    if account is None:
        return web.Response(status=404, text="No such account", content_type="text/plain")
    action = request.path + (f"?{request.query_string}" if request.query_string else "")
    page = ONBOARD_PAGE.format(account_id=html.escape(account["id"]), email=html.escape(account["email"] or ""),
                               action=html.escape(action, quote=True))
    return web.Response(text=page, content_type="text/html")


async def onboard_complete(request):
    """POST: the account is onboarded (details submitted, capabilities active), then back to return_url."""
    from localstripe.resources import Event
    from localstripe.webhooks import schedule_webhook

    account = CONNECT["accounts"].get(request.match_info["id"])
    if account is None:
        return web.Response(status=404, text="No such account", content_type="text/plain")
    return_url = request.query.get("return_url")
    if not _is_http_url(return_url):
        return web.Response(status=400, text="return_url must be an http(s) URL", content_type="text/plain")
    account.update(details_submitted=True, payouts_enabled=True, charges_enabled=True)
    account["capabilities"] = {name: "active" for name in (account["capabilities"] or {"transfers": "active"})}
    # Stripe sends account.updated after onboarding; localstripe's own machinery delivers it (signed,
    # about a second later) to every registered webhook.
    schedule_webhook(Event("account.updated", _Exported(account)))
    raise web.HTTPSeeOther(return_url)


class _Exported:
    """What localstripe's Event wants for its data: something with _export()."""

    def __init__(self, obj: dict):
        self._obj = dict(obj)

    def _export(self, expand=None):
        return self._obj


# --- transfers --------------------------------------------------------------------------------

async def create_transfer(request):
    data = await _form(request)
    key = request.headers.get("Idempotency-Key")
    if key and key in CONNECT["idempotency"]:
        params, transfer_id = CONNECT["idempotency"][key]
        if params != data:
            return _error(400, "Keys for idempotent requests can only be used with the same parameters "
                               "they were first used with.", type="idempotency_error")
        return _json(CONNECT["transfers"][transfer_id])

    raw_amount = data.get("amount")
    try:
        amount = int(raw_amount)
    except (TypeError, ValueError):
        amount = None
    if amount is None or str(raw_amount).strip() != str(amount):
        return _error(400, "Invalid integer: amount", param="amount")
    if amount <= 0:
        return _error(400, "This value must be greater than or equal to 1.", param="amount")
    currency = data.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        return _error(400, "Invalid currency", param="currency")
    destination = data.get("destination")
    if not destination:
        return _error(400, "Missing required param: destination.", code="parameter_missing", param="destination")
    account = CONNECT["accounts"].get(destination)
    if account is None:
        return _missing("destination", destination, param="destination", status=400)
    if account["capabilities"].get("transfers") != "active":
        return _error(400, "Your destination account needs to have at least one of the following capabilities "
                           "enabled: transfers, crypto_transfers, legacy_payments",
                      code="insufficient_capabilities_for_transfer", param="destination")
    metadata, error = _metadata(data)
    if error:
        return error
    transfer = {
        "id": _random_id("tr_"),
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "currency": currency.lower(),
        "destination": destination,
        "transfer_group": data.get("transfer_group"),
        "metadata": metadata,
        "created": int(time.time()),
        "reversed": False,
        "livemode": False,
    }
    CONNECT["transfers"][transfer["id"]] = transfer
    if key:
        CONNECT["idempotency"][key] = (data, transfer["id"])
    return _json(transfer)


retrieve_transfer = _retrieve("transfer")


async def list_transfers(request):
    data = await _form(request)
    try:
        limit = int(data.get("limit", 10))
    except (TypeError, ValueError):
        return _error(400, "Invalid integer: limit", param="limit")
    if not 1 <= limit <= 100:
        return _error(400, "This value must be between 1 and 100.", param="limit")
    found = [t for t in reversed(CONNECT["transfers"].values())  # newest first, as Stripe lists
             if data.get("transfer_group") in (None, t["transfer_group"])
             and data.get("destination") in (None, t["destination"])]
    return _json({"object": "list", "url": "/v1/transfers", "data": found[:limit], "has_more": len(found) > limit})


ROUTES = [
    ("POST", "/v1/accounts", create_account),
    ("GET", "/v1/accounts/{id}", retrieve_account),
    ("POST", "/v1/account_links", create_account_link),
    ("GET", "/_standin/connect/onboard/{id}", onboard_page),
    ("POST", "/_standin/connect/onboard/{id}", onboard_complete),
    ("POST", "/v1/transfers", create_transfer),
    ("GET", "/v1/transfers/{id}", retrieve_transfer),
    ("GET", "/v1/transfers", list_transfers),
]
