"""Fuzzing every route (issue 15, deliverable 7).

For every rule in app.url_map (the `world` of tests/route_world.py gives each argument a real
object) and every kind of user, requests carry hostile values: in each path parameter, in a `next`
query parameter, and in each field of each form the user's pages show (found by GETting the pages
and parsing their <input>, <textarea> and <select>), one field at a time, the others keeping the
values the page gave them. Every response must satisfy:

- never a 5xx (under TESTING an exception propagates out of the test client: a 500);
- a request answered 4xx stored nothing (row counts of every table before and after);
- a Location header is relative (no host) or starts with the app's PUBLIC_URL;
- every response to a signed-in user has `private` in Cache-Control.

Values come from Hypothesis with a fixed seed (derandomize=True), no example database and a
bounded number of examples, so a run is reproducible and takes about a minute on SQLite. The
whole sweep runs on SQLite only (the routes' input handling does not depend on the database);
on both databases a small sample sends NUL characters and 2^31, which PostgreSQL refuses (in
text; in an INTEGER column) where SQLite stores or compares them. Failures are collected, not raised one at a time: a test lists every
(route, input, failure) it found. Set FUZZ_VERBOSE=1 to print every request made.

Skipped: `static`, the Stripe webhook (signed: its own tests fuzz it), log-out (it would end the
user's session for the rest of the sweep; it has no input) and forms posting off-site.
"""
import os
import re
import traceback
import zlib
from html.parser import HTMLParser
from urllib.parse import quote, urlencode, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, seed, settings, strategies as st
from sqlalchemy import text

from crowdfund.extensions import db
from route_world import USERS, all_rules, rule_url, world  # noqa: F401 (world: a fixture)

SKIP_ENDPOINTS = {"payments.stripe_webhook", "accounts.logout"}
VERBOSE = os.environ.get("FUZZ_VERBOSE") == "1"

# --- hostile values ----------------------------------------------------------------------------

BIG = [str(2**63), str(2**63 - 1), str(2**64 + 1), "9" * 40, str(-(2**63) - 1)]
NUMBERS = ["-1", "0", "-0", "1e309", "NaN", "inf", "0x10", "1_000", " 1", "1.5", "١٢", "+1"] + BIG
CONTROL = ["\x00", "a\x00b", "\x01", "\x1b[31m", "\x7f", "\u2028", "\ufeff", "line\r\nInjected: 1", "\ud800"]
DATES = ["2024-02-30", "0000-00-00", "9999-12-31", "10000-01-01", "-0001-01-01", "2024-13-01", "yesterday",
         "2024-01-01T25:00", "1970-01-01", "2024/01/01"]
NEXT = ["//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "http:evil.example",
        "javascript:alert(1)", "/%2F%2Fevil.example", " //evil.example", "\t//evil.example",
        "https://127.0.0.1:5000@evil.example/", "///evil.example", "/\t/evil.example", "data:text/html,x"]
LONG = ["a" * 10_000, "é" * 3000, "x" * 256]
MISC = ["", " ", "'", "\"><script>x</script>", "%", "../../etc/passwd", "[]", "{}", "true", "null"]
HANDPICKED = NUMBERS + CONTROL + DATES + NEXT + LONG + MISC
INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"a\x80b", b"\xc0\xaf"]

