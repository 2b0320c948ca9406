"""Benchmark: gunicorn's worker class (sync against gthread) on a page that waits only on the
database and a page that waits on Stripe.

    .venv/bin/python bench/workers.py [--stripe-delay-ms 300] [--duration 10] [--connections 16]
                                      [--threads 4 8] [--repeat 3] [--database-url postgresql://...]
                                      [--no-write]

Builds a fresh database (SQLite in a temporary directory unless --database-url names an empty
PostgreSQL database or schema) with the demo platform (`crowdfund.demo`: five live campaigns with
covers, backers and pledges) and one more backer whose pending pledge has a Stripe customer and
SetupIntent in a Stripe stand-in started on a free port. Between the app and the stand-in sits a
small proxy in this process that holds every request for --stripe-delay-ms before passing it on,
so the stand-in answers about as slowly as Stripe does from a server (production code is not
touched: the app's STRIPE_STANDIN_URL simply points at the proxy).

Then it serves the app as `make serve` does (`gunicorn -c gunicorn.conf.py wsgi:app`, two workers,
the class and threads from GUNICORN_WORKER_CLASS / GUNICORN_THREADS): sync, and gthread with each
--threads, once with a new connection per request (as behind nginx's default proxying) and once
with keep-alive. A fresh server for every run loads each page with wrk (apt package `wrk`), 16
connections for 10 s, --repeat times, interleaved; the medians are reported. The pages:

  1. the campaign page, /c/<slug>, as a visitor (no Stripe call), rendered for every request (the
     page cache is off, PAGE_CACHE_SECONDS=0: it is the worker class that is measured);
  2. the card step of the pledge flow, /pledges/<id>/card, as the backer: it reads the pledge's
     SetupIntent back from Stripe for its client secret (one Stripe round trip per page).

It prints requests per second and the 50th and 99th percentile latency per (worker class, page),
checks that every answer was a 200, and writes the figures to docs/benchmarks.md.
"""
import argparse
import http.client
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from http.cookiejar import CookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.results import RESULTS, write_section  # noqa: E402  (after the sys.path insert)
from bench.serving import WRK_STATUS_SCRIPT, Gunicorn, free_port, run_wrk, wrk_version  # noqa: E402
from crowdfund.devserver import StandinProcess  # noqa: E402

WORKERS = 2
BACKER_EMAIL = "bench-backer@example.com"
BACKER_PASSWORD = "bench-workers-2026"  # a throwaway account in a temporary database
# Headers that belong to one HTTP hop and are not passed on by the proxy.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


class DelayingProxy(ThreadingHTTPServer):
    """An HTTP/1.1 proxy on 127.0.0.1 that waits `delay` seconds, then passes each request on to
    `upstream` (the stand-in) and its answer back: a stand-in that answers as slowly as Stripe."""

    daemon_threads = True

    def __init__(self, upstream: str, delay: float):
        super().__init__(("127.0.0.1", 0), _ForwardHandler)
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.delay = delay
        self.forwarded = 0
        self._count_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, name="delaying-proxy", daemon=True).start()


