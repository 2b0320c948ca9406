"""The risk engine over time and on domain events: the daily reassessment (once per UTC day, nothing
written when there is nothing to do) and the observers that reassess a campaign when something happens."""
from datetime import timedelta

from crowdfund.accounts.models import User
from crowdfund.clock import utcnow
from crowdfund.credit.reports import create_report
from crowdfund.extensions import db
from crowdfund.outbox import OBSERVERS
from crowdfund.risk.assessment import assess, settings_from_config
from crowdfund.risk.jobs import due_campaigns, run_daily
from crowdfund.risk.models import RiskAssessment, RiskHistoryPoint
from crowdfund.risk.reactions import EVENTS
from crowdfund.updates.services import post_update

from .helpers import codes_of, funded


def _history_count() -> int:
    return db.session.scalar(db.select(db.func.count(RiskHistoryPoint.id)))


def test_every_listed_event_has_the_risk_observer(app):
    for kind in EVENTS:
        assert any(o.__module__ == "crowdfund.risk.reactions" for o in OBSERVERS.get(kind, [])), kind


def test_daily_job_assesses_open_campaigns_once_per_utc_day(make_campaign):
    silent = funded(make_campaign, ended_days_ago=60)
    reviewing = make_campaign(state="in_review")
    make_campaign(state="draft")
    delivered = funded(make_campaign, ended_days_ago=60, milestone_days=())  # nothing left to deliver
    make_campaign(state="failed")
    now = utcnow().replace(hour=9, minute=0)

    assert set(due_campaigns(now)) == {silent.id, reviewing.id}
    run_daily(now)
    db.session.commit()
    assert "silence" in codes_of(silent.id) and db.session.get(RiskAssessment, reviewing.id) is not None
    assert db.session.get(RiskAssessment, delivered.id) is None

    computed = db.session.get(RiskAssessment, silent.id).computed_at
    points = _history_count()
    run_daily(now + timedelta(hours=5))  # the same UTC day: nothing due, nothing written
    assert not db.session.dirty and not db.session.new
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(RiskAssessment, silent.id).computed_at == computed
    assert _history_count() == points

    tomorrow = now + timedelta(days=1)
    assert set(due_campaigns(tomorrow)) == {silent.id, reviewing.id}
    run_daily(tomorrow)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(RiskAssessment, silent.id).computed_at == tomorrow


def test_an_update_posted_lifts_the_silence_through_the_observer(make_campaign):
    campaign = funded(make_campaign, ended_days_ago=60, milestone_days=(30,))
    assess(campaign.id, utcnow())
    db.session.commit()
    assert "silence" in codes_of(campaign.id)

    founder = db.session.get(User, campaign.founder_id)
    post_update(campaign, founder, "Where we are", "The press arrived; training starts Monday.", "public")
    db.session.commit()  # update.posted is delivered after commit

    assert "silence" not in codes_of(campaign.id)


def test_a_spike_of_reports_is_flagged_through_the_observer(make_campaign, make_user):
    campaign = funded(make_campaign, ended_days_ago=10, milestone_days=(30,))
    threshold = settings_from_config().spike_7d
    for n in range(threshold):
        create_report(campaign, make_user(), "The founder stopped answering messages.", utcnow())
        db.session.commit()
        assert ("report_spike" in codes_of(campaign.id)) == (n + 1 >= threshold)


def test_settings_come_from_the_risk_config(app):
    app.config["RISK_SILENCE_DAYS"] = 10
    app.config["RISK_HOLD_THRESHOLD"] = 70
    settings = settings_from_config()
    assert (settings.silence_days, settings.hold_threshold, settings.spike_7d) == (10, 70, 5)


def test_events_of_one_campaign_waiting_together_cost_one_assessment(make_campaign, make_pledge, monkeypatch):
    from crowdfund import outbox
    from crowdfund.risk import assessment

    campaign = make_campaign(state="live")
    other = make_campaign(state="live")
    pledges = [make_pledge(campaign) for _ in range(4)] + [make_pledge(other)]
    for pledge in pledges:  # as at a deadline: many events written before any is delivered
        outbox.emit("pledge.collected", now=utcnow(), pledge_id=pledge.id, amount=pledge.amount)
    assessed = []
    real = assessment.assess
    monkeypatch.setattr(assessment, "assess", lambda campaign_id, now, *a: assessed.append(campaign_id)
                        or real(campaign_id, now, *a))
    monkeypatch.setattr(outbox, "_kick", lambda app: None)  # deliver below, all at once
    db.session.commit()

    outbox.dispatch_due()

    assert sorted(assessed) == [campaign.id, other.id]
    assert db.session.get(RiskAssessment, campaign.id) is not None
