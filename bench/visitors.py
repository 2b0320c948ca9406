"""The visitors bench/pages.py sends: which pages they ask for (Zipf weights over the campaigns,
drawn by wrk's Lua script and by the writer alike), signing in through the login form as a browser
does, warming the page cache, and the writer committing a real pledge every half second."""
import bisect
import concurrent.futures
import http.client
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie

ZIPF_S = 1.0
WRITE_EVERY_SECONDS = 0.5


def zipf_cumulative(n: int, s: float = ZIPF_S) -> list[float]:
    """The cumulative Zipf distribution over ranks 1..n (weight of rank k: 1/k**s), ending at 1.0."""
    if n < 1:
        raise ValueError("a Zipf distribution needs at least one item")
    total, cumulative = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank ** s
        cumulative.append(total)
    cumulative = [value / total for value in cumulative]
    cumulative[-1] = 1.0
    return cumulative


class ZipfSampler:
    """Draws items (most popular first) with Zipf weights; the same distribution the wrk script uses."""

    def __init__(self, items: list, s: float = ZIPF_S, rng: random.Random | None = None):
        self.items, self.cumulative = list(items), zipf_cumulative(len(items), s)
        self.rng = rng or random.Random(17)

    def index(self, u: float) -> int:
        """The rank (0-based) that the uniform draw u in [0, 1) falls on."""
        return min(bisect.bisect_right(self.cumulative, u), len(self.items) - 1)

    def draw(self):
        return self.items[self.index(self.rng.random())]


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk_script(paths: list[str] | None = None, s: float = ZIPF_S) -> str:
    """wrk's Lua: counts the status and the X-Page-Cache header of every answer (printed as
    `status <code> <n>` and `cache <how> <n>` lines, how = hit / stale / miss / absent); with
    `paths` (most popular first), each request asks for one of them drawn with Zipf weights."""
    lines = [
        "local threads = {}",
        "local counter = 0",
        "function setup(thread) counter = counter + 1; thread:set('id', counter); table.insert(threads, thread) end",
        "function init(args) statuses = {}; caches = {}; math.randomseed(os.time() * 1000 + id) end",
        "function response(status, headers, body)",
        "  statuses[status] = (statuses[status] or 0) + 1",
        "  local how = headers['X-Page-Cache'] or headers['x-page-cache'] or 'absent'",
        "  caches[how] = (caches[how] or 0) + 1",
        "end",
        "function done(summary, latency, requests)",
        "  for _, thread in ipairs(threads) do",
        "    for status, n in pairs(thread:get('statuses')) do",
        "      io.write(string.format('status %d %d\\n', status, n))",
        "    end",
        "    for how, n in pairs(thread:get('caches')) do io.write(string.format('cache %s %d\\n', how, n)) end",
        "  end",
        "end",
    ]
    if paths:
        cumulative = zipf_cumulative(len(paths), s)
        lines += [
            "local paths = {" + ", ".join(_lua_string(path) for path in paths) + "}",
            "local cumulative = {" + ", ".join(repr(value) for value in cumulative) + "}",
            "function request()",
            "  local u, low, high = math.random(), 1, #cumulative",
            "  while low < high do",
            "    local middle = math.floor((low + high) / 2)",
            "    if cumulative[middle] <= u then low = middle + 1 else high = middle end",
            "  end",
            "  return wrk.format('GET', paths[low])",
            "end",
        ]
    return "\n".join(lines) + "\n"




def _request(base_url: str, method: str, path: str, cookies: dict, form: dict | None = None):
    """One request with the given cookies (updated from the answer's Set-Cookie); returns (status,
    headers, body). By hand, not a cookie jar: production cookies are Secure (__Host-), and a jar
    would not send them over the bench's plain HTTP."""
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Cookie": cookie_header(cookies)} if cookies else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        for value in answer.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                if morsel.value and morsel["max-age"] != "0" and "1970" not in morsel["expires"]:
                    cookies[name] = morsel.value
                else:
                    cookies.pop(name, None)
        return answer.status, answer.msg, text
    finally:
        connection.close()