class _ForwardHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Stripe SDK's connection pool expects
    _upstream: http.client.HTTPConnection | None = None

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        time.sleep(self.server.delay)
        for attempt in (1, 2):  # once more on a fresh connection if the kept-alive one was closed
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
            try:
                self._upstream.request(self.command, self.path, body, headers)
                answer = self._upstream.getresponse()
                payload = answer.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        with self.server._count_lock:
            self.server.forwarded += 1
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def build_app(database_url: str, instance_dir: Path, standin_url: str):
    from config import DevelopmentConfig
    from crowdfund import create_app

    config = {k: getattr(DevelopmentConfig, k) for k in dir(DevelopmentConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=database_url, INSTANCE_DIR=instance_dir, UPLOAD_DIR=instance_dir / "uploads",
                  STRIPE_SECRET_KEY=None, STRIPE_PUBLISHABLE_KEY=None, STRIPE_STANDIN_URL=standin_url,
                  CELERY_BROKER_URL=None, IN_PROCESS_TICKER=False, MAIL_BACKEND="memory", RATELIMIT_ENABLED=False,
                  LOG_LEVEL="WARNING")
    return create_app(config)


def seed() -> tuple[str, int]:
    """The demo platform plus a backer with a pending pledge (Stripe customer and SetupIntent made in
    the stand-in by the pledge service itself) on a live campaign; returns (that campaign's slug,
    the pledge id)."""
    from werkzeug.security import generate_password_hash

    from crowdfund.accounts.models import User
    from crowdfund.campaigns.models import Campaign
    from crowdfund.clock import utcnow
    from crowdfund.demo import load_demo_data
    from crowdfund.extensions import db
    from crowdfund.pledges import services

    load_demo_data()
    now = utcnow()
    campaign = db.session.execute(db.select(Campaign).where(
        Campaign.state == "live", Campaign.funding_model == "all_or_nothing", Campaign.featured.is_(True))
    ).scalar_one()
    backer = User(email=BACKER_EMAIL, display_name="Bench Backer", role="backer", email_verified_at=now,
                  password_hash=generate_password_hash(BACKER_PASSWORD, method="scrypt:1024:8:1"))
    db.session.add(backer)
    db.session.flush()
    thank_you = min(campaign.reward_tiers, key=lambda tier: tier.minimum_amount)
    pledge = services.start_pledge(campaign, backer, thank_you, thank_you.minimum_amount * 2, None, now)
    db.session.commit()
    return campaign.slug, pledge.id


def log_in(base_url: str) -> str:
    """Log the bench backer in through the login form; returns the Cookie header for later requests."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base_url + "/login", timeout=10) as answer:
        page = answer.read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise SystemExit("No CSRF token on the login page")
    form = urllib.parse.urlencode({"email": BACKER_EMAIL, "password": BACKER_PASSWORD,
                                   "csrf_token": token.group(1)}).encode()
    with opener.open(base_url + "/login", data=form, timeout=10) as answer:
        answer.read()
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)
    if "session=" not in cookies:
        raise SystemExit("Logging in gave no session cookie")
    return cookies


def fetch(url: str, cookie: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def warm_up(url: str, cookie: str | None, clients: int) -> None:
    """Two requests from each of `clients` concurrent clients, each answered before the load starts
    (so every worker and thread has rendered the page once and opened its connections)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(lambda _: fetch(url, cookie)[0], range(2 * clients)))
    if set(statuses) != {200}:
        raise SystemExit(f"Warming up {url}: answers {sorted(set(statuses))}")


class Row:
    """One (server setup, page) measured --repeat times; the figures are the medians."""

    def __init__(self, worker_class: str, threads: int, keep_alive: bool, page: str, path: str, as_backer: bool):
        self.worker_class, self.threads, self.keep_alive = worker_class, threads, keep_alive
        self.page, self.path, self.as_backer = page, path, as_backer
        self.runs: list[dict] = []

    @property
    def server(self) -> str:
        if self.worker_class == "sync":
            return "sync"  # a sync worker closes every connection after its answer anyway
        connections = "keep-alive" if self.keep_alive else "new connection per request"
        return f"gthread, {self.threads} threads, {connections}"

    @property
    def calls_stripe(self) -> bool:
        return self.as_backer

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)


