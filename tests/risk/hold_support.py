"""(No tests here.) Set-up shared by the risk queue, hold and digest tests: an assessment written
directly (as crowdfund/risk/assessment.py would), and a requested release."""
from datetime import timedelta

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payouts.models import Release
from crowdfund.payouts.releases import milestones_of
from crowdfund.risk.models import RiskAssessment, RiskHistoryPoint

SILENCE = {"code": "silence", "points": 30, "phase": "delivery", "detail": {"days_since_update": 61}}
OVERDUE = {"code": "milestones_overdue", "points": 25, "phase": "delivery", "detail": {"overdue_days": [20]}}
NO_SPEND = {"code": "release_without_spend_report", "points": 20, "phase": "delivery", "detail": {}}


def flag(campaign, *reasons, previous=None, now=None, history=()):
    """Write (or replace) the campaign's assessment: the reasons' points summed; history: (at, score)."""
    now = now or utcnow()
    assessment = db.session.get(RiskAssessment, campaign.id) or RiskAssessment(campaign_id=campaign.id)
    assessment.reasons = [dict(reason) for reason in reasons]
    assessment.score = sum(reason["points"] for reason in reasons)
    assessment.previous_score = previous
    assessment.computed_at = now
    assessment.first_flagged_at = assessment.first_flagged_at or (now if reasons else None)
    db.session.add(assessment)
    for at, score in history:
        db.session.add(RiskHistoryPoint(campaign_id=campaign.id, at=at, score=score))
    db.session.commit()
    return assessment


def requested_release(campaign, milestone_index=0):
    """A founder's request for a milestone's tranche, as payouts.releases.request_release leaves it."""
    milestone = milestones_of(campaign.id)[milestone_index]
    release = Release(campaign_id=campaign.id, milestone_id=milestone.id, tranche=f"milestone-{milestone.id}",
                      state="requested", requested_at=utcnow() - timedelta(hours=1),
                      requested_by_id=campaign.founder_id)
    db.session.add(release)
    db.session.commit()
    return release
