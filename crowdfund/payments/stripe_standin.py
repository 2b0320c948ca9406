"""The Stripe stand-in for the default run and the tests: localstripe plus the project's own routes.

    python -m crowdfund.payments.stripe_standin --host 127.0.0.1 --port 8420

Why not localstripe's own command line: it binds every interface (``::``), reloads its state from
``/tmp/localstripe.pickle`` and rewrites that pickle on every write. Here the same aiohttp app
(``localstripe.server.app``) is served on one host only, from empty state, in memory only.
localstripe is GPL: it is installed from PyPI (the ``test`` extra) and used, never copied. It and
aiohttp (its dependency) are imported only when the launcher runs, so ``crowdfund`` works without them.

Routes: everything localstripe serves (``/v1/...``, its stand-in Stripe.js at ``/js.stripe.com/v3/``,
``DELETE /_config/data`` to empty the store, ``POST /_config/webhooks/{id}`` to register a webhook)
plus the project's own test-only routes: Stripe Connect (accounts, account links, transfers, under
``/v1/``, and the stand-in onboarding page under ``/_standin/connect/``; see
crowdfund.payments.standin_connect) and ``/_standin/health``. docs/localstripe.md tells how it behaves.
"""
import argparse
import logging
import sys

log = logging.getLogger("crowdfund.stripe_standin")


async def health(request):
    """GET /_standin/health: answers once the server is up (the test fixture waits for it)."""
    from aiohttp import web
    from localstripe.resources import store

    return web.json_response({"status": "ok", "objects": len(store)})


# The project's own routes. Stripe-shaped ones (e.g. /v1/accounts later) should NOT live under
# /_standin/: they then get localstripe's API-key check and error format, like real Stripe routes.
def standin_routes():
    from crowdfund.payments import standin_connect

    return [("GET", "/_standin/health", health), *standin_connect.ROUTES]


async def standin_routes_bypass(request, handler):
    """Outermost middleware: /_standin/ routes skip localstripe's middlewares.

    Those demand an ``sk_`` key on every path but /_config/ and /js.stripe.com/ (and save the
    store), which is wrong for a health check that anyone may call.

    Also: localstripe's reset (DELETE /_config/data) empties the project's Connect data too."""
    if request.method == "DELETE" and request.path == "/_config/data":
        from crowdfund.payments import standin_connect

        standin_connect.reset()
    if request.path.startswith("/_standin/"):
        return await request.match_info.handler(request)
    return await handler(request)


standin_routes_bypass.__middleware_version__ = 1  # what aiohttp's @web.middleware sets


def build_app():
    """localstripe's aiohttp app, from empty state, in memory only, with the project's routes.

    Call it once per process: localstripe's app and store are module globals."""
    from localstripe.resources import store
    from localstripe.server import app

    # Start from scratch and stay in memory: only localstripe's own start() loads the pickle, and
    # an instance attribute shadows Store.dump_to_disk, which every store write and localstripe's
    # save-store middleware call (pickling the whole store each time: slow, and shared via /tmp).
    store.clear()
    store.dump_to_disk = lambda: None

    # localstripe's routes are absolute (/v1, /js.stripe.com, /_config), so its app cannot be
    # mounted under a prefix, and aiohttp resolves a catch-all add_domain("*") sub-app before the
    # parent's own routes. So the project's routes go into localstripe's router (allowed until the
    # app freezes at startup), plus a middleware in front of its own.
    for method, path, handler in standin_routes():
        app.router.add_route(method, path, handler)
    app.middlewares.insert(0, standin_routes_bypass)
    return app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="the one address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args(argv)

    # Everything goes to stderr: the startup line, the access log and localstripe's webhook
    # delivery messages (it logs them on the "aiohttp.access" logger).
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        from aiohttp import web

        app = build_app()
    except ImportError as exc:
        sys.exit(f"stripe_standin: {exc}; install the test extra: pip install -e '.[test]'")

    # run_app turns SIGINT and SIGTERM into a graceful shutdown (exit status 0); a short
    # shutdown_timeout keeps the stop quick even with a webhook delivery in flight.
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=logging.getLogger("aiohttp.access"),
        print=lambda message: log.info(message.strip()),
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