def measure(row: Row, env: dict, tmp: Path, proxy: DelayingProxy, args, script: Path, servers: list) -> dict:
    # A fresh server for every run: a sync worker still serves the requests queued by connections
    # that wrk has closed, which would slow down whatever is measured next.
    server = Gunicorn(env, tmp / f"gunicorn-{len(servers)}.log", workers=WORKERS, worker_class=row.worker_class,
                      threads=row.threads,
                      label="sync" if row.worker_class == "sync" else f"gthread, {row.threads} threads")
    servers.append(server)
    server.start()
    try:
        cookie = log_in(server.url) if row.as_backer else None
        headers = {} if row.keep_alive else {"Connection": "close"}
        status, body = fetch(server.url + row.path, cookie)
        if status != 200 or (row.as_backer and "seti_" not in body):
            raise SystemExit(f"{row.path} answered {status} ({row.server}); see {server.log_path}")
        warm_up(server.url + row.path, cookie, args.connections)
        load, forwarded = os.getloadavg()[0], proxy.forwarded
        figures = run_wrk(server.url + row.path, args.connections, args.duration, script,
                          {**headers, "Cookie": cookie} if cookie else headers)
        figures.update(stripe_calls=proxy.forwarded - forwarded, load=load)
    finally:
        server.stop()
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stripe-delay-ms", type=int, default=300, help="how long the stand-in takes to answer")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[4, 8], help="gthread runs, threads per worker")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row, interleaved; the medians are reported")
    parser.add_argument("--database-url", help="an EMPTY database to use instead of a temporary SQLite file")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(PROJECT_DIR)}")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # so that the servers and the stand-in are stopped

    with tempfile.TemporaryDirectory(prefix="crowdfund-bench-workers-") as tmp:
        tmp = Path(tmp)
        database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        instance_dir = tmp / "instance"
        standin = StandinProcess(f"http://127.0.0.1:{free_port()}", tmp / "standin.log")
        proxy = DelayingProxy(standin.base_url, args.stripe_delay_ms / 1000)
        servers: list[Gunicorn] = []
        try:
            standin.start()
            proxy.start()
            app = build_app(database_url, instance_dir, standin.base_url)
            with app.app_context():
                from flask_migrate import upgrade

                from crowdfund.extensions import db

                upgrade()
                print("Loading the demo platform and a backer with a pending pledge ...", flush=True)
                slug, pledge_id = seed()
                dialect = db.engine.dialect.name
                db.engine.dispose()
            env = {name: value for name, value in os.environ.items()
                   if not name.startswith(("STRIPE_", "CELERY_", "GUNICORN_", "RATELIMIT_", "MAIL_"))}
            env.update(CROWDFUND_ENV="development", DATABASE_URL=database_url, SECRET_KEY="bench-workers-only",
                       CROWDFUND_INSTANCE_DIR=str(instance_dir), UPLOAD_DIR=str(instance_dir / "uploads"),
                       STRIPE_STANDIN_URL=proxy.url, IN_PROCESS_TICKER="0", RATELIMIT_ENABLED="0",
                       MAIL_BACKEND="log", LOG_LEVEL="WARNING", PUBLIC_URL="http://127.0.0.1", TRUSTED_HOSTS="127.0.0.1",
                       # Every request renders its page: the worker class is what is measured, not the
                       # page cache (which would answer the visitor's campaign page from memory).
                       PAGE_CACHE_SECONDS="0")
            script = tmp / "statuses.lua"
            script.write_text(WRK_STATUS_SCRIPT)
            pages = [("campaign page (no Stripe call)", f"/c/{slug}", False),
                     ("card step of the pledge flow (one Stripe call)", f"/pledges/{pledge_id}/card", True)]
            setups = [("sync", 1, False)] + [("gthread", threads, keep_alive)
                                             for threads in args.threads for keep_alive in (False, True)]
            rows = [Row(*setup, *page) for page in pages for setup in setups]
            for round_ in range(1, args.repeat + 1):
                for row in rows:  # interleaved, so that other load on the machine falls on every row alike
                    figures = measure(row, env, tmp, proxy, args, script, servers)
                    row.runs.append(figures)
                    print(f"run {round_}/{args.repeat} | {row.server:<42} | {row.page:<46} | "
                          f"{figures['rps']:7.1f} req/s | p50 {figures['p50']:7.1f} ms | p99 {figures['p99']:7.1f} ms "
                          f"| load {figures['load']:.1f} | statuses {figures['statuses']}", flush=True)
        except BaseException:
            for server in servers[-1:]:  # what the server said, before its temporary directory goes
                print(f"--- the end of {server.log_path.name} ---", file=sys.stderr)
                print("\n".join(server.log_path.read_text().splitlines()[-40:]), file=sys.stderr)
            raise
        finally:
            for server in servers:
                server.stop()
            proxy.shutdown()
            standin.stop()

    bad = [(row, run) for row in rows for run in row.runs
           if set(run["statuses"]) != {200} or run["errors"] not in ("", "connect 0, read 0, write 0, timeout 0")]
    for row, run in bad:
        print(f"{row.server}, {row.page}: statuses {run['statuses']}, socket errors {run['errors']}\n{run['output']}")
    if bad:
        raise SystemExit("Some answers were not 200 (see above): the figures are not written.")
    print()
    for row in rows:
        print(f"median of {args.repeat} | {row.server:<42} | {row.page:<46} | {row.median('rps'):7.1f} req/s | "
              f"p50 {row.median('p50'):7.1f} ms | p99 {row.median('p99'):7.1f} ms")
    loads = [run["load"] for row in rows for run in row.runs]
    figures = {
        "rows": rows, "delay": args.stripe_delay_ms, "duration": args.duration, "repeat": args.repeat,
        "connections": args.connections,
        "dialect": {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect, dialect),
        "database": f"{dialect} ({'temporary file' if not args.database_url else 'given URL'})",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"{platform.system()}",
        "gunicorn": metadata.version("gunicorn"), "wrk": wrk_version(), "date": date.today().isoformat(),
        "load": (min(loads), max(loads)),
    }
    print("\n".join(conclusion(figures)))
    if not args.no_write:
        write_results(figures)
        print(f"Written to {RESULTS.relative_to(PROJECT_DIR)}")


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def conclusion(figures: dict) -> list[str]:
    """What the figures say about the worker class, in figures (printed, and written to the results)."""
    rows = figures["rows"]

    def find(calls_stripe, worker_class, keep_alive=False, threads=None):
        return next(r for r in rows if r.calls_stripe == calls_stripe and r.worker_class == worker_class
                    and r.keep_alive == keep_alive and (threads is None or r.threads == threads))

    sync_stripe, sync_page = find(True, "sync"), find(False, "sync")
    best = max((r for r in rows if r.calls_stripe and r.worker_class == "gthread" and not r.keep_alive),
               key=lambda r: r.median("rps"))
    same_page = find(False, "gthread", threads=best.threads)
    page_kept = find(False, "gthread", keep_alive=True, threads=best.threads)
    ceiling = WORKERS * 1000 / figures["delay"]
    page_change = same_page.median("rps") / sync_page.median("rps") - 1
    gain = best.median("rps") / sync_stripe.median("rps")
    verdict = "gthread" if gain >= 1.5 and page_change > -0.1 else "no clear winner: look at the table"
    return [
        f"**Conclusion: {verdict}.** On the page that waits on Stripe, gthread with {best.threads} threads serves "
        f"{best.median('rps'):.1f} requests/s against {sync_stripe.median('rps'):.1f} for sync "
        f"({gain:.1f}×), p50 {best.median('p50'):.0f} ms against "
        f"{sync_stripe.median('p50'):.0f} ms and p99 {best.median('p99'):.0f} ms against "
        f"{sync_stripe.median('p99'):.0f} ms. A sync worker is held for the whole Stripe round trip, so {WORKERS} "
        f"sync workers can serve at most {WORKERS} / {figures['delay'] / 1000:.1f} s = {ceiling:.1f} such pages "
        "a second however idle the CPU is, and every other request queues behind them; a gthread worker "
        f"holds only a thread ({WORKERS} × {best.threads} = {WORKERS * best.threads} waits at once).",
        "",
        f"On the campaign page, which waits on nothing, gthread with {best.threads} threads serves "
        f"{same_page.median('rps'):.1f} requests/s against {sync_page.median('rps'):.1f} for sync "
        f"({page_change:+.0%}) with a new connection per request, as behind a proxy that does not keep "
        f"connections to gunicorn open (nginx's default), and {page_kept.median('rps'):.1f} with keep-alive, "
        "which a sync worker does not offer."
        + (f" The machine was busy with other work (load average up to {figures['load'][1]:.0f} on "
           f"{os.cpu_count()} CPUs), and there a process with more runnable threads gets a larger share of the "
           "CPU, which flatters gthread on this CPU-bound page: compare the classes on it on a quiet machine. "
           "The Stripe page's figures hardly depend on it (they are bound by the wait)."
           if figures["load"][1] > os.cpu_count() else ""),
    ]


