"""Accessibility in a real browser.

axe-core (from npm: `npm ci` puts it in node_modules/axe-core) finds no serious or critical violation on
the main pages (home, discover, campaign, pledge and card, dashboard, moderation, and the rest of
main_pages.py) at desktop width and at 375 px with the menu open. And every form on them can be filled
and sent with the keyboard alone (Tab, Shift+Tab, arrows, Space, Enter), every stop on the way showing a
focus ring."""
import os
import re
import sys
from pathlib import Path

import pytest
from browser_fixtures import pledge_without_reward
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from main_pages import DESKTOP, PASSWORD, PHONE, build_site, main_pages  # noqa: E402

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL_PATH = "/__axe-core__/axe.min.js"  # answered by the browser from AXE_SCRIPT (see `axe`), not by the app
BLOCKING_IMPACTS = ("serious", "critical")

# Where the focus is after a key press: whether it reached `target`, and whether it shows a ring that
# a person can see (the site's :focus-visible outline, not the browser's thin default).
FOCUS_STATE = """(target) => {
  const element = document.activeElement;
  if (!element || element === document.body) return {reached: false, ring: true, element: 'the page'};
  const style = getComputedStyle(element);
  return {reached: element === target, element: element.outerHTML.slice(0, 160),
          ring: element.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2};
}"""


@pytest.fixture(scope="session")
def axe_script():
    if not AXE_SCRIPT.exists():
        reason = (f"axe-core is not installed ({AXE_SCRIPT} is missing): "
                  "run `npm ci --no-audit --no-fund` in the project folder")
        if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture
def axe(page, live_server, axe_script):
    """axe() -> the serious and critical violations on the page as it is now, one line per element.

    The Content-Security-Policy lets pages run scripts from the site itself only, never inline ones.
    Rather than switch the policy off (bypass_csp), the browser answers one same-origin URL with
    node_modules' axe.min.js: pages are checked exactly as served, CSP included, and the app itself has
    no route serving test code."""
    page.route(live_server.url + AXE_URL_PATH,
               lambda route: route.fulfill(body=axe_script, content_type="text/javascript; charset=utf-8"))

    def violations() -> list[str]:
        page.add_script_tag(url=AXE_URL_PATH)
        results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        path = page.url.removeprefix(live_server.url)
        return [f"{path} {violation['id']} ({violation['impact']}): {violation['help']} at {node['target']}: "
                f"{node['failureSummary']}"
                for violation in results["violations"] if violation["impact"] in BLOCKING_IMPACTS
                for node in violation["nodes"]]

    return violations


@pytest.fixture
def site(make_user, make_campaign, make_pledge):
    return build_site(make_user, make_campaign, make_pledge)


def log_in_as(page, log_in, site, who):
    page.context.clear_cookies()
    if who:
        log_in(getattr(site, who), PASSWORD)


def focus_with_keys(page, target, key="Tab", limit=150):
    """Press key (Tab, or Shift+Tab) until target has the focus, as a keyboard user would; every element
    focused on the way must show a visible focus ring."""
    handle = target.element_handle()
    for presses in range(limit + 1):
        state = page.evaluate(FOCUS_STATE, handle)
        assert state["ring"], f"no visible focus ring on {state['element']}"
        if state["reached"]:
            return
        if presses < limit:
            page.keyboard.press(key)
    pytest.fail(f"{limit} presses of {key} never reached {target}")


def tab_to_and_press(page, button) -> None:
    """The next Tab must land on button (the form's order is right), then Enter presses it."""
    page.keyboard.press("Tab")
    expect(button).to_be_focused()
    page.keyboard.press("Enter")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440px", "375px"])
def test_main_pages_have_no_serious_or_critical_axe_violations(page, axe, log_in, site, viewport):
    page.set_viewport_size(viewport)
    found, who_now = [], "nobody yet"
    for name, path, who in main_pages(site):
        if who != who_now:
            log_in_as(page, log_in, site, who)
            who_now = who
        page.goto(path)
        if viewport is PHONE:  # check the folded menu's links too
            page.get_by_role("button", name="Menu").click()
            expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
        found += axe()

    # The card page: the pledge form leads to it. Its card field is drawn by the Stripe stand-in's script.
    log_in_as(page, log_in, site, "newcomer")
    page.goto(f"/c/{site.slug}/pledge")
    pledge_without_reward(page, "30")
    page.locator("#card-element input").first.wait_for()
    found += axe()

    assert found == [], "\n".join(found)


def test_skip_link_is_the_first_stop_and_jumps_to_the_page_content(page, live_server):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0, "the focused skip link must be on screen"

    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")


