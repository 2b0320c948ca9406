"""The real browser, shared by the browser tests and the smoke test (a pytest plugin, like
standin_fixtures): one Playwright and one Chromium per test process. Two sync Playwrights cannot run
in one process (the second finds the first's event loop), so there is exactly one `browser` fixture.
Without Chromium or Playwright the tests skip, or fail with CROWDFUND_REQUIRE_SERVICES=1."""
import importlib.util
import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CROWDFUND_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def service_missing(reason: str):
    if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if importlib.util.find_spec("playwright") is None:
        service_missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        service_missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # assertions wait as long as actions do (pages set 15 s)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pledge_without_reward(page, dollars: str) -> None:
    """On a campaign's pledge form: no reward, `dollars`, continue; waits for the card page."""
    form = page.locator("main form")
    form.get_by_label("No reward, I just want to support it").check()
    form.get_by_label("Pledge amount").fill(dollars)
    form.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(r"/pledges/\d+/card"))


def enter_test_card(page, number: str = "4242424242424242", postal_code: str = "75001") -> None:
    """Type a test card into the card field the stand-in's Stripe.js draws in #card-element."""
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill(postal_code)
