"""A moderator works the risk queue in a real browser: a flagged campaign shows its reasons, its
requested release is held (the release queue says why), the moderator clears the flags with a
reason and then approves the release, which is sent to the founder's (stand-in) Connect account."""
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from playwright.sync_api import expect

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payouts import releases

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from payouts.test_releases_support import (  # noqa: E402
    collected_pledge, onboard_founder, report_completed, transfers_of)
from risk.hold_support import OVERDUE, SILENCE, flag  # noqa: E402

PASSWORD = "a browser's password 2026"


def test_moderator_clears_a_flagged_campaign_and_approves_its_release(
        page, log_in, live_server, step, make_user, make_campaign, make_pledge):
    founder = make_user(display_name="Fay Baker", password=PASSWORD)
    moderator = make_user(display_name="Mo Derator", role="moderator", password=PASSWORD)
    campaign = make_campaign(founder=founder, state="successful", title="Silent bakery")
    for _ in range(2):
        collected_pledge(make_pledge, campaign, amount=5000)
    onboard_founder(founder)
    milestone = releases.milestones_of(campaign.id)[0]
    report_completed(campaign, milestone)
    release = releases.request_release(campaign, milestone.id, None, founder, utcnow())
    db.session.commit()
    now = utcnow()
    flag(campaign, SILENCE, OVERDUE, previous=20,  # 55: at the hold threshold (50)
         history=[(now - timedelta(days=8), 20), (now, 55)])
    campaign_id, release_id = campaign.id, release.id
    moderator = SimpleNamespace(email=moderator.email)
    db.session.remove()  # release SQLite before the server thread writes

    with step("the risk queue"):
        log_in(moderator, PASSWORD)
        page.get_by_role("link", name="Risk", exact=True).click()
        page.wait_for_url("**/moderation/risk")
        row = page.locator(f"#risk-{campaign_id}")
        assert row.get_by_role("link", name="Silent bakery").is_visible()
        assert row.get_by_text("No updates for a long time, Milestones overdue").is_visible()
        assert row.get_by_text("held").is_visible() and "↑" in row.inner_text()

    with step("the release is held"):
        page.goto("/moderation/releases")
        request = page.locator(f"#release-{release_id}")
        assert request.get_by_text("held by risk").is_visible()
        request.get_by_role("link", name="Review the flags").click()
        page.wait_for_url(f"**/moderation/risk/{campaign_id}")
        assert page.get_by_text("Score 55").is_visible()
        assert page.get_by_role("cell", name="days_since_update: 61").is_visible()
        expect(page.get_by_role("img", name="The score over time")).to_be_visible()

    with step("clear the flags"):
        page.get_by_role("button", name="Clear these flags").click()  # no reason: refused
        expect(page.get_by_text("Give a reason.").first).to_be_visible()
        refusal = [e for e in page.console_errors if "422" in e and f"/moderation/risk/{campaign_id}/clear" in e]
        assert len(refusal) == 1  # the browser logs the 422 answer: expected, nothing else
        page.console_errors.remove(refusal[0])
        page.get_by_label("Why these flags are cleared").fill("Called the founder: the oven supplier was late.")
        page.get_by_role("button", name="Clear these flags").click()
        expect(page.get_by_role("status").get_by_text("Flags cleared")).to_be_visible()
        assert page.get_by_role("cell", name="Called the founder: the oven supplier was late.").is_visible()

    with step("approve the release"):
        page.get_by_role("link", name="Approve or reject").click()
        page.wait_for_url("**/moderation/releases*")
        request = page.locator(f"#release-{release_id}")
        assert request.get_by_text("held by risk").count() == 0
        request.get_by_label("Approve").check()
        request.get_by_label("Reason").fill("Inspection certificate and photos check out.")
        request.get_by_role("button", name="Record decision").click()
        expect(page.get_by_text("Released $64.60 to the founder.")).to_be_visible()

    assert page.console_errors == []
    assert [t.amount for t in transfers_of(campaign_id)] == [6460]
