"""The demo's track records (issue 16): after `flask crowdfund demo`, a founder with a strong record
scores above the struggling one, the new founder has no history yet, and the struggling founder's
funded campaign sits in the risk queue with its reasons."""
from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.credit.models import CreditProfile
from crowdfund.demo import DEMO_PASSWORD
from crowdfund.extensions import db
from crowdfund.risk.holds import hold_of
from crowdfund.risk.models import RiskAssessment
from crowdfund.risk.rules import RiskSettings


def _profile(email):
    user = db.session.execute(db.select(User).where(User.email == email)).scalar_one()
    return db.session.get(CreditProfile, user.id)


def test_demo_founders_have_profiles_and_the_struggling_campaign_is_flagged(app, runner, client):
    result = runner.invoke(args=["crowdfund", "demo"])
    assert result.exit_code == 0, result.output
    assert "sofia@example.com" in result.output and "dan@example.com" in result.output

    strong, new, struggling = (_profile(f"{name}@example.com") for name in ("sofia", "leo", "dan"))
    assert strong.score is not None and struggling.score is not None
    assert strong.score > struggling.score
    assert new is None or new.score is None  # "no history yet"

    desks = db.session.execute(db.select(Campaign).where(Campaign.title.like("Handmade oak desks%"))).scalar_one()
    assessment = db.session.get(RiskAssessment, desks.id)
    threshold = app.config.get("RISK_HOLD_THRESHOLD", RiskSettings().hold_threshold)
    assert assessment.score >= threshold
    codes = {reason["code"] for reason in assessment.reasons}
    assert codes, "flagged without reasons"
    assert hold_of(desks.id) is not None  # its requested release is held until a moderator clears it
    assert client.post("/login", data={"email": "moderator@example.com", "password": DEMO_PASSWORD}).status_code == 302
    queue = client.get("/moderation/risk")
    assert queue.status_code == 200
    assert desks.title in queue.text
    # The strong founder's delivered campaigns are not flagged.
    for campaign in db.session.execute(db.select(Campaign).where(Campaign.founder_id == strong.user_id,
                                                                 Campaign.state == "successful")).scalars():
        flagged = db.session.get(RiskAssessment, campaign.id)
        assert flagged is None or flagged.score < threshold, flagged.reasons


def test_demo_if_empty_is_idempotent(app, runner):
    assert runner.invoke(args=["crowdfund", "demo", "--if-empty"]).exit_code == 0
    campaigns = db.session.execute(db.select(db.func.count(Campaign.id))).scalar_one()

    again = runner.invoke(args=["crowdfund", "demo", "--if-empty"])

    assert again.exit_code == 0 and "not loaded" in again.output
    assert db.session.execute(db.select(db.func.count(Campaign.id))).scalar_one() == campaigns
