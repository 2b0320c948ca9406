"""`flask crowdfund risk explain SLUG` and `flask crowdfund risk assess`."""
from crowdfund.extensions import db
from crowdfund.risk.models import RiskAssessment

from .helpers import funded as _funded


def test_explain_prints_the_score_and_every_flag_with_its_numbers_and_reason(runner, make_campaign):
    campaign = _funded(make_campaign, ended_days_ago=60)

    result = runner.invoke(args=["crowdfund", "risk", "explain", campaign.slug])

    assert result.exit_code == 0, result.output
    out = result.output
    assessment = db.session.get(RiskAssessment, campaign.id)
    assert f"score {assessment.score} (hold threshold 50" in out
    assert "- silence  +40  [delivery]  days_since_update=60, open_milestones=2, threshold=45" in out
    assert "- milestones_overdue  +60  [delivery]  overdue_milestones=1, worst_days=40" in out
    assert "No updates for a long time: The founder has posted no update" in out
    assert "Milestones overdue: Milestones are past their expected date" in out


def test_explain_of_an_honest_campaign_says_no_flags(runner, make_campaign, make_user):
    campaign = make_campaign(state="draft")
    result = runner.invoke(args=["crowdfund", "risk", "explain", "--stored", campaign.slug])
    assert result.exit_code == 0 and "not assessed yet" in result.output
    assert db.session.get(RiskAssessment, campaign.id) is None  # --stored writes nothing


def test_explain_of_a_draft_prints_its_flags_and_stores_nothing(runner, make_campaign):
    from crowdfund.risk.models import RiskHistoryPoint, StorySignature

    draft = make_campaign(state="draft")
    result = runner.invoke(args=["crowdfund", "risk", "explain", draft.slug])

    assert result.exit_code == 0, result.output
    assert "computed now, not stored" in result.output
    assert "- no_verified_payout  +10  [review]" in result.output  # the founder has no payout account
    db.session.expire_all()
    assert db.session.get(RiskAssessment, draft.id) is None
    assert db.session.get(StorySignature, draft.id) is None
    assert db.session.execute(db.select(RiskHistoryPoint).where(RiskHistoryPoint.campaign_id == draft.id)).first() is None


def test_explain_of_an_unknown_slug_exits_2_with_a_message(runner):
    result = runner.invoke(args=["crowdfund", "risk", "explain", "no-such-campaign"])
    assert result.exit_code == 2
    assert "No campaign with the slug 'no-such-campaign'" in result.output


def test_assess_all_recomputes_every_campaign_and_counts_the_flagged(runner, make_campaign):
    flagged = _funded(make_campaign, ended_days_ago=60)
    calm = make_campaign(state="in_review")
    draft = make_campaign(state="draft")

    result = runner.invoke(args=["crowdfund", "risk", "assess", "--all"])

    assert result.exit_code == 0, result.output
    assert "2 campaigns assessed, 1 at or above 50" in result.output
    db.session.expire_all()
    assert db.session.get(RiskAssessment, flagged.id).score >= 50
    assert db.session.get(RiskAssessment, calm.id).score < 50
    assert db.session.get(RiskAssessment, draft.id) is None


def test_assess_one_unknown_slug_exits_2(runner):
    assert runner.invoke(args=["crowdfund", "risk", "assess", "nope"]).exit_code == 2
