"""Demo data: founders, a moderator, backers and campaigns in every state, with cover
images drawn by Pillow. Used by `flask crowdfund demo` and `make run`."""
import random
from datetime import date, datetime, timedelta
from functools import lru_cache
from io import BytesIO

from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from werkzeug.security import generate_password_hash

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import BudgetLine, Campaign, Category, Milestone, RewardTier
from crowdfund.campaigns.services import unique_slug
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.media.models import GalleryImage
from crowdfund.media.services import store_image
from crowdfund.moderation.services import record_action
from crowdfund.payments import ledger
from crowdfund.payouts.models import PayoutAccount, Release
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import SpendReport, Update, UpdateRequest

DEMO_PASSWORD = "demo-crowdfund-2026"

FOUNDERS = [
    ("mei@example.com", "Mei Lin", "Runs a tea house in Chengdu with her sister. Ten years of sourcing from small farms."),
    ("tom@example.com", "Tom Okafor", "Bike mechanic and repair-café organiser in Leeds."),
    ("ana@example.com", "Ana Souza", "Ceramicist. Makes tableware for restaurants from a studio in Porto."),
    ("kenji@example.com", "Kenji Watanabe", "Independent game developer in Osaka, formerly a school teacher."),
]

# (founder index, title, category, currency, goal in minor units, model, state, blurb, palette)
CAMPAIGNS = [
    (0, "Chengdu Tea House: a second room for tastings", "food-drink", "CNY", 8_000_000, "all_or_nothing", "live",
     "A quiet second room where farmers present their teas to customers.", ((46, 125, 50), (200, 230, 201))),
    (1, "The Repair Bus: a mobile bike workshop", "community", "GBP", 1_800_000, "all_or_nothing", "live",
     "A converted bus that brings free bike repairs to estates without a shop.", ((13, 71, 161), (187, 222, 251))),
    (2, "Porto Clay: tableware for small restaurants", "crafts", "EUR", 1_200_000, "flexible", "live",
     "A second kiln so we can take orders from the twenty restaurants on our waiting list.",
     ((191, 54, 12), (255, 224, 178))),
    (3, "Lantern Path: a game about rural night trains", "games", "JPY", 3_000_000, "all_or_nothing", "live",
     "A short, hand-drawn adventure about the last night trains of rural Japan.", ((74, 20, 140), (225, 190, 231))),
    (1, "Solar chargers for the Saturday market", "environment", "GBP", 450_000, "all_or_nothing", "live",
     "Six solar charging points so stallholders can take card payments all day.", ((245, 127, 23), (255, 249, 196))),
    (0, "Mei's dumpling cookbook", "publishing", "USD", 2_500_000, "all_or_nothing", "successful",
     "Forty family recipes, photographed in our kitchen, printed locally.", ((183, 28, 28), (255, 205, 210))),
    (2, "Glaze lab for apprentices", "education", "EUR", 900_000, "all_or_nothing", "failed",
     "A shared glaze laboratory where apprentices can test recipes.", ((0, 96, 100), (178, 235, 242))),
    (3, "Pixel art workshop series", "education", "JPY", 500_000, "flexible", "cancelled",
     "Weekend workshops teaching pixel art to teenagers.", ((62, 39, 35), (215, 204, 200))),
    (1, "Cargo bikes for the food bank", "community", "GBP", 1_500_000, "all_or_nothing", "in_review",
     "Two cargo bikes so the food bank can deliver to people who cannot travel.", ((27, 94, 32), (220, 237, 200))),
    (2, "Tile murals for the metro", "art", "EUR", 3_000_000, "all_or_nothing", "changes_requested",
     "Hand-painted tile murals for two metro stations.", ((1, 87, 155), (179, 229, 252))),
    (3, "Soundtrack vinyl pressing", "music", "JPY", 1_200_000, "all_or_nothing", "approved",
     "Pressing the Lantern Path soundtrack on vinyl.", ((49, 27, 146), (209, 196, 233))),
    (0, "Tea subscription boxes", "food-drink", "USD", 1_000_000, "all_or_nothing", "draft",
     "Monthly boxes of small-farm tea.", ((85, 139, 47), (240, 244, 195))),
    (1, "Guaranteed-profit crypto bikes", "technology", "USD", 9_900_000, "all_or_nothing", "rejected",
     "Bikes that mine coins while you ride.", ((66, 66, 66), (224, 224, 224))),
]