def write_results(figures: dict) -> None:
    heading = f"## gunicorn worker class, sync or gthread, on {figures['dialect']} (`bench/workers.py`)"
    rows = figures["rows"]
    table = [f"| {row.page} | {row.server} | **{row.median('rps'):.1f}** "
             f"({', '.join(format(run['rps'], '.1f') for run in row.runs)}) | {row.median('p50'):.0f} ms | "
             f"{row.median('p99'):.0f} ms |" for row in rows]
    stripe_calls = sum(run["stripe_calls"] for row in rows if row.calls_stripe for run in row.runs)
    requests = sum(run["requests"] for row in rows if row.calls_stripe for run in row.runs)
    lines = [
        heading,
        "",
        f"`gunicorn -c gunicorn.conf.py wsgi:app` with {WORKERS} workers, as `make serve` runs it (a fresh server "
        f"for every run, warmed up with {2 * figures['connections']} requests), loaded by wrk with "
        f"{figures['connections']} connections for {figures['duration']} s; {figures['repeat']} runs per row, "
        "interleaved, and the medians. The database holds the demo platform (five live campaigns with covers, "
        f"backers and pledges). The Stripe stand-in answers through a proxy that holds every request for "
        f"{figures['delay']} ms, about what Stripe takes from a server. The card step of the pledge flow "
        "(`/pledges/<id>/card`, the backer logged in) reads the pledge's SetupIntent back from Stripe for its "
        "client secret (one Stripe call per page: "
        f"{stripe_calls:,} calls during the runs, which answered {requests:,} pages); the campaign page "
        "(`/c/<slug>`, a visitor) calls nothing outside the app and is rendered for every request (the page cache is off, "
        "`PAGE_CACHE_SECONDS=0`: the worker class is what is measured). Every answer was a 200.",
        "",
        "| page | worker class | requests/s (each run) | p50 | p99 |",
        "|---|---|---|---|---|",
        *table,
        "",
        "| figure | value |",
        "|---|---|",
        f"| Stripe latency added by the proxy | {figures['delay']} ms per call |",
        f"| gunicorn | {figures['gunicorn']}, {WORKERS} workers |",
        f"| wrk | {figures['wrk']}, 2 threads, {figures['connections']} connections |",
        f"| database | {figures['database']} |",
        f"| machine | {figures['machine']}; wrk, the stand-in and the proxy run on it too |",
        f"| 1-minute load average at the start of the runs | {figures['load'][0]:.1f} to {figures['load'][1]:.1f} |",
        f"| date | {figures['date']} |",
        "",
        *conclusion(figures),
        "",
    ]
    write_section(heading, lines)


if __name__ == "__main__":
    main()
