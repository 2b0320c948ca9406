"""The default run (`make run`): the Stripe stand-in and the web app, started and stopped together.

    python -m crowdfund.devserver --host 127.0.0.1 --port 5000

Without STRIPE_SECRET_KEY it starts the stand-in (crowdfund.payments.stripe_standin) at
STRIPE_STANDIN_URL, waits until it answers, registers a webhook pointing at this server's
/stripe/webhook with the app's STRIPE_WEBHOOK_SECRET, and serves the app. When the server stops
(Ctrl-C, SIGTERM, or an error) the stand-in is stopped too; if this process is killed outright,
Linux stops the stand-in (parent-death signal). With STRIPE_SECRET_KEY set, no stand-in: the app
talks to Stripe.

Unless PUBLIC_URL is set, it is this server's address (--host, --port), so that links (which come from
PUBLIC_URL only) point here; TRUSTED_HOSTS, unless set, is its host, 127.0.0.1 and localhost. The
`Server` header says "crowdfund", not the Werkzeug and Python versions.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler

WEBHOOK_ID = "crowdfund"
SERVER_NAME = "crowdfund"


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, naming no versions in the Server header (nor in SERVER_SOFTWARE)."""

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return SERVER_NAME

    def version_string(self) -> str:
        return SERVER_NAME


def public_url_of(host: str, port: int) -> str:
    """This server's address as a browser reaches it (a wildcard bind is reached on 127.0.0.1)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


def use_server_address(app, host: str, port: int) -> None:
    """PUBLIC_URL (and TRUSTED_HOSTS) from --host and --port, unless they are set in the environment."""
    from config import default_trusted_hosts
    from crowdfund.http_errors import trusted_hosts

    if os.environ.get("PUBLIC_URL"):
        return
    url = public_url_of(host, port)
    os.environ["PUBLIC_URL"] = app.config["PUBLIC_URL"] = url
    if not os.environ.get("TRUSTED_HOSTS"):
        app.config["TRUSTED_HOSTS"] = default_trusted_hosts(url)
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app)  # with the new PUBLIC_URL's host


def _request(method: str, url: str, body: dict | None = None, timeout: float = 5):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def standin_answers(base_url: str) -> bool:
    try:
        return _request("GET", base_url + "/_standin/health", timeout=1) == 200
    except (OSError, urllib.error.URLError):
        return False


def _die_with_parent():
    """In the child: get SIGTERM when the parent dies (Linux), so no stand-in outlives the run."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class StandinProcess:
    """The stand-in launcher as a child process, logging to log_path."""

    def __init__(self, base_url: str, log_path: Path):
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 8420
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crowdfund.payments.stripe_standin", "--host", self.host, "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"The Stripe stand-in exited ({self.process.returncode}); see {self.log_path}")
            if standin_answers(self.base_url):
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"The Stripe stand-in did not answer within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def register_webhook(standin_url: str, endpoint: str, secret: str) -> None:
    """Have the stand-in deliver its events to endpoint, signed with secret (docs/localstripe.md)."""
    _request("POST", f"{standin_url}/_config/webhooks/{WEBHOOK_ID}", {"url": endpoint, "secret": secret})


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)

    from crowdfund import create_app

    app = create_app()
    use_server_address(app, args.host, args.port)
    standin = None
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        if not app.config.get("STRIPE_SECRET_KEY"):
            url = app.config["STRIPE_STANDIN_URL"].rstrip("/")
            if standin_answers(url):
                print(f" * A Stripe stand-in already answers at {url}; using it", flush=True)
            else:
                standin = StandinProcess(url, Path(app.config["INSTANCE_DIR"]) / "stripe-standin.log")
                standin.start()
                print(f" * Stripe stand-in (test mode, no real money) at {url}, log {standin.log_path}", flush=True)
            secret = app.config.get("STRIPE_WEBHOOK_SECRET")
            if secret:
                endpoint = f"http://{args.host}:{args.port}/stripe/webhook"
                register_webhook(url, endpoint, secret)
                print(f" * Stand-in webhooks go to {endpoint}", flush=True)
            else:
                print(" * STRIPE_WEBHOOK_SECRET is not set: the stand-in's webhooks are not registered", flush=True)
            print(" * Test card: 4242 4242 4242 4242, any future expiry, any CVC", flush=True)
        print(f" * Links point to PUBLIC_URL {app.config['PUBLIC_URL']}", flush=True)
        app.run(host=args.host, port=args.port, use_reloader=False, request_handler=QuietRequestHandler)
    except KeyboardInterrupt:
        pass
    finally:
        if standin is not None:
            standin.stop()


if __name__ == "__main__":
    main()
