"""A backer pledges in a real browser: the stand-in's Stripe.js draws the card field, the card is
saved through it, and the pledge shows in "My pledges"."""
import re
from datetime import timedelta

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge
from browser_fixtures import enter_test_card, pledge_without_reward

PASSWORD = "a browser's password 2026"


def test_backer_logs_in_and_sees_the_home_page_without_script_errors(page, log_in, make_user):
    backer = make_user(display_name="Ada Backer", password=PASSWORD)

    log_in(backer, PASSWORD)
    page.goto("/")

    assert page.get_by_role("button", name="Log out").is_visible()
    assert page.console_errors == []


def test_backer_pledges_with_the_test_card_and_sees_it_in_my_pledges(page, log_in, make_user, make_campaign):
    backer = make_user(display_name="Ada Backer", password=PASSWORD)
    campaign = make_campaign(state="live", title="Second oven for the bakery", goal=100_000,
                             funding_model="all_or_nothing", launched_at=utcnow() - timedelta(days=1))
    slug = campaign.slug
    db.session.commit()  # release SQLite before the server thread writes

    log_in(backer, PASSWORD)
    page.goto(f"/c/{slug}")
    page.get_by_role("link", name="Back this project").click()
    page.wait_for_url(re.compile(rf"/c/{slug}/pledge"))
    pledge_without_reward(page, "25")
    enter_test_card(page)
    page.get_by_role("button", name="Save card").click()

    page.wait_for_url(re.compile(r"/pledges/\d+$"))
    assert page.get_by_text("Thank you! Your pledge is in.").is_visible()
    page.goto("/me/pledges")
    row = page.locator("table.pledges tbody tr", has_text="Second oven for the bakery")
    assert row.count() == 1
    assert "$25.00" in row.inner_text()
    assert "Card saved, not charged yet" in row.inner_text()
    assert "4242" in row.inner_text()
    assert page.console_errors == []
    db.session.expire_all()
    pledge = db.session.execute(db.select(Pledge).where(Pledge.backer_id == backer.id)).scalar_one()
    assert (pledge.state, pledge.amount) == ("active", 2500)
    assert pledge.stripe_payment_method_id and pledge.stripe_payment_method_id.startswith("pm_")