STORY = """## What we are making

{blurb}

We have run our business for years on our own savings. This campaign pays for the one thing we cannot
finance from day-to-day takings, and every line of the budget below says exactly where the money goes.

## Why it matters

Small firms like ours struggle to borrow: a bank cannot see how we operate. Here you can. We will post an
update at every milestone, with receipts, and funds are released to us only when a moderator has checked
that the milestone was delivered.

## Who we are

{bio}
"""


def _font(size):
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def draw_cover(title: str, dark, light, seed: int) -> bytes:
    """A 1600×900 PNG: a vertical gradient, a few soft shapes and the campaign's title."""
    width, height = 1600, 900
    mask = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(Image.new("RGB", (width, height), dark), Image.new("RGB", (width, height), light), mask)
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for _ in range(7):
        r = rng.randint(80, 260)
        x, y = rng.randint(0, width), rng.randint(0, height)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=light, width=6)
    font = _font(72)
    words, lines, line = title.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) > width - 200 and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    y = height - 120 - 90 * len(lines)
    for text in lines:
        draw.text((100, y), text, font=font, fill=(255, 255, 255), stroke_width=3, stroke_fill=dark)
        y += 90
    buffer = BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    # One scrypt hash for every demo account: hashing is deliberately slow, the demo password is public.
    return generate_password_hash(DEMO_PASSWORD, method="scrypt")


def _user(email, name, role="backer", bio=""):
    user = User(email=email, display_name=name, role=role, bio=bio, password_hash=_demo_password_hash(),
                email_verified_at=utcnow())
    db.session.add(user)
    db.session.flush()
    return user


