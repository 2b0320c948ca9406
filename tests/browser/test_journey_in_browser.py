"""The whole journey in a real browser (issue 8), every step through the pages as a person takes it:

a founder signs up, confirms the email and drafts a campaign (story, goal, duration, category, a
cover image, a reward tier, budget lines, milestones) and submits it; a moderator asks for a
change, the founder reads the note, makes it and resubmits, the moderator approves; the founder
connects a payout account (the stand-in's onboarding) and launches; a backer pledges on the tier
with the test card; the deadline passes and the card is charged; the founder reports milestone 1
in a backers-only update that the backer reads and a visitor cannot; the founder asks for the
milestone's release, a moderator approves it and the campaign page shows the money released.

Only the clock is not moved through a page: the periodic job runs in-process past the deadline,
as `flask crowdfund tick --now` does. Each step leaves a full-page screenshot (see `step` in
conftest.py), kept under test-results/journey/ when the test fails."""
import re
from datetime import date, timedelta
from types import SimpleNamespace

from PIL import Image, ImageDraw
from playwright.sync_api import expect

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.ticker import run_periodic_jobs
from browser_fixtures import enter_test_card

PASSWORD = "a browser's password 2026"
FOUNDER_EMAIL = "fay@leeds-bakery.example.com"
TITLE = "A second oven for our Leeds bakery"
TIER = "A loaf every week"
STORY = ("## Why a second oven\n\nWe are a two-person bakery in Leeds. Three cafés near us want our bread "
         "every morning, and one oven cannot bake enough before they open. A second deck oven doubles what "
         "we bake, so we can supply them and keep the shop full.\n\n## Who we are\n\nFay and Sam, bakers "
         "for twelve years.")
RISKS = "Oven delivery can slip by a month; we have a backup supplier."
CHANGE_NOTE = "Please say what happens to the cafés' orders if the oven arrives late."
FIXED_RISKS = RISKS + " If it is late, we bake the cafés' orders at night with the oven we have."
UPDATE_TITLE = "The oven is in and inspected"
SECRET = "The oven passed its inspection on Tuesday"
EVIDENCE = "Inspection certificate no. 2027-114, photos of the installed oven."


def cover_png(path):
    """A real PNG, as a founder's photo would be: 1600×900, an oven drawn on a warm background."""
    image = Image.new("RGB", (1600, 900), (214, 140, 60))
    draw = ImageDraw.Draw(image)
    draw.rectangle((500, 200, 1100, 750), fill=(60, 60, 70))
    draw.rectangle((560, 300, 1040, 520), fill=(240, 120, 30))
    image.save(path, "PNG")
    return path


def days_ahead(days: int) -> date:
    return date.today() + timedelta(days=days)


def add_item(page, fields: dict[str, str], shown: str) -> None:
    """Fill the "Add one" form of a budget/rewards/milestones page and wait for the item in the list."""
    form = page.locator("main form").filter(has=page.get_by_role("button", name="Add", exact=True))
    for label, value in fields.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("listitem").filter(has_text=shown)).to_be_visible()


def open_campaign_tab(page, name: str) -> None:
    tab = page.get_by_role("navigation", name="Campaign sections").get_by_role("link", name=name, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-current", "page")  # the section's page has loaded


def open_my_campaign(page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My campaigns").click()
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1, name=TITLE)).to_be_visible()


def review_decision(page, decision: str, reason: str) -> None:
    """The moderator opens the campaign from the review queue and records a decision."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Moderation").click()
    page.get_by_role("link", name=TITLE).click()
    form = page.locator("main form").filter(has=page.get_by_role("button", name="Record decision"))
    form.get_by_label(decision, exact=True).check()
    form.get_by_label("Reason (shown to the founder)").fill(reason)
    form.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded")).to_be_visible()


def money_shown(page, what: str) -> str:
    """One figure of the campaign page's "Where the money is" section."""
    return page.get_by_role("region", name="Where the money is").locator(f'[data-money="{what}"]').inner_text()


