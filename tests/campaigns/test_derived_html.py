"""Markdown rendered and sanitised once, when it is saved: the story (with the campaign's gallery), the
risks, reward tier and milestone descriptions, the founder's bio and update bodies. Saving through any
path changes the stored HTML, unsafe HTML never reaches it, a gallery change renders the story again,
and the migration fills it for rows written before it."""
from datetime import timedelta

from flask_migrate import upgrade
from sqlalchemy import text

from crowdfund.accounts.models import User
from crowdfund.campaigns import services
from crowdfund.campaigns.models import Campaign, Milestone, RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.media.models import GalleryImage
from crowdfund.updates.models import Update
from crowdfund.updates.services import post_update

DANGEROUS = ('Hello <script>alert("x")</script> **bold** [click](javascript:alert(1)) '
             '<img src=x onerror=alert(1)> ![remote](https://evil.example/track.png)')


def _fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def _with_items(campaign_id):
    db.session.expire_all()
    return db.session.execute(db.select(Campaign).where(Campaign.id == campaign_id).options(
        db.selectinload(Campaign.reward_tiers), db.selectinload(Campaign.milestones))).scalar_one()


def _assert_safe(html):
    assert "<strong>bold</strong>" in html
    for unsafe in ("<script", 'href="javascript', "<img", "evil.example"):  # no script, link, tag or tracker
        assert unsafe not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror" in html  # shown as text, never run


def test_saving_the_sources_renders_the_stored_html(app, make_campaign, make_user):
    campaign = _with_items(make_campaign(state="draft").id)
    assert "<p>We are a two-person bakery" in campaign.story_html
    assert campaign.risks_html.startswith("<p>Oven delivery")
    assert campaign.reward_tiers[0].description_html == "<p>A loaf every week for a month</p>\n"
    assert campaign.milestones[0].description_html == "<p>Installed and inspected</p>\n"

    services.update_basics(campaign, story="# Our oven\n\nA *second* oven.", risks="- flour\n- power")
    campaign.reward_tiers[0].description = "**Bread** weekly"
    campaign.milestones[0].description = "Inspected by `the council`"
    db.session.commit()

    campaign = _fresh(Campaign, campaign.id)
    assert campaign.story_html == "<h2>Our oven</h2>\n<p>A <em>second</em> oven.</p>\n"
    assert str(campaign.story_markup) == campaign.story_html
    assert campaign.risks_html == "<ul>\n<li>flour</li>\n<li>power</li>\n</ul>\n"
    tier = db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == campaign.id)).scalar_one()
    assert tier.description_html == "<p><strong>Bread</strong> weekly</p>\n"
    milestone = db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)
                                   .order_by(Milestone.due_date)).scalars().first()
    assert milestone.description_html == "<p>Inspected by <code>the council</code></p>\n"

    user = make_user()
    user.bio = "Baker since *1999*."
    db.session.commit()
    assert _fresh(User, user.id).bio_html == "<p>Baker since <em>1999</em>.</p>\n"


def test_unsafe_html_in_the_sources_never_reaches_the_stored_html(app, make_campaign, make_user):
    campaign = _with_items(make_campaign(state="live", story=DANGEROUS).id)
    campaign.risks = DANGEROUS
    campaign.reward_tiers[0].description = DANGEROUS
    founder = db.session.get(User, campaign.founder_id)
    founder.bio = DANGEROUS
    update = post_update(campaign, founder, "News", DANGEROUS, "public")
    db.session.commit()

    campaign = _fresh(Campaign, campaign.id)
    for html in (campaign.story_html, campaign.risks_html, _fresh(User, founder.id).bio_html,
                 db.session.get(Update, update.id).body_html,
                 db.session.execute(db.select(RewardTier.description_html)
                                    .where(RewardTier.campaign_id == campaign.id)).scalar_one()):
        _assert_safe(html)


def test_a_gallery_change_renders_the_story_and_the_updates_again(app, make_campaign, stored_image):
    campaign = make_campaign(state="live")
    image = stored_image()
    item = GalleryImage(campaign_id=campaign.id, image=image, alt_text="The oven")
    db.session.add(item)
    db.session.commit()
    reference = f"![The new oven](gallery:{item.id})"
    campaign.story = f"Look:\n\n{reference}"
    founder = db.session.get(User, campaign.founder_id)
    update = post_update(campaign, founder, "Installed", f"Here it is:\n\n{reference}", "public")
    db.session.commit()
    assert f'src="/media/{image.key}-' in _fresh(Campaign, campaign.id).story_html
    assert f'src="/media/{image.key}-' in db.session.get(Update, update.id).body_html

    # Removed from the gallery (through the campaign's collection): the picture becomes its alt text.
    campaign = db.session.execute(db.select(Campaign).where(Campaign.id == campaign.id)
                                  .options(db.selectinload(Campaign.gallery))).scalar_one()
    services_gallery = list(campaign.gallery)
    campaign.gallery.remove(services_gallery[0])
    db.session.commit()
    campaign = _fresh(Campaign, campaign.id)
    assert "<img" not in campaign.story_html and "The new oven" in campaign.story_html
    assert "<img" not in db.session.get(Update, update.id).body_html

    # Back in the gallery under the same id (added directly, not through the collection): shown again.
    db.session.add(GalleryImage(id=item.id, campaign_id=campaign.id, image=stored_image(), alt_text="Again"))
    db.session.commit()
    assert "<img" in _fresh(Campaign, campaign.id).story_html
    assert "<img" in db.session.get(Update, update.id).body_html