def test_visitor_signs_up_logs_out_and_logs_in_with_the_keyboard_alone(page, live_server):
    page.goto("/signup")
    form = page.locator("main form")
    focus_with_keys(page, form.get_by_label("Email"))
    page.keyboard.type("kim@example.com")
    page.keyboard.press("Tab")
    expect(form.get_by_label("Display name")).to_be_focused()
    page.keyboard.type("Kim Keys")
    page.keyboard.press("Tab")
    expect(form.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Welcome! We sent a link to kim@example.com")).to_be_visible()

    focus_with_keys(page, page.get_by_role("button", name="Log out"))
    page.keyboard.press("Space")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    page.goto("/login")
    form = page.locator("main form")
    focus_with_keys(page, form.get_by_label("Email"))
    page.keyboard.type("kim@exmaple.com")  # a typo, mended below after going back with Shift+Tab
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    focus_with_keys(page, form.get_by_label("Email"), key="Shift+Tab")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("kim@example.com")
    focus_with_keys(page, form.get_by_label("Remember me"))
    page.keyboard.press("Space")
    expect(form.get_by_label("Remember me")).to_be_checked()
    tab_to_and_press(page, form.get_by_role("button", name="Log in"))
    expect(page.get_by_text("Welcome back, Kim Keys.")).to_be_visible()


def test_backer_pledges_and_saves_a_card_with_the_keyboard_alone(page, log_in, site):
    log_in(site.newcomer, PASSWORD)
    page.goto(f"/c/{site.slug}")
    focus_with_keys(page, page.get_by_role("link", name="Back this project"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/c/{site.slug}/pledge"))

    form = page.locator("main form")
    focus_with_keys(page, form.get_by_label("No reward, I just want to support it"))
    page.keyboard.press("ArrowDown")  # the next choice in the group: the first tier
    expect(form.get_by_role("radio", name="Tier 1")).to_be_checked()
    page.keyboard.press("Tab")
    expect(form.get_by_label("Pledge amount")).to_be_focused()
    page.keyboard.type("25")
    focus_with_keys(page, form.get_by_role("button", name="Continue to payment"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/pledges/\d+/card"))

    card = page.locator("#card-element")
    # The stand-in's card field moves the focus on by itself once a part is complete, as Stripe's does.
    for part, digits in (("number", "4242424242424242"), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123"),
                         ("postal_code", "75001")):
        focus_with_keys(page, card.get_by_placeholder(part))
        page.keyboard.type(digits)
    focus_with_keys(page, page.get_by_role("button", name="Save card"))
    page.keyboard.press("Space")
    page.wait_for_url(re.compile(r"/pledges/\d+$"))
    expect(page.get_by_text("Thank you! Your pledge is in.")).to_be_visible()
    assert page.console_errors == []


def test_backer_follows_comments_and_replies_with_the_keyboard_alone(page, log_in, site):
    log_in(site.backer, PASSWORD)
    page.goto(f"/c/{site.slug}")
    focus_with_keys(page, page.get_by_role("button", name="Follow", exact=True))
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Following · Unfollow")).to_be_visible()

    focus_with_keys(page, page.get_by_label("Write a comment"))
    page.keyboard.type("Typed with the keyboard alone.")
    tab_to_and_press(page, page.get_by_role("button", name="Post comment"))
    expect(page.locator(".comment-body", has_text="Typed with the keyboard alone.")).to_be_visible()

    thread = page.locator(".comment-thread", has_text="Will the rye loaf be back?")
    focus_with_keys(page, thread.locator("summary", has_text="Reply"))
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(thread.get_by_label("Your reply")).to_be_focused()
    page.keyboard.type("And the seeded one, please.")
    tab_to_and_press(page, thread.get_by_role("button", name="Post reply"))
    expect(page.locator(".comment-replies .comment-body", has_text="And the seeded one, please.")).to_be_visible()


def test_moderator_records_a_decision_with_the_keyboard_alone(page, log_in, site):
    log_in(site.moderator, PASSWORD)
    page.goto("/moderation/")
    focus_with_keys(page, page.get_by_role("link", name="Pottery kiln for the studio"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/moderation/campaigns/{site.waiting_id}$"))

    focus_with_keys(page, page.get_by_role("radio", name="Approve"))
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name="Request changes")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Reason (shown to the founder)")).to_be_focused()
    page.keyboard.type("Please add a photo of the kiln's quote.")
    tab_to_and_press(page, page.get_by_role("button", name="Record decision"))
    expect(page.get_by_text("Decision recorded: Changes requested.")).to_be_visible()


def test_visitor_searches_and_founder_filters_backers_with_the_keyboard_alone(page, log_in, site):
    page.goto("/")
    focus_with_keys(page, page.get_by_role("searchbox", name="Search campaigns"))
    page.keyboard.type("oven")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=oven"))
    expect(page.get_by_role("link", name="Second oven for the bakery")).to_be_visible()

    log_in(site.founder, PASSWORD)
    page.goto(f"/c/{site.slug}/dashboard")
    focus_with_keys(page, page.get_by_label("Show"))
    page.keyboard.press("ArrowDown")  # from "Every pledge" to the first state, "Card saved, not charged yet"
    tab_to_and_press(page, page.get_by_role("button", name="Filter"))
    page.wait_for_url(re.compile(r"/dashboard\?state=active$"))
    expect(page.locator("#backer-table caption")).to_contain_text("3 pledges")


def test_phone_menu_opens_and_closes_with_the_keyboard(page, log_in, site):
    page.set_viewport_size(PHONE)
    log_in(site.backer, PASSWORD)
    page.goto("/")
    menu = page.get_by_role("button", name="Menu")
    my_pledges = page.get_by_role("navigation", name="Main").get_by_role("link", name="My pledges")
    expect(my_pledges).to_be_hidden()

    focus_with_keys(page, menu)
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    focus_with_keys(page, my_pledges)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/me/pledges$"))

    focus_with_keys(page, menu)
    page.keyboard.press("Space")
    expect(my_pledges).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(my_pledges).to_be_hidden()