def test_founder_backer_and_moderator_go_through_the_whole_journey(
        csrf_app, stripe_standin, page, new_page, log_in, step, outbox, make_user, tmp_path):
    # Launching waits for a payout account that can receive transfers, as in production.
    csrf_app.config["REQUIRE_PAYOUT_ACCOUNT"] = True
    moderator_user = make_user(display_name="Mo Derator", role="moderator", password=PASSWORD)
    backer_user = make_user(display_name="Ben Backer", password=PASSWORD)
    moderator_user, backer_user = (SimpleNamespace(email=u.email) for u in (moderator_user, backer_user))
    db.session.remove()  # release SQLite before the server thread writes
    founder = page

    # 1. The founder signs up, confirms the email and drafts the campaign.
    with step("founder signs up"):
        founder.goto("/")
        founder.get_by_role("link", name="Sign up").click()
        form = founder.locator("main form")
        form.get_by_label("Email").fill(FOUNDER_EMAIL)
        form.get_by_label("Display name").fill("Fay Baker")
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Sign up").click()
        expect(founder.get_by_text(f"We sent a link to {FOUNDER_EMAIL}")).to_be_visible()

    with step("founder confirms the email from the link in the mail"):
        mail = [m for m in outbox if m["To"] == FOUNDER_EMAIL]
        assert [m["Subject"] for m in mail] == ["Confirm your email address"]
        link = re.search(r"https?://\S+/verify/\S+", mail[0].get_body(preferencelist=("plain",)).get_content())
        founder.goto(link.group(0))
        founder.get_by_role("button", name="Confirm").click()
        expect(founder.get_by_text("Your email address is confirmed.")).to_be_visible()
        founder.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        expect(founder.get_by_role("heading", level=1)).to_be_visible()
        expect(founder.get_by_text("is not confirmed yet")).to_have_count(0)

    with step("founder starts a draft"):
        founder.get_by_role("link", name="Start a campaign").click()
        form = founder.locator("main form")
        form.get_by_label("Title").fill(TITLE)
        form.get_by_label("Category").select_option(label="Food & drink")
        form.get_by_label("All or nothing").check()
        form.get_by_role("button", name="Create draft").click()
        founder.wait_for_url(re.compile(r"/c/[\w-]+/edit$"))
        expect(founder.get_by_text("Your draft is saved.")).to_be_visible()
    slug = re.search(r"/c/([\w-]+)/edit$", founder.url).group(1)

    with step("founder writes the basics and the story"):
        form = founder.locator("main form").filter(has=founder.get_by_role("button", name="Save", exact=True))
        form.get_by_label("Blurb").fill("A second oven so we can bake for three more cafés.")
        form.get_by_label("Funding goal").fill("100")
        form.get_by_label("Duration in days").fill("7")
        form.get_by_label("Story", exact=True).fill(STORY)
        form.get_by_label("Risks and challenges").fill(RISKS)
        expect(founder.locator("#story-preview").get_by_role("heading", name="Why a second oven")).to_be_visible()
        form.get_by_role("button", name="Save", exact=True).click()
        expect(founder.get_by_text("Saved.", exact=True)).to_be_visible()
        expect(form.get_by_label("Funding goal")).to_have_value("100.00")

    with step("founder uploads the cover image"):
        open_campaign_tab(founder, "Images and video")
        cover = founder.get_by_role("region", name="Cover image")
        cover.get_by_label("Cover image").set_input_files(cover_png(tmp_path / "our-oven.png"))
        cover.get_by_label("Description (alt text)").fill("Our deck oven, glowing")
        cover.get_by_role("button", name="Upload the cover").click()
        expect(founder.get_by_text("The cover image is saved.")).to_be_visible()
        expect(founder.get_by_role("region", name="Cover image").get_by_role("img", name="Our deck oven, glowing")) \
            .to_be_visible()

    with step("founder adds the budget lines"):
        open_campaign_tab(founder, "Budget")
        add_item(founder, {"What the money is for": "Deck oven", "Amount": "75"}, "Deck oven")
        add_item(founder, {"What the money is for": "Installation and inspection", "Amount": "25"},
                 "Installation and inspection")
        expect(founder.get_by_text("Budget total $100.00 of goal $100.00")).to_be_visible()

    with step("founder adds a reward tier"):
        open_campaign_tab(founder, "Reward tiers")
        add_item(founder, {"Title": TIER, "What backers get": "A sourdough loaf every week for a month.",
                           "Minimum pledge": "25",
                           "Estimated delivery (month)": days_ahead(62).strftime("%Y-%m")}, TIER)

    with step("founder adds the milestones"):
        open_campaign_tab(founder, "Milestones")
        add_item(founder, {"Title": "Oven installed", "What will be delivered": "Installed and inspected.",
                           "Due date": days_ahead(90).isoformat(), "Share of funds released (%)": "60"},
                 "Oven installed")
        add_item(founder, {"Title": "First deliveries", "What will be delivered": "Bread to three cafés.",
                           "Due date": days_ahead(150).isoformat(), "Share of funds released (%)": "40"},
                 "First deliveries")

    with step("founder submits the campaign for review"):
        founder.get_by_role("button", name="Submit for review").click()
        expect(founder.get_by_text("Submitted. A moderator will review your campaign")).to_be_visible()
        expect(founder.get_by_text("Waiting for a moderator's review.")).to_be_visible()

    # 2. Review: a change requested, made, approved; the founder connects a payout account and launches.
    moderator = new_page()
    with step("moderator requests a change", moderator):
        log_in(moderator_user, PASSWORD, on=moderator)
        review_decision(moderator, "Request changes", CHANGE_NOTE)

    with step("founder reads the note and makes the change"):
        open_my_campaign(founder)
        expect(founder.get_by_text(CHANGE_NOTE)).to_be_visible()
        founder.get_by_role("link", name="Edit campaign").click()
        expect(founder.get_by_role("heading", name="The moderator asked for changes")).to_be_visible()
        expect(founder.get_by_text(CHANGE_NOTE)).to_be_visible()
        form = founder.locator("main form").filter(has=founder.get_by_role("button", name="Save", exact=True))
        form.get_by_label("Risks and challenges").fill(FIXED_RISKS)
        form.get_by_role("button", name="Save", exact=True).click()
        expect(founder.get_by_text("Saved.", exact=True)).to_be_visible()

    with step("founder submits again"):
        founder.get_by_role("button", name="Submit for review").click()
        expect(founder.get_by_text("Submitted. A moderator will review your campaign")).to_be_visible()

    with step("moderator approves", moderator):
        review_decision(moderator, "Approve", "The risks now cover a late oven. Good luck!")

    with step("founder cannot launch before connecting a payout account"):
        open_my_campaign(founder)
        founder.get_by_role("button", name="Launch now").click()
        expect(founder.get_by_text("Before launching, connect a payout account")).to_be_visible()
        refusal = [e for e in founder.console_errors if "403" in e and f"/c/{slug}/launch" in e]
        assert len(refusal) == 1 and founder.console_errors == refusal  # the refusal's status, nothing else
        founder.console_errors.clear()

    with step("founder connects a payout account"):
        founder.get_by_role("navigation", name="Main").get_by_role("link", name="Payouts").click()
        expect(founder.get_by_text("Status: not connected.")).to_be_visible()
        founder.get_by_role("button", name="Connect a payout account").click()
        expect(founder.get_by_role("heading", name="Test onboarding")).to_be_visible()  # the stand-in's page
        founder.get_by_role("button", name="Complete onboarding").click()
        expect(founder.get_by_text("Your payout account is ready to receive transfers.")).to_be_visible()
        expect(founder.get_by_text("Status: ready to receive transfers.")).to_be_visible()
        # The stand-in's onboarding page is not ours (its /favicon.ico wants an API key).
        founder.console_errors[:] = [e for e in founder.console_errors if stripe_standin.url not in e]

    with step("founder launches"):
        open_my_campaign(founder)
        founder.get_by_role("button", name="Launch now").click()
        expect(founder.get_by_text("Your campaign is live. Share it!")).to_be_visible()

    # 3. A backer finds the campaign and pledges on the tier with the test card.
    backer = new_page()
    with step("backer finds the campaign", backer):
        log_in(backer_user, PASSWORD, on=backer)
        search = backer.get_by_role("search")
        search.get_by_label("Search campaigns").fill("second oven Leeds")
        search.get_by_role("button", name="Search").click()
        backer.get_by_role("link", name=TITLE).first.click()
        expect(backer.get_by_role("heading", level=1, name=TITLE)).to_be_visible()

    with step("backer pledges on the tier", backer):
        backer.get_by_role("region", name="Rewards").get_by_role("link", name="Select this reward").click()
        form = backer.locator("main form")
        expect(form.get_by_label(TIER)).to_be_checked()
        form.get_by_label("Pledge amount").fill("100")
        form.get_by_role("button", name="Continue to payment").click()
        backer.wait_for_url(re.compile(r"/pledges/\d+/card$"))

    with step("backer saves the test card and sees the confirmation", backer):
        enter_test_card(backer, postal_code="LS1 4AP")
        backer.get_by_role("button", name="Save card").click()
        expect(backer.get_by_text("Thank you! Your pledge is in.")).to_be_visible()

    with step("the campaign page counts the pledge", backer):
        backer.goto(f"/c/{slug}")
        funding = backer.get_by_role("complementary", name="Funding")
        expect(funding.get_by_text("$100.00 pledged of $100.00")).to_be_visible()
        expect(funding).to_contain_text(re.compile(r"Backers\s*1\s"))

    # 4. The deadline passes: the periodic job closes the campaign and charges the saved card.
    with step("the clock moves past the deadline and the pledge is charged", backer):
        deadline = db.session.execute(db.select(Campaign.deadline).where(Campaign.slug == slug)).scalar_one()
        assert run_periodic_jobs(now=deadline + timedelta(minutes=1)) == {"successful": 1, "failed": 0}
        backer.get_by_role("navigation", name="Main").get_by_role("link", name="My pledges").click()
        row = backer.get_by_role("row").filter(has_text=TITLE)
        expect(row).to_contain_text("Charged")
        expect(row).to_contain_text("$100.00")
        expect(row).to_contain_text(TIER)

    with step("founder's dashboard shows the money collected"):
        open_my_campaign(founder)
        expect(founder.get_by_text("This campaign is: Funded")).to_be_visible()
        founder.get_by_role("link", name="Dashboard").click()
        collected = founder.get_by_role("region", name="Payments").get_by_role("row").filter(has_text="Collected")
        expect(collected).to_contain_text("1")
        expect(collected).to_contain_text("$100.00")
        founder.get_by_role("link", name="Campaign page").click()
        # At success the first tranche (20 % of the founder's $95.00 share) went to the payout account.
        assert money_shown(founder, "collected") == "$100.00"
        assert money_shown(founder, "fees") == "$5.00"
        assert money_shown(founder, "released") == "$19.00"
        assert money_shown(founder, "held") == "$76.00"

    # 5. A backers-only update reports milestone 1: the backer reads it, a visitor does not.
    with step("founder reports milestone 1 in a backers-only update"):
        founder.get_by_role("link", name="Post an update").click()
        form = founder.locator("main form")
        form.get_by_label("Title").fill(UPDATE_TITLE)
        form.get_by_label("Update", exact=True).fill(f"## Good news\n\n{SECRET}.")
        form.get_by_label("Backers only").check()
        milestones = form.get_by_label("Milestone", exact=True)
        milestones.select_option(milestones.locator("option", has_text="Oven installed").get_attribute("value"))
        form.get_by_label("Completed").check()
        form.get_by_label("Evidence").fill(EVIDENCE)
        form.get_by_label("Spent on Deck oven").fill("19")  # what the first tranche paid for: without
        form.get_by_label("Note about Deck oven").fill("Deposit")  # it the release would be held by risk
        form.get_by_role("button", name="Post the update").click()
        expect(founder.get_by_text("Your update is posted.")).to_be_visible()
        expect(founder.get_by_role("article").filter(has=founder.get_by_role("heading", name=UPDATE_TITLE))) \
            .to_contain_text(SECRET)

    with step("backer reads the update", backer):
        backer.goto(f"/c/{slug}")
        backer.get_by_role("region", name="Updates").get_by_role("link", name=UPDATE_TITLE).click()
        expect(backer.get_by_text(SECRET)).to_be_visible()
        expect(backer.get_by_text("Inspection certificate no. 2027-114")).to_be_visible()

    visitor = new_page()
    with step("a visitor sees that an update exists, not what it says", visitor):
        for path in (f"/c/{slug}/updates", f"/c/{slug}"):
            visitor.goto(path)
            expect(visitor.get_by_text("Backers-only update posted").first).to_be_visible()
            content = visitor.content()
            assert SECRET not in content and UPDATE_TITLE not in content and "2027-114" not in content
        expect(visitor.get_by_role("button", name="Log out")).to_have_count(0)

    # 6. The founder asks for milestone 1's money; a moderator verifies it and it is released.
    with step("founder requests the milestone's release"):
        founder.goto(f"/c/{slug}")
        founder.get_by_role("button", name="Request release").click()
        expect(founder.get_by_text("Release requested: a moderator will check your milestone report.")) \
            .to_be_visible()

    with step("moderator approves the release", moderator):
        moderator.get_by_role("navigation", name="Main").get_by_role("link", name="Moderation").click()
        moderator.get_by_role("link", name="Releases to verify").click()
        request = moderator.get_by_role("article").filter(has_text=TITLE)
        expect(request.get_by_text(SECRET)).to_be_visible()
        expect(request.get_by_text("Would release now: $45.60")).to_be_visible()  # 95.00 · 80 % · 60 %
        request.get_by_label("Approve").check()
        request.get_by_label("Reason").fill("The certificate and the photos check out.")
        request.get_by_role("button", name="Record decision").click()
        expect(moderator.get_by_text("Released $45.60 to the founder.")).to_be_visible()

    with step("the campaign page shows the money released", visitor):
        visitor.goto(f"/c/{slug}")
        milestone = visitor.get_by_role("listitem").filter(
            has=visitor.get_by_role("heading", level=3, name="Oven installed"))
        expect(milestone.get_by_text("Release:")).to_contain_text("Released")
        expect(milestone.get_by_text("Release:")).to_contain_text("$45.60")
        expect(visitor.get_by_role("region", name="Where the money is")).to_be_visible()
        assert money_shown(visitor, "released") == "$64.60"  # first tranche 19.00 + milestone 45.60
        assert money_shown(visitor, "held") == "$30.40"

    for person in (founder, moderator, backer, visitor):
        assert person.console_errors == []
