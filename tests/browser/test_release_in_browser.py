"""A moderator approves a milestone release in a real browser; the transfer goes to the founder's
(stand-in) Connect account and the campaign page shows the released tranche: in the milestone
timeline and in the transparency section ("Released to the founder")."""
import sys
from types import SimpleNamespace
from pathlib import Path

from playwright.sync_api import expect

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payouts import releases

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from payouts.test_releases_support import (  # noqa: E402
    collected_pledge, onboard_founder, report_completed, transfers_of)

PASSWORD = "a browser's password 2026"


def test_moderator_approves_a_release_and_the_campaign_page_shows_it(
        page, log_in, live_server, make_user, make_campaign, make_pledge):
    founder = make_user(display_name="Fay Baker", password=PASSWORD)
    moderator = make_user(display_name="Mo Derator", role="moderator", password=PASSWORD)
    campaign = make_campaign(founder=founder, state="successful", title="Second oven for the bakery")
    for _ in range(2):
        collected_pledge(make_pledge, campaign, amount=5000)  # 100.00 collected, 5.00 fees: share 95.00
    onboard_founder(founder)
    milestone = releases.milestones_of(campaign.id)[0]
    report_completed(campaign, milestone)
    release = releases.request_release(campaign, milestone.id, None, founder, utcnow())
    db.session.commit()
    slug, campaign_id, release_id, milestone_id = campaign.slug, campaign.id, release.id, milestone.id
    moderator = SimpleNamespace(email=moderator.email)
    db.session.remove()  # release SQLite before the server thread writes

    # Every check waits (Playwright's expect, wait_for_url) for the page a click leads to: under load
    # the answer can arrive after the click returns.
    page.goto(f"/c/{slug}")
    expect(page.locator(f"#release-{milestone_id}").get_by_text("Waiting for verification")).to_be_visible()

    log_in(moderator, PASSWORD)
    page.goto("/moderation/")
    page.get_by_role("link", name="Releases to verify").click()
    page.wait_for_url("**/moderation/releases*")
    request = page.locator(f"#release-{release_id}")
    expect(request.get_by_text("Inspection passed on Monday.")).to_be_visible()
    expect(request.get_by_text("Would release now: $64.60")).to_be_visible()  # 95.00 · (20 % + 80 % · 60 %)
    request.get_by_label("Approve").check()
    request.get_by_label("Reason").fill("Inspection certificate and photos check out.")
    request.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Released $64.60 to the founder.")).to_be_visible()
    expect(page.get_by_text("No release waiting for verification.")).to_be_visible()

    page.goto(f"/c/{slug}")
    timeline = page.locator(f"#release-{milestone_id}")
    expect(timeline.get_by_text("Released")).to_be_visible()
    expect(timeline).to_contain_text("$64.60")
    expect(page.locator('[data-money="released"]')).to_have_text("$64.60")
    assert page.console_errors == []
    assert [t.amount for t in transfers_of(campaign_id)] == [6460]
