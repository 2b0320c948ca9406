"""Demo data: founders, a moderator, backers and campaigns in every state, with cover
images drawn by Pillow. Used by `flask crowdfund demo` and `make run`."""
import random
from datetime import date, timedelta
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
from crowdfund.pledges.models import Pledge

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
    return [("moderator", moderator.email, DEMO_PASSWORD), ("admin", admin.email, DEMO_PASSWORD)] + \
        [("founder", f.email, DEMO_PASSWORD) for f in founders] + [("backer", backers[0].email, DEMO_PASSWORD)]


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
