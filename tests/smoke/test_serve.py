"""`make serve` end to end: two gunicorn workers, a Celery worker and beat, the Stripe stand-in,
PostgreSQL and Redis, driven over HTTP as a backer and an attacker would (tests/smoke/conftest.py)."""
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from browser_fixtures import enter_test_card, pledge_without_reward

# Every test here talks to the one server of this module: under `pytest -n 2 --dist loadgroup`
# they all go to the same xdist worker.
pytestmark = pytest.mark.xdist_group("smoke")

PASSWORD = "a smoke-test password 2026"


def test_healthz_reports_the_database_and_the_broker_reachable(client):
    response = client.request("GET", "/healthz")

    assert response.status == 200
    assert json.loads(response.body) == {"status": "ok", "database": "ok", "broker": "ok"}


def test_pages_served_by_gunicorn_carry_the_security_headers(client):
    response = client.request("GET", "/")

    assert response.status == 200
    assert response.headers["Server"] == "gunicorn"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_the_session_cookie_is_host_only_secure_httponly_and_lax(client):
    response = client.request("GET", "/login")  # the form's CSRF token starts a session

    cookies = response.headers.get_all("Set-Cookie")
    assert len(cookies) == 1, cookies
    name, *attributes = [part.strip() for part in cookies[0].split(";")]
    assert name.startswith("__Host-session=")
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} <= set(attributes)
    assert not any(attribute.lower().startswith("domain=") for attribute in attributes)


def test_eleven_failed_logins_in_a_minute_are_limited_across_both_gunicorn_workers(smoke, client):
    token = client.csrf_token("/login")

    def attempt(number):
        response = client.request("POST", "/login", {"csrf_token": token, "email": "ada@example.com",
                                                     "password": f"not the password {number}"},
                                  headers={"X-Request-ID": f"smoke-login-{number}"})
        return response.status, response.body

    # Each attempt is a new connection (urllib), and the first ten are sent at once, so both workers
    # (each polling the shared listening socket) take some of them; one after another, an idle worker
    # may accept them all. Each worker is a process of its own: only the limiter's Redis storage
    # (RATELIMIT_STORAGE_URI) lets them count one another's attempts; with memory:// each would allow ten.
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(attempt, range(10)))
        answers.append(attempt(10))
        # Ten more at once: whichever worker serves them refuses them all, including one that served
        # none of the first ten (a second burst, so that both workers take part even when one worker
        # happened to accept the whole first burst).
        later = list(pool.map(attempt, range(11, 21)))
    statuses, bodies = [status for status, _ in answers], [body for _, body in answers]
    assert [status for status, _ in later] == [429] * 10

    assert statuses == [422] * 10 + [429]
    assert "That email and password do not match an account." in bodies[0]
    assert "Too many attempts. Please wait a minute and try again." in bodies[10]
    served_by = {pid for pid, request_id in re.findall(r"^<(\d+)> (smoke-login-\d+) ", smoke.log("gunicorn.log"),
                                                      re.MULTILINE)}
    assert len(served_by) == 2, f"one worker served every attempt:\n{smoke.log('gunicorn.log')[-3000:]}"


def test_backer_signs_up_pledges_and_is_charged_after_the_deadline(smoke, page):
    slug = smoke.seed_live_campaign(title="Second oven for the smoke bakery", goal=2_000)
    email = "ada.smoke@example.com"

    page.goto("/signup")
    form = page.locator("main form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Display name").fill("Ada Backer")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    page.wait_for_url(lambda url: "/signup" not in url)

    # The Celery worker sent the confirmation email (an outbox event) by SMTP; its link starts with PUBLIC_URL.
    text = smoke.inbox.wait_for(email, "Confirm your email address")
    link = re.search(r"http://\S+/verify/\S+", text).group(0)
    assert link.startswith(smoke.url + "/verify/")
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_text("Your email address is confirmed.").is_visible()

    page.goto(f"/c/{slug}")
    page.get_by_role("link", name="Back this project").click()
    pledge_without_reward(page, "25")
    enter_test_card(page)
    page.get_by_role("button", name="Save card").click()
    page.wait_for_url(re.compile(r"/pledges/\d+$"))
    assert page.get_by_text("Thank you! Your pledge is in.").is_visible()

    # Beat queues the periodic job every 2 s; the Celery worker closes the campaign once its deadline
    # has passed and charges the saved card off-session through the stand-in.
    smoke.end_campaign_soon(slug)
    state = page.locator("table.pledges tbody tr", has_text="Second oven for the smoke bakery").locator(".badge")
    for _ in range(60):
        page.goto("/me/pledges")
        if state.inner_text() == "Charged":
            break
        page.wait_for_timeout(1000)
    assert state.inner_text() == "Charged", smoke.log("celery-worker.log")[-3000:]
    row = page.locator("table.pledges tbody tr", has_text="Second oven for the smoke bakery").inner_text()
    assert "$25.00" in row and "4242" in row
    page.goto(f"/c/{slug}")
    assert page.get_by_role("status").inner_text() == "This campaign is: Funded"
    smoke.inbox.wait_for(email, "Receipt: your pledge to Second oven for the smoke bakery was charged")
    assert page.console_errors == []


def test_a_double_submitted_pledge_form_makes_one_pledge_across_both_workers(smoke, client):
    """Eight copies of the same pledge form sent at once (a double click, several tabs), each on a new
    connection so both gunicorn workers take some: the database lets one open pledge exist; every
    submission lands on that pledge's card page or edit page, never a 500 or a second pledge."""
    title = "Double click bakery"
    slug = smoke.seed_live_campaign(title=title, goal=5_000)
    token = client.csrf_token("/signup")
    signed_up = client.request("POST", "/signup", {"csrf_token": token, "email": "dee.smoke@example.com",
                                                   "display_name": "Dee Backer", "password": PASSWORD})
    assert signed_up.status == 200, signed_up.body[:2000]
    token = client.csrf_token(f"/c/{slug}/pledge")

    def submit(number):
        answer = client.request("POST", f"/c/{slug}/pledge", {"csrf_token": token, "reward": "none", "amount": "25"},
                                headers={"X-Request-ID": f"smoke-double-{number}"})
        return answer.status, answer.body

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(submit, range(8)))

    assert [status for status, _ in answers] == [200] * 8, [body[:300] for _, body in answers]
    mine = client.request("GET", "/me/pledges").body
    assert mine.count(title) == 1, mine
    served_by = {pid for pid, _ in re.findall(r"^<(\d+)> (smoke-double-\d+) ", smoke.log("gunicorn.log"),
                                              re.MULTILINE)}
    assert served_by, smoke.log("gunicorn.log")[-2000:]