def test_the_campaign_and_updates_pages_show_the_stored_html(app, client, make_campaign):
    campaign = make_campaign(state="live", story="Our **oven**.")
    founder = db.session.get(User, campaign.founder_id)
    post_update(campaign, founder, "News", "We *baked*.", "public")
    db.session.commit()
    # What the pages show is the stored HTML, not the Markdown rendered again: change only the stored copy.
    db.session.execute(text("UPDATE campaign_update SET body_html = '<p>stored copy</p>'"))
    db.session.commit()
    page = client.get(f"/c/{campaign.slug}/updates").get_data(as_text=True)
    assert "<p>stored copy</p>" in page


def _insert_user(email):
    return db.session.execute(text(
        "INSERT INTO \"user\" (email, display_name, password_hash, role, bio, email_updates, email_follows,"
        " created_at, login_id) VALUES (:e, :e, 'x', 'backer', 'I *bake*.', true, true, CURRENT_TIMESTAMP, :e)"
        " RETURNING id"), {"e": email}).scalar_one()


def test_the_migration_fills_the_stored_html_and_totals_of_existing_rows(fresh_app):
    upgrade(revision="0012")
    founder_id = _insert_user("founder@example.com")
    backer_id = _insert_user("backer@example.com")
    campaign_id = db.session.execute(text(
        "INSERT INTO campaign (founder_id, title, slug, blurb, story, risks, goal, currency, funding_model,"
        " duration_days, state, cover_alt, featured, created_at, updated_at, launched_at, deadline)"
        " VALUES (:f, 'Old', 'old', '', 'An *old* story <script>x</script>', '**Risky**', 100000, 'USD',"
        " 'all_or_nothing', 30, 'live', '', false, :now, :now, :now, :deadline) RETURNING id"),
        {"f": founder_id, "now": utcnow(), "deadline": utcnow() + timedelta(days=30)}).scalar_one()
    for amount, state in ((3000, "collected"), (2000, "active"), (900, "cancelled")):
        db.session.execute(text(
            "INSERT INTO pledge (campaign_id, backer_id, amount, shipping_amount, state, created_at, updated_at,"
            " charge_attempts, disputed) VALUES (:c, :b, :a, 0, :s, :now, :now, 0, false)"),
            {"c": campaign_id, "b": backer_id, "a": amount, "s": state, "now": utcnow()})
    db.session.commit()
    db.session.remove()

    upgrade()

    row = db.session.execute(text("SELECT story_html, risks_html, pledged_amount, backer_count, trending_score"
                                  " FROM campaign WHERE id = :id"), {"id": campaign_id}).one()
    assert row.story_html == "<p>An <em>old</em> story &lt;script&gt;x&lt;/script&gt;</p>\n"
    assert row.risks_html == "<p><strong>Risky</strong></p>\n"
    assert (row.pledged_amount, row.backer_count, row.trending_score) == (5000, 1, 5000)
    bio = db.session.execute(text("SELECT bio_html FROM \"user\" WHERE id = :id"), {"id": founder_id}).scalar_one()
    assert bio == "<p>I <em>bake</em>.</p>\n"


def test_refresh_all_fills_every_derived_column_of_rows_written_in_sql_and_does_not_commit(
        app, make_campaign, make_pledge, make_user):
    """bench/seed.py writes rows with SQL and calls refresh_all(); it flushes, the caller commits."""
    from crowdfund.campaigns.derived import refresh_all

    campaign = make_campaign(state="live")
    make_pledge(campaign, amount=4000, state="collected")
    campaign_id = campaign.id
    db.session.execute(text("UPDATE campaign SET story = 'Raw *story*', story_html = '', risks_html = '',"
                            " pledged_amount = 1, backer_count = 7, trending_score = 0 WHERE id = :id"),
                       {"id": campaign_id})
    db.session.execute(text("UPDATE reward_tier SET description_html = '' WHERE campaign_id = :id"), {"id": campaign_id})
    db.session.commit()

    def columns():
        return db.session.execute(text(
            "SELECT c.story_html, c.risks_html, c.pledged_amount, c.backer_count, c.trending_score,"
            " t.description_html FROM campaign c JOIN reward_tier t ON t.campaign_id = c.id WHERE c.id = :id"),
            {"id": campaign_id}).one()

    refresh_all()
    assert tuple(columns()) == ("<p>Raw <em>story</em></p>\n", "<p>Oven delivery can slip by a month; we have a "
                                "backup supplier.</p>\n", 4000, 1, 4000, "<p>A loaf every week for a month</p>\n")
    db.session.rollback()  # refresh_all only flushed
    assert tuple(columns())[2:4] == (1, 7)
