"""Looks in a real browser: the main pages fit a phone (375 px) and a wide desktop window (1440 px)
without scrolling sideways, and on a phone the site's header leaves the first screen to the page."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from main_pages import DESKTOP, PASSWORD, PHONE, build_site, main_pages  # noqa: E402

# The deepest elements that stick out of the window: what to fix when a page scrolls sideways.
WIDTH_REPORT = """() => {
  const width = window.innerWidth;
  const outside = [...document.body.querySelectorAll('*')].filter(el => el.getBoundingClientRect().right > width + 0.5)
    .filter(el => ![...el.children].some(child => child.getBoundingClientRect().right > width + 0.5));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
          outside: outside.slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                                            + (el.className && el.className.baseVal === undefined ? '.' + el.className.trim().replace(/ +/g, '.') : ''))};
}"""


@pytest.fixture
def site(make_user, make_campaign, make_pledge):
    return build_site(make_user, make_campaign, make_pledge)


def visit_as(page, log_in, site, who, state):
    """Log in as `who` (an attribute of site, or None for a visitor) unless already logged in as them."""
    if state.get("who", "nobody yet") != who:
        page.context.clear_cookies()
        if who:
            log_in(getattr(site, who), PASSWORD)
        state["who"] = who


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "1440px"])
def test_main_pages_never_scroll_sideways(page, log_in, site, viewport):
    page.set_viewport_size(viewport)
    too_wide, state = [], {}
    for name, path, who in main_pages(site):
        visit_as(page, log_in, site, who, state)
        page.goto(path)
        report = page.evaluate(WIDTH_REPORT)
        if report["scrollWidth"] > report["innerWidth"]:
            too_wide.append(f"{name} ({path}): {report['scrollWidth']} px wide in a {report['innerWidth']} px window; "
                            f"sticking out: {', '.join(report['outside'])}")
    assert too_wide == [], "\n".join(too_wide)