def load_demo_data() -> list[tuple[str, str, str]]:
    """Create the demo platform; returns (role, email, password) for each demo login."""
    now = utcnow()
    rng = random.Random(2026)
    moderator = _user("moderator@example.com", "Morgan (moderator)", role="moderator",
                      bio="Reviews campaigns and verifies milestones.")
    admin = _user("admin@example.com", "Ada (admin)", role="admin")
    founders = [_user(email, name, bio=bio) for email, name, bio in FOUNDERS]
    backers = [_user(f"backer{i}@example.com", name) for i, name in enumerate(
        ["Backer Bea", "Carlos", "Dana", "Eli", "Fatima", "Gao", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Manu",
         "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma"], 1)]
    categories = {c.slug: c for c in db.session.execute(db.select(Category)).scalars()}

    for index, (founder_i, title, category, currency, goal, model, state, blurb, (dark, light)) in \
            enumerate(CAMPAIGNS):
        founder = founders[founder_i]
        campaign = Campaign(
            founder_id=founder.id, title=title, slug=unique_slug(title), blurb=blurb, category_id=categories[category].id,
            story=STORY.format(blurb=blurb, bio=founder.bio), currency=currency, goal=goal, funding_model=model,
            duration_days=30, state="draft",
            risks="Suppliers can be late. We have asked two for quotes and kept a month of slack in the plan.",
            cover=store_image(draw_cover(title, dark, light, index), "cover"),
            cover_alt=f"Illustration with the words “{title}” over soft circles")
        if index < 2:  # two campaigns show a gallery, one picture of it inside the story
            campaign.gallery = [
                GalleryImage(image=store_image(draw_cover(caption, light, dark, index * 10 + n), "gallery"),
                             alt_text=f"Drawing titled “{caption}”", position=n)
                for n, caption in enumerate(("The workshop", "First prototype", "The team"))]
        campaign.budget_lines = [BudgetLine(purpose="Equipment and materials", amount=goal * 60 // 100, position=0),
                                 BudgetLine(purpose="Labour and installation", amount=goal * 25 // 100, position=1),
                                 BudgetLine(purpose="Rewards and shipping", amount=goal - goal * 85 // 100, position=2)]
        unit = 1 if currency == "JPY" else 100
        campaign.reward_tiers = [
            RewardTier(title="Thank you", description="Your name on our thank-you wall and every update.",
                       minimum_amount=500 * unit),
            RewardTier(title="Early bird", description="The first run of what we make, at a discount.",
                       minimum_amount=3500 * unit, quantity=25, ships=True, shipping_amount=600 * unit,
                       estimated_delivery=(date.today() + timedelta(days=120)).replace(day=1)),
            RewardTier(title="Patron", description="Everything above plus a visit to see the work in progress.",
                       minimum_amount=15000 * unit, quantity=10,
                       estimated_delivery=(date.today() + timedelta(days=180)).replace(day=1)),
        ]
        campaign.milestones = [
            Milestone(title="Equipment bought and installed", description="Receipts and photos posted.",
                      due_date=date.today() + timedelta(days=75), release_bp=5000),
            Milestone(title="First rewards delivered", description="Every backer's reward on its way.",
                      due_date=date.today() + timedelta(days=150), release_bp=5000),
        ]
        db.session.add(campaign)
        db.session.flush()
        if index < 2:
            first = campaign.gallery[0]
            campaign.story += f"\n\n![{first.alt_text}](gallery:{first.id})\n"
        _advance(campaign, state, founder, moderator, now, index)
        if state in ("live", "successful", "failed", "cancelled"):
            _pledges(campaign, backers, rng, now, state)
        if index == 0:
            campaign.featured = True
            record_action(moderator, "featured", campaign, "A great example of a transparent budget.")
    db.session.flush()
    track_records = _track_records(moderator, backers, categories, rng, now)
    _score_everything(now)
    return [("moderator", moderator.email, DEMO_PASSWORD), ("admin", admin.email, DEMO_PASSWORD)] + \
        [("founder", f.email, DEMO_PASSWORD) for f in founders + track_records] + \
        [("backer", backers[0].email, DEMO_PASSWORD)]


def _advance(campaign, state, founder, moderator, now, index):
    """Put the campaign in its demo state with the audit trail a real one would have."""
    if state == "draft":
        return
    campaign.submitted_at = now - timedelta(days=40 - index)
    record_action(founder, "submitted", campaign)
    decision = {"rejected": ("rejected", "Promises guaranteed financial returns, which this platform does not allow."),
                "changes_requested": ("changes_requested",
                                      "Please split 'Equipment and materials' into tiles and grout, with quotes."),
                "in_review": None}.get(state, ("approved", "Clear budget and realistic milestones."))
    if decision:
        campaign.review_reason = decision[1]
        record_action(moderator, decision[0], campaign, decision[1])
    campaign.state = state
    if state in ("live", "successful", "failed", "cancelled"):
        started = {"live": now - timedelta(days=3 + 4 * index), "successful": now - timedelta(days=45),
                   "failed": now - timedelta(days=40), "cancelled": now - timedelta(days=20)}[state]
        campaign.launched_at = started
        campaign.deadline = started + timedelta(days=campaign.duration_days)
        if index == 4:  # one live campaign ends within a day, to show "ending soon"
            campaign.deadline = now + timedelta(hours=20)
        record_action(founder, "launched", campaign)
    if state in ("successful", "failed", "cancelled"):
        campaign.ended_at = campaign.deadline if state != "cancelled" else now - timedelta(days=5)
        record_action(founder if state == "cancelled" else None, state, campaign,
                      "We found a cheaper way to run the workshops without a campaign." if state == "cancelled" else "")


def _pledges(campaign, backers, rng, now, state):
    """Pledges from distinct backers adding up to a believable share of the goal."""
    percent = {"successful": 118, "failed": 35, "cancelled": 20}.get(state, rng.choice([42, 67, 96, 131]))
    count = rng.randint(len(backers) // 2, len(backers))
    wanted = campaign.goal * percent // 100
    pledge_state = {"successful": "collected", "failed": "void", "cancelled": "void"}.get(state, "active")
    tiers = sorted(campaign.reward_tiers, key=lambda t: t.minimum_amount)
    for i, backer in enumerate(rng.sample(backers, count)):
        share = wanted // count
        amount = max(share * rng.randint(50, 150) // 100, 1)
        tier = next((t for t in reversed(tiers) if t.minimum_amount <= amount and not t.sold_out), None)
        if tier is not None and tier.ships:
            amount += tier.shipping_amount
        if tier is not None and tier.quantity is not None and pledge_state in ("active", "collected"):
            tier.claimed += 1
        created = (campaign.launched_at or now) + timedelta(hours=rng.randint(1, 24 * 20))
        pledge = Pledge(campaign_id=campaign.id, backer_id=backer.id, reward_tier_id=tier.id if tier else None,
                        amount=amount, state=pledge_state, created_at=min(created, now))
        db.session.add(pledge)
        if pledge_state == "collected":
            # The ledger of a funded campaign, as if the cards had been charged (no Stripe objects
            # behind these rows: demo refunds of them cannot go through Stripe).
            db.session.flush()
            ledger.book(campaign.id, "charge", amount, campaign.currency, pledge.id, note="Demo data")
            fee = amount * current_app.config["PLATFORM_FEE_BP"] // 10000
            if fee:
                ledger.book(campaign.id, "platform_fee", fee, campaign.currency, pledge.id, note="Demo data")


# --- Founders with a track record (issue 16: credit profiles and the risk queue) --------------------

TRACK_RECORD_FOUNDERS = [
    # (email, name, bio, account age in days)
    ("sofia@example.com", "Sofia Rossi",
     "Baker. Has run a neighbourhood bakery in Bologna since 2015; two campaigns here, both delivered.", 1100),
    ("leo@example.com", "Leo Martin", "Gardener in Lyon, trying crowdfunding for the first time.", 4),
    ("dan@example.com", "Dan Whitlock", "Woodworker in Shropshire. Makes furniture for schools.", 700),
]


def _track_records(moderator, backers, categories, rng, now) -> list[User]:
    """A founder with a strong record, a new founder, and a struggling one whose funded campaign has
    overdue milestones, a long silence, a release requested without a spend report and a spike of
    update requests (so it sits in the risk queue with its release held)."""
    strong, new, struggling = (_user(email, name, bio=bio) for email, name, bio, _ in TRACK_RECORD_FOUNDERS)
    for user, (*_, age) in zip((strong, new, struggling), TRACK_RECORD_FOUNDERS):
        user.created_at = now - timedelta(days=age)
        _payout_account(user, now - timedelta(days=min(age, 400)))
    from crowdfund.credit import business  # domain service; the demo is a web-layer loader

    business.declare(strong, "Forno Rossi s.r.l.", "BO-512233", "Via del Pratello 12, 40122 Bologna",
                     now - timedelta(days=600))
    business.check(moderator, strong.id, "Chamber of commerce extract (visura camerale), 2024", now - timedelta(days=590))

    # Sofia: two funded campaigns, delivered on time, regular updates, spend within budget, money
    # released, rewards shipped and confirmed received; a third campaign live now.
    for index, (title, category, goal, ended_days_ago, palette) in enumerate((
            ("A stone oven for the Bologna bakery", "food-drink", 1_500_000, 480, ((121, 85, 72), (239, 235, 233))),
            ("Weekend bread classes for the neighbourhood", "education", 900_000, 230, ((230, 81, 0), (255, 224, 178))))):
        ended = now - timedelta(days=ended_days_ago)
        campaign = _funded_campaign(strong, title, category, "EUR", goal, ended, (40, 100), categories, rng,
                                    backers, now, moderator, palette, 20 + index)
        _deliver_on_time(campaign, strong, moderator, ended, now, rng)
    live = _campaign(strong, "Sourdough for the hospital kitchen", "community", "EUR", 700_000, categories,
                     ((62, 39, 35), (215, 204, 200)), 22, milestone_days=(120, 200), today=now.date())
    _launch(live, strong, moderator, now - timedelta(days=6))
    _pledges(live, backers, rng, now, "live")

    # Leo: a live campaign, no history yet.
    fresh = _campaign(new, "Pocket herb gardens for balconies", "environment", "EUR", 600_000, categories,
                      ((46, 125, 50), (200, 230, 201)), 23, milestone_days=(90, 160), today=now.date())
    _launch(fresh, new, moderator, now - timedelta(days=2))
    _pledges(fresh, backers, rng, now, "live")

    # Dan: funded 140 days ago; the first milestone reported completed late with no spend report and
    # its release requested; the other two overdue; silent since; backers asking for news.
    ended = now - timedelta(days=140)
    desks = _funded_campaign(struggling, "Handmade oak desks for village schools", "crafts", "GBP", 2_000_000,
                             ended, (30, 90, 125), categories, rng, backers, now, moderator,
                             ((93, 64, 55), (215, 204, 200)), 24)
    first, *_ = sorted(desks.milestones, key=lambda m: m.due_date)
    reported = now - timedelta(days=84)
    _update(desks, struggling, "Slow going", "Timber prices went up. We are still working on it.",
            ended + timedelta(days=10))
    report = _update(desks, struggling, "First desks built", "The first batch is built; photos soon.", reported,
                     milestone=first, status="completed")
    db.session.add(Release(campaign_id=desks.id, milestone_id=first.id, tranche=f"milestone-{first.id}",
                           update_id=report.id, state="requested", requested_at=reported + timedelta(days=1),
                           requested_by_id=struggling.id))
    askers = [pledge.backer_id for pledge in db.session.execute(
        db.select(Pledge).where(Pledge.campaign_id == desks.id).order_by(Pledge.id)).scalars()]
    for n, backer_id in enumerate(askers[:9]):
        db.session.add(UpdateRequest(campaign_id=desks.id, user_id=backer_id, created_at=now - timedelta(hours=6 + 14 * n)))
    db.session.flush()
    return [strong, new, struggling]


def _payout_account(user, created):
    db.session.add(PayoutAccount(user_id=user.id, stripe_account_id=f"acct_demo_{user.id}", details_submitted=True,
                                 transfers_active=True, payouts_enabled=True, created_at=created, checked_at=created))


def _campaign(founder, title, category, currency, goal, categories, palette, seed, milestone_days, today):
    """A campaign with a cover, three budget lines, three tiers and milestones due `milestone_days`
    after `today` (the day it ends or ended)."""
    dark, light = palette
    blurb = title + ", told step by step with receipts."
    campaign = Campaign(
        founder_id=founder.id, title=title, slug=unique_slug(title), blurb=blurb, category_id=categories[category].id,
        story=STORY.format(blurb=blurb, bio=founder.bio), currency=currency, goal=goal, funding_model="all_or_nothing",
        duration_days=30, state="draft", risks="Suppliers can be late; we keep a month of slack in the plan.",
        cover=store_image(draw_cover(title, dark, light, seed), "cover"),
        cover_alt=f"Illustration with the words “{title}” over soft circles")
    campaign.budget_lines = [BudgetLine(purpose="Equipment and materials", amount=goal * 60 // 100, position=0),
                             BudgetLine(purpose="Labour and installation", amount=goal * 25 // 100, position=1),
                             BudgetLine(purpose="Rewards and shipping", amount=goal - goal * 85 // 100, position=2)]
    campaign.reward_tiers = [
        RewardTier(title="Thank you", description="Your name on our thank-you wall and every update.",
                   minimum_amount=500 * 100),
        RewardTier(title="The real thing", description="What we make, from the first run.",
                   minimum_amount=4000 * 100, ships=True, shipping_amount=600 * 100,
                   estimated_delivery=today + timedelta(days=milestone_days[-1])),
        RewardTier(title="Patron", description="Everything above plus a visit to the workshop.",
                   minimum_amount=15000 * 100, quantity=10),
    ]
    shares = [10000 // len(milestone_days)] * len(milestone_days)
    shares[-1] += 10000 - sum(shares)
    campaign.milestones = [Milestone(title=f"Milestone {n + 1}", description="Reported to backers with receipts.",
                                     due_date=today + timedelta(days=days), release_bp=share)
                           for n, (days, share) in enumerate(zip(milestone_days, shares))]
    db.session.add(campaign)
    db.session.flush()
    return campaign


def _launch(campaign, founder, moderator, launched):
    campaign.submitted_at = launched - timedelta(days=3)
    record_action(founder, "submitted", campaign)
    campaign.review_reason = "Clear budget and realistic milestones."
    record_action(moderator, "approved", campaign, campaign.review_reason)
    campaign.state = "live"
    campaign.launched_at = launched
    campaign.deadline = launched + timedelta(days=campaign.duration_days)
    record_action(founder, "launched", campaign)


def _funded_campaign(founder, title, category, currency, goal, ended, milestone_days, categories, rng, backers,
                     now, moderator, palette, seed):
    """A campaign that ended successfully at `ended`, its pledges collected and its first tranche
    transferred."""
    campaign = _campaign(founder, title, category, currency, goal, categories, palette, seed, milestone_days,
                         today=ended.date())
    _launch(campaign, founder, moderator, ended - timedelta(days=30))
    _pledges(campaign, backers, rng, now, "successful")
    campaign.state = "successful"
    campaign.ended_at = campaign.deadline = ended
    record_action(None, "successful", campaign, "")
    _release(campaign, None, None, ended, moderator=None)
    return campaign


def _founder_share(campaign) -> int:
    totals = ledger.money_totals([campaign.id])[campaign.id]
    return max(0, totals.collected - totals.refunded - totals.disputed - totals.platform_fees)


def _release(campaign, milestone, update, at, moderator):
    """A transferred tranche: the first one (milestone None) or a milestone's, booked in the ledger."""
    share = _founder_share(campaign)
    first = share * current_app.config["FIRST_TRANCHE_BP"] // 10000
    amount = first if milestone is None else (share - first) * milestone.release_bp // 10000
    release = Release(campaign_id=campaign.id, milestone_id=milestone.id if milestone else None,
                      tranche="first" if milestone is None else f"milestone-{milestone.id}",
                      update_id=update.id if update else None, state="transferred", amount=amount,
                      requested_at=at, decided_at=at, decided_by_id=moderator.id if moderator else None,
                      reason="Milestone verified against the receipts." if moderator else "",
                      transferred_at=at, stripe_transfer_id=f"tr_demo_{campaign.id}_{milestone.id if milestone else 0}")
    db.session.add(release)
    if amount:
        ledger.book(campaign.id, "release", amount, campaign.currency, stripe_id=release.stripe_transfer_id,
                    note="Demo data")
    return release


def _update(campaign, founder, title, body, at, milestone=None, status=None, spend=()):
    update = Update(campaign_id=campaign.id, author_id=founder.id, title=title, body=body, visibility="public",
                    created_at=at)
    if milestone is not None:
        update.milestone_id, update.milestone_status = milestone.id, status
        update.milestone_note = "Photos of the work and the receipts are in the gallery."
        if status == "completed":
            milestone.status, milestone.completed_on = "completed", at.date()
    update.spend_reports = [SpendReport(budget_line_id=line.id, amount=amount, note="Receipts attached.")
                            for line, amount in spend]
    db.session.add(update)
    db.session.flush()
    return update


def _deliver_on_time(campaign, founder, moderator, ended, now, rng):
    """Every milestone completed a few days early with a spend report within its budget lines and its
    tranche released; an update every two weeks; rewards shipped and most backers confirming receipt."""
    from crowdfund.credit.models import RewardReceipt

    lines = sorted(campaign.budget_lines, key=lambda line: line.position)
    milestones = sorted(campaign.milestones, key=lambda m: m.due_date)
    last_due = max(m.due_date for m in milestones)
    day = ended + timedelta(days=14)
    while day.date() < last_due and day < now:
        _update(campaign, founder, f"News from week {(day - ended).days // 7}", "What we did, what comes next.", day)
        day += timedelta(days=14)
    for n, milestone in enumerate(milestones):
        done = datetime_of(milestone.due_date) - timedelta(days=rng.randint(2, 6))
        spend = [(line, line.amount * 9 // 10 // len(milestones)) for line in lines]
        report = _update(campaign, founder, f"Milestone {n + 1} delivered", "Done, with the receipts.", done,
                         milestone=milestone, status="completed", spend=spend)
        _release(campaign, milestone, report, done + timedelta(days=2), moderator)
    shipped = datetime_of(last_due)
    for tier in campaign.reward_tiers:
        tier.shipped_at = shipped
    pledges = db.session.execute(db.select(Pledge).where(Pledge.campaign_id == campaign.id).order_by(Pledge.id)).scalars()
    for n, pledge in enumerate(pledges):
        if n % 4 != 3:  # three backers in four confirm; none says "not received"
            db.session.add(RewardReceipt(pledge_id=pledge.id, campaign_id=campaign.id, state="received",
                                         marked_at=shipped + timedelta(days=8 + n)))
    db.session.flush()


def datetime_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12)


def _score_everything(now):
    """Every founder's credit profile and every campaign's risk assessment, with the real services."""
    from crowdfund.credit.services import rebuild_all
    from crowdfund.risk.assessment import assess

    rebuild_all(now)
    for campaign_id in db.session.execute(db.select(Campaign.id).order_by(Campaign.id)).scalars().all():
        assess(campaign_id, now)