def cookie_header(cookies: dict) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def sign_in(base_url: str, email: str, password: str) -> str:
    """Log in through the form as a browser does; returns the Cookie header of the signed-in session
    (after the page the login redirects to has shown its flash message, so none is left in it)."""
    cookies = {}
    status, _headers, body = _request(base_url, "GET", "/login", cookies)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', body)
    if status != 200 or token is None:
        raise SystemExit(f"GET /login answered {status} without a csrf_token")
    status, headers, _body = _request(base_url, "POST", "/login", cookies,
                                      {"csrf_token": token.group(1), "email": email, "password": password})
    if status not in (302, 303):
        raise SystemExit(f"Logging in as {email} failed: POST /login answered {status}")
    location = urllib.parse.urlsplit(headers.get("Location", "/"))
    _request(base_url, "GET", location.path + (f"?{location.query}" if location.query else ""), cookies)
    return cookie_header(cookies)


def check_signed_in(base_url: str, path: str, cookie: str | None) -> None:
    """Fail loudly unless the page is 200 and signed in (says "Log out") exactly when a cookie is sent."""
    request = urllib.request.Request(base_url + path, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        status, body = answer.status, answer.read().decode("utf-8", "replace")
    signed_in = "Log out" in body
    if status != 200 or signed_in != bool(cookie):
        raise SystemExit(f"{path} {'with' if cookie else 'without'} the session cookie answered {status} and is "
                         f"{'signed in' if signed_in else 'not signed in'}: the figures would measure the wrong page")


def warm_all(base_url: str, paths: list[str], threads: int) -> float:
    """Request every path once (anonymous), `threads` at a time; returns the seconds it took."""
    def fetch(path):
        try:
            with urllib.request.urlopen(base_url + path, timeout=60) as answer:
                answer.read()
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        failed = [(path, status) for path, status in zip(paths, pool.map(fetch, paths)) if status != 200]
    if failed:
        raise SystemExit(f"Warming the cache: {len(failed)} pages not 200, e.g. {failed[:3]}")
    return time.perf_counter() - started


class PledgeWriter:
    """A thread committing a real pledge every WRITE_EVERY_SECONDS through the ORM of `app` (built
    with the served app's config): a new backer and an active pledge on a live campaign drawn with
    the Zipf weights of the visits. Its commits invalidate cached pages exactly as a web request's
    commit does; nothing touches Redis directly."""

    def __init__(self, app, campaigns: list[tuple[int, bool, int | None, int | None]], label: str):
        self.app, self.label = app, label
        self.sampler = ZipfSampler(campaigns, rng=random.Random(23))
        self.writes, self.error = 0, None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> int:
        self.stop_event.set()
        self.thread.join()
        if self.error is not None:
            raise SystemExit(f"The writer thread failed: {self.error!r}")
        return self.writes

    def _campaign(self):
        while True:
            campaign_id, live, tier_id, minimum = self.sampler.draw()
            if live and tier_id is not None:
                return campaign_id, tier_id, minimum

    def _run(self) -> None:
        from crowdfund.accounts.models import User
        from crowdfund.extensions import db
        from crowdfund.pledges.models import Pledge
        from bench.seed import password_hash

        due = time.monotonic() + WRITE_EVERY_SECONDS  # on a fixed beat: a slow commit does not push the next one
        with self.app.app_context():
            try:
                while not self.stop_event.wait(max(0.0, due - time.monotonic())):
                    due += WRITE_EVERY_SECONDS
                    campaign_id, tier_id, minimum = self._campaign()
                    number = self.writes + 1
                    backer = User(email=f"writer-{self.label}-{number}@bench.example",
                                  display_name=f"Writer {number}", password_hash=password_hash(), role="backer")
                    db.session.add(backer)
                    db.session.flush()
                    db.session.add(Pledge(campaign_id=campaign_id, backer_id=backer.id, reward_tier_id=tier_id,
                                          amount=minimum, state="active", card_summary="Visa •••• 4242"))
                    db.session.commit()
                    self.writes += 1
            except Exception as error:  # reported by stop(), loudly
                self.error = error
                db.session.rollback()
            finally:
                db.session.remove()
