"""The founder of a funded campaign posts a backers-only update reporting a milestone, in a real
browser; a backer reads it, a visitor sees only that a backers-only update exists."""
from crowdfund.extensions import db

PASSWORD = "a browser's password 2026"
SECRET = "The oven passed its inspection on Tuesday"


def test_backers_only_milestone_report_is_read_by_a_backer_and_not_by_a_visitor(
        browser, live_server, page, log_in, make_user, make_campaign, make_pledge):
    founder = make_user(display_name="Fay Baker", password=PASSWORD)
    backer = make_user(display_name="Ben Backer", password=PASSWORD)
    campaign = make_campaign(founder=founder, state="successful", title="Second oven for the bakery")
    make_pledge(campaign, backer=backer, amount=5000, state="collected")
    slug, first_milestone = campaign.slug, campaign_milestone_title(campaign)
    db.session.commit()  # release SQLite before the server thread writes

    log_in(founder, PASSWORD)
    page.goto(f"/c/{slug}/updates/new")
    form = page.locator("main form")
    form.get_by_label("Title").fill("Milestone one is done")
    form.get_by_label("Update", exact=True).fill(f"## Good news\n\n{SECRET}.")
    form.get_by_label("Backers only", exact=False).check()
    milestone_select = form.get_by_label("Milestone", exact=True)
    milestone_select.select_option(value=milestone_select.locator("option", has_text=first_milestone)
                                   .get_attribute("value"))
    form.get_by_label("Completed").check()
    form.get_by_label("Evidence").fill("Inspection certificate no. 2027-114, photo in the gallery.")
    form.get_by_role("button", name="Post the update").click()
    page.wait_for_url(lambda url: "/updates/" in url and not url.endswith("/new"))
    assert page.get_by_text(SECRET).is_visible()
    assert page.console_errors == []

    backer_page = browser.new_context(base_url=live_server.url).new_page()
    backer_page.goto("/login")
    login_form = backer_page.locator("main form")
    login_form.get_by_label("Email").fill(backer.email)
    login_form.get_by_label("Password", exact=True).fill(PASSWORD)
    login_form.get_by_role("button", name="Log in").click()
    backer_page.wait_for_url(lambda url: "/login" not in url)
    backer_page.goto(f"/c/{slug}")
    assert backer_page.get_by_role("link", name="Milestone one is done").is_visible()
    backer_page.get_by_role("link", name="Milestone one is done").click()
    assert backer_page.get_by_text(SECRET).is_visible()
    assert backer_page.get_by_text("Inspection certificate no. 2027-114").is_visible()
    backer_page.context.close()

    visitor = browser.new_context(base_url=live_server.url).new_page()
    visitor.goto(f"/c/{slug}")
    assert visitor.get_by_text("Backers-only update posted").first.is_visible()
    body = visitor.content()
    assert SECRET not in body and "Milestone one is done" not in body and "2027-114" not in body
    # The milestone's status is public (transparency); the evidence is not.
    assert visitor.locator(".timeline").get_by_text("Completed").first.is_visible()
    visitor.goto(f"/c/{slug}/updates.atom")
    assert SECRET not in visitor.content()
    visitor.context.close()


def campaign_milestone_title(campaign):
    from crowdfund.campaigns.models import Milestone

    return db.session.execute(db.select(Milestone.title).where(Milestone.campaign_id == campaign.id)
                              .order_by(Milestone.due_date, Milestone.id)).scalars().first()