# A field value: str (sent UTF-8 encoded) or bytes (sent as they are: invalid UTF-8).
field_values = st.one_of(
    st.sampled_from(HANDPICKED),
    st.sampled_from(INVALID_UTF8),
    st.integers(min_value=-(2**200), max_value=2**200).map(str),
    st.text(alphabet=st.characters(codec="utf-8", categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Lu")), max_size=20),
    st.text(max_size=300),
)
# A path segment, percent-encoded (invalid UTF-8 and NUL included).
path_values = st.one_of(
    st.sampled_from(HANDPICKED + ["%00", "%ff", "%C3%28", "..", ".", "%2e%2e%2f"]),
    st.sampled_from(INVALID_UTF8),
    st.integers(min_value=-(2**200), max_value=2**200).map(str),
    st.text(alphabet=st.characters(codec="utf-8", categories=("Cc", "Cf", "Nd", "Ll")), min_size=1, max_size=20),
)
next_values = st.one_of(st.sampled_from(NEXT), st.text(alphabet="/\\:@.%\t evilxamp", max_size=25))

# A fixed seed per target (the CRC of its name: stable across runs and processes), so each field and
# each parameter gets values of its own rather than the same few; no example database.
FUZZ_SETTINGS = dict(database=None, deadline=None, print_blob=False, suppress_health_check=list(HealthCheck))


def fixed_seed(where):
    return seed(zlib.crc32(where.encode()))
PATH_EXAMPLES = int(os.environ.get("FUZZ_PATH_EXAMPLES", 4))
FIELD_EXAMPLES = int(os.environ.get("FUZZ_FIELD_EXAMPLES", 5))


def always(test):
    """Every target also gets one value of each class the drawn values may miss: a number past
    2^63-1, a NUL character and invalid UTF-8 (on top of the max_examples drawn ones)."""
    return example(value=str(2**63))(example(value="a\x00b")(example(value=b"\xc3\x28")(test)))
NEXT_EXAMPLES = int(os.environ.get("FUZZ_NEXT_EXAMPLES", 3))


def _segment(value):
    if isinstance(value, bytes):
        return quote(value, safe="")
    if "%" in value and value.startswith(("%", "..")) or value in (".", ".."):
        return value  # already a path segment as an attacker would type it
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _encode(value):
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


SIGNED_IN = ("backer", "other_founder", "owner", "moderator")
# (endpoint, failure) → (the user kinds it happens to, why it is not fixed). Strict: an entry that no
# longer happens fails the test. The lead decides whether these stay.
KNOWN: dict = {}  # none left: the widget and media files answer signed-in users privately too


# --- the forms of a page -----------------------------------------------------------------------

class FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._form, self._textarea, self._select = [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").upper(),
                          "fields": {}, "files": set()}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind == "file":
                self._form["files"].add(a["name"])
            elif kind in ("checkbox", "radio"):
                if "checked" in a or a["name"] not in self._form["fields"]:
                    self._form["fields"][a["name"]] = a.get("value", "on") if "checked" in a else ""
            elif kind not in ("submit", "button", "image", "reset"):
                self._form["fields"][a["name"]] = a.get("value") or ""
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form["fields"][a["name"]] = ""
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"][a["name"]] = None
        elif tag == "option" and self._select:
            if self._form["fields"][self._select] is None or "selected" in a:
                self._form["fields"][self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            if self._form is not None and self._form["fields"].get(self._select) is None:
                self._form["fields"][self._select] = ""
            self._select = None


def page_forms(page_url, html):
    parser = FormParser()
    parser.feed(html)
    forms = []
    for form in parser.forms:
        action = urljoin(page_url, form["action"] or page_url)
        parts = urlsplit(action)
        if parts.netloc not in ("", "localhost"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not form["fields"] or parts.path == "/logout" or parts.path.startswith("/stripe/"):
            continue
        forms.append({**form, "action": path})
    return forms


# --- the checks --------------------------------------------------------------------------------

class Fuzzer:
    """Sends requests as one user, checks every response, collects the failures."""

    def __init__(self, app, client, kind):
        self.app, self.client, self.kind = app, client, kind
        self.signed_in = kind != "visitor"
        self.public_url = app.config["PUBLIC_URL"].rstrip("/")
        # Stripe-hosted pages (Connect onboarding) are the one place the app sends a user off-site;
        # in tests that is the Stripe stand-in.
        self.allowed_hosts = tuple(u.rstrip("/") + "/" for u in (
            self.public_url, "https://connect.stripe.com", app.config.get("STRIPE_STANDIN_URL")) if u)
        tables = [t.name for t in db.metadata.sorted_tables]
        self._count_sql = text("SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in tables))
        self._tables = tables
        self.counts = self._counts()
        self.failures: dict[tuple, str] = {}
        self.requests = 0

    def _counts(self):
        db.session.rollback()
        return dict(zip(self._tables, db.session.execute(self._count_sql).one()))

    def fail(self, where, problem, detail):
        self.failures.setdefault((where, problem), detail)

    def send(self, where, method, url, body=None, query=None):
        self.requests += 1
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        kwargs = {"method": method, "base_url": self.public_url}
        if body is not None:
            kwargs.update(data=body, content_type="application/x-www-form-urlencoded")
        if VERBOSE:
            print(f"FUZZ {self.kind} {method} {url[:200]} {body[:200] if body else ''}")
        try:
            response = self.client.open(url, **kwargs)
        except Exception as error:  # under TESTING the app propagates exceptions: a 500
            db.session.rollback()
            frames = [f for f in traceback.extract_tb(error.__traceback__) if "/crowdfund/" in f.filename]
            origin = f"{frames[-1].filename.split('/crowdfund/')[-1]}:{frames[-1].lineno} {frames[-1].name}" \
                if frames else "?"
            self.fail(where, f"500 {type(error).__name__}",
                      f"{method} {url[:300]} body={body[:300] if body else None!r}: {str(error).splitlines()[0][:300] if str(error) else ''} (at {origin})")
            self.counts = self._counts()
            return
        status = response.status_code
        detail = f"{method} {url[:300]} body={body[:300] if body else None!r} -> {status}"
        if status >= 500:
            self.fail(where, f"{status}", detail)
        after = self._counts()
        if 400 <= status < 500 and after != self.counts:
            changed = {t: (self.counts[t], after[t]) for t in after if after[t] != self.counts[t]}
            self.fail(where, "stored on a refused request", f"{detail}; rows before→after {changed}")
        self.counts = after
        location = response.headers.get("Location")
        if location is not None:
            # What a browser does with it: leading whitespace/control characters dropped, \ read as /.
            seen = location.lstrip("".join(map(chr, range(33)))).replace("\\", "/")
            seen = "".join(c for c in seen if c not in "\t\r\n")
            parts = urlsplit(seen)
            if (parts.scheme or parts.netloc) and not (seen == self.public_url
                                                      or seen.startswith(self.allowed_hosts)):
                self.fail(where, "off-site redirect", f"{detail} Location: {location[:300]!r}")
        if self.signed_in and "private" not in response.headers.get("Cache-Control", ""):
            self.fail(where, "Cache-Control without private",
                      f"{detail} Cache-Control: {response.headers.get('Cache-Control')!r}")
        return response

    def report(self, failures):
        return "\n".join(f"[{self.kind}] {where}: {problem}: {detail}"
                         for (where, problem), detail in sorted(failures.items()))

    def finish(self):
        """Fail on any failure not in KNOWN; xfail (strict) on known ones; fail when a KNOWN entry
        that applies to this user no longer happens (it is fixed: remove it)."""
        def known(key):
            return KNOWN.get((key[0].split(" ")[0], key[1]))

        unknown = {k: v for k, v in self.failures.items() if not known(k)}
        expected = {k for k, (kinds, _) in KNOWN.items() if self.kind in kinds}
        seen = {(k[0].split(" ")[0], k[1]) for k in self.failures if known(k)}
        fixed = [f"{k} is in KNOWN but did not happen: remove it" for k in sorted(expected - seen)]
        print(f"{self.kind}: {self.requests} requests")
        assert not unknown and not fixed, (f"{len(unknown)} failures:\n{self.report(unknown)}\n" + "\n".join(fixed))
        if seen:
            pytest.xfail("known failures:\n" + "\n".join(f"{k}: {KNOWN[k][1]}" for k in sorted(seen))
                         + "\n" + self.report({k: v for k, v in self.failures.items() if known(k)}))


def _client(app, world, kind):
    """A test client (signed in as the user of that kind) whose requests all carry PUBLIC_URL's Host, as
    in production: a redirect the app builds from the request's host must then be on PUBLIC_URL."""

    client = app.test_client()
    user = world["users"].get(kind)
    if user:
        response = client.post("/login", base_url=app.config["PUBLIC_URL"],
                               data={"email": user.email, "password": "correct horse battery"})  # make_user's
        assert response.status_code == 302, "log-in failed"
    return client


PLACEHOLDER = re.compile(r"<(?:[^<>]*:)?(\w+)>")


def _sentinel_url(app, rule, world, argument):
    """The rule's URL with `argument` replaced by a marker (to replace with a hostile segment), and the marker."""
    marker = "zqzmarkerzqz"

    def fill(match):
        name = match.group(1)
        return marker if name == argument else quote(str(_argument_value(rule, world, name)), safe="/")

    return PLACEHOLDER.sub(fill, rule.rule), marker


def _argument_value(rule, world, name):
    if name == "token":
        return world["tokens"][rule.endpoint]
    if name == "kind":
        return "rewards"
    if name == "item_id":
        return world["item_ids"]["gallery" if rule.endpoint.startswith("media.") else "rewards"]
    return world["args"][name]


def _rules(app):
    return [r for r in all_rules(app) if r.endpoint not in SKIP_ENDPOINTS]


def _method(rule):
    return "GET" if "GET" in rule.methods else "POST"


def _sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the whole sweep runs on SQLite only: input handling does not depend on the database "
                    "(test_database_sample covers what PostgreSQL refuses)")


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", USERS)
def test_hostile_path_parameters(app, world, kind, database_url):
    """Each path parameter of each rule, and a `next` query parameter on each rule."""
    _sqlite_only(database_url)
    fuzzer = Fuzzer(app, _client(app, world, kind), kind)
    for rule in _rules(app):
        method = _method(rule)
        for argument in sorted(rule.arguments):
            url, marker = _sentinel_url(app, rule, world, argument)

            @fixed_seed(f"{rule.rule} <{argument}>")
            @settings(max_examples=PATH_EXAMPLES, **FUZZ_SETTINGS)
            @always
            @given(value=path_values)
            def hit(value):
                fuzzer.send(f"{rule.endpoint} <{argument}>", method, url.replace(marker, _segment(value), 1),
                            body=b"" if method == "POST" else None)

            hit()

        url = rule_url(app, rule, world)

        @fixed_seed(f"{rule.rule} ?next")
        @settings(max_examples=NEXT_EXAMPLES, **FUZZ_SETTINGS)
        @given(value=next_values)
        def hit_next(value):
            fuzzer.send(f"{rule.endpoint} ?next", method, url, body=b"" if method == "POST" else None,
                        query={"next": value})

        hit_next()
    fuzzer.finish()


def _draft_pages(draft):
    """The owner's editing pages of a draft campaign (the world's campaign is live: not editable)."""
    from crowdfund.campaigns.models import BudgetLine, Milestone, RewardTier

    slug = draft.slug
    pages = [("campaigns.edit", f"/c/{slug}/edit"), ("media.edit", f"/c/{slug}/edit/media")]
    for kind, model in (("budget", BudgetLine), ("rewards", RewardTier), ("milestones", Milestone)):
        item_id = db.session.execute(db.select(model.id).where(model.campaign_id == draft.id)
                                     .order_by(model.id)).scalars().first()
        pages += [("campaigns.edit_items", f"/c/{slug}/edit/{kind}"),
                  ("campaigns.edit_items", f"/c/{slug}/edit/{kind}/{item_id}")]
    return pages


def _user_forms(app, fuzzer, world, draft=None):
    # draft: extra (endpoint, url) pages
    """Every distinct form on the pages this user can GET: (page, form)."""
    seen, found = set(), []
    pages = [(rule.endpoint, rule_url(app, rule, world)) for rule in _rules(app) if "GET" in rule.methods]
    for endpoint, url in pages + (draft or []):
        response = fuzzer.send(f"{endpoint} (page)", "GET", url)
        if response is None or response.status_code != 200 or "html" not in response.content_type:
            continue
        for form in page_forms(url, response.get_data(as_text=True)):
            key = (form["action"], form["method"], tuple(sorted(form["fields"])))
            if key not in seen:
                seen.add(key)
                found.append((endpoint, form))
    return found


def _body(fields, name, value):
    return urlencode([(_encode(k), _encode(value if k == name else v)) for k, v in fields.items()]).encode()


@pytest.mark.parametrize("kind", USERS)
def test_hostile_form_fields(app, world, kind, database_url, make_campaign):
    """Each field of each form the user's pages show, one at a time (the owner also has a draft)."""
    _sqlite_only(database_url)
    draft = _draft_pages(make_campaign(founder=world["users"]["owner"], state="draft"))
    fuzzer = Fuzzer(app, _client(app, world, kind), kind)
    forms = _user_forms(app, fuzzer, world, draft)
    assert forms or kind == "visitor", "no forms found: the parser or the world is broken"
    for page, form in forms:
        for name in sorted(form["fields"]):
            where = f"{page} form {form['method']} {form['action']} [{name}]"

            @fixed_seed(where)
            @settings(max_examples=FIELD_EXAMPLES, **FUZZ_SETTINGS)
            @always
            @given(value=field_values)
            def hit(value):
                if form["method"] == "POST":
                    fuzzer.send(where, "POST", form["action"], body=_body(form["fields"], name, value))
                else:
                    fuzzer.send(where, "GET", form["action"] + "?" + _body(form["fields"], name, value).decode())

            hit()
    print(f"{kind}: {len(forms)} forms")
    fuzzer.finish()


# What PostgreSQL refuses where SQLite does not: NUL in text, and integers past its INTEGER (2^31-1).
DATABASE_SAMPLE = ("a\x00b", str(2**31))


@pytest.mark.parametrize("kind", ["visitor", "owner"])
def test_database_sample(app, world, kind):
    """A NUL character and 2^31 in every path parameter and every form field, once each, on both
    databases (PostgreSQL refuses NUL in text and 2^31 in an INTEGER column where SQLite stores or
    compares them): a small sample, as a visitor and as the owner."""
    fuzzer = Fuzzer(app, _client(app, world, kind), kind)
    for rule in _rules(app):
        method = _method(rule)
        for argument in sorted(rule.arguments):
            url, marker = _sentinel_url(app, rule, world, argument)
            for value in DATABASE_SAMPLE:
                fuzzer.send(f"{rule.endpoint} <{argument}>", method, url.replace(marker, _segment(value), 1),
                            body=b"" if method == "POST" else None)
    for page, form in _user_forms(app, fuzzer, world):
        for name in sorted(form["fields"]):
            where = f"{page} form {form['method']} {form['action']} [{name}]"
            for value in DATABASE_SAMPLE:
                body = _body(form["fields"], name, value)
                if form["method"] == "POST":
                    fuzzer.send(where, "POST", form["action"], body=body)
                else:
                    fuzzer.send(where, "GET", form["action"] + "?" + body.decode())
    fuzzer.finish()
