"""The founder's credit profile on /u/<id> and "About the founder" on the campaign page (issue 16):
the score and band or "No history yet", the scorecard, every number it is built from, identity,
the history chart and, for the founder, how to improve."""
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.credit.models import BusinessDetails, CreditHistoryPoint, CreditProfile
from crowdfund.extensions import db

pytestmark = pytest.mark.sqlite_only

FACTS = {
    "campaigns_launched": 7, "campaigns_funded": 5, "campaigns_failed": 1, "campaigns_cancelled": 1,
    "campaigns_abandoned": 0, "milestones_on_time": 11, "milestones_late": 3, "late_days": [4, 9, 23],
    "milestones_overdue": 2, "released": {"USD": 200000}, "released_backed": {"USD": 150000},
    "budget_lines": 12, "budget_lines_over": 5, "budget_lines_under": 6, "update_gaps_days": [6.0, 10.0, 31.0],
    "update_requests": 8, "update_requests_answered": 6, "pledges_collected": 400, "refunds": 12, "disputes": 2,
    "reports_upheld": 1, "tiers_shipped": 4, "receipts_received": 37, "receipts_not_received": 5,
}
FACTORS = [
    {"code": "milestones", "points": 140, "max_points": 200, "value": "11 on time, 3 late, 2 overdue"},
    {"code": "receipts", "points": 80, "max_points": 80, "value": "37 of 42 received"},
    {"code": "update_cadence", "points": 20, "max_points": 60, "value": "median 10 days"},
]


def _store_profile(user, score=642, band="good", facts=FACTS, factors=FACTORS, history=(510, 600, 642)):
    now = utcnow()
    db.session.add(CreditProfile(user_id=user.id, score=score, band=band, factors=list(factors),
                                 facts=dict(facts), computed_at=now))
    for days_ago, value in zip(range(len(history) * 30, 0, -30), history):
        db.session.add(CreditHistoryPoint(user_id=user.id, at=now - timedelta(days=days_ago), score=value))
    db.session.commit()


def _section(html, start_marker, end_marker="</table>"):
    start = html.index(start_marker)
    return html[start:html.index(end_marker, start)]


def test_the_profile_shows_the_score_and_every_number_it_is_built_from(client, make_user):
    founder = make_user(display_name="Fay Baker")
    _store_profile(founder)

    html = client.get(f"/u/{founder.id}").get_data(as_text=True)

    assert "Score 642 of 1000" in html and "Good" in _section(html, 'id="credit-score"', "</p>")
    facts = _section(html, 'id="credit-facts"')
    for label, value in [
        ("Campaigns launched", "7"), ("Campaigns funded", "5"), ("Campaigns failed (goal not reached)", "1"),
        ("Campaigns cancelled", "1"), ("Milestones delivered on time", "11 of 14 (79 %)"),
        ("Milestones delivered late", "3"), ("Days late, per late milestone", "4, 9, 23"),
        ("Milestones overdue (date passed, not delivered)", "2"),
        ("Released money backed by spend reports", "$1,500.00 of $2,000.00 (75 %)"),
        ("Budget lines overspent", "5"), ("Budget lines within budget", "6"),
        ("Median days between updates during delivery", "10.0"),
        ("Update requests answered within 14 days", "6 of 8 (75 %)"),
        ("Refund rate", "12 of 400 (3 %)"), ("Dispute rate", "2 of 400 (0 %)"), ("Upheld reports", "1"),
        ("Backers who confirmed receiving their reward", "37"),
        ("Backers who say their reward did not arrive", "5"),
    ]:
        assert f'<th scope="row">{label}</th><td class="num">{value}</td>' in facts, label


def test_the_scorecard_shows_each_factor_with_its_value_points_and_explanation(client, make_user):
    founder = make_user()
    _store_profile(founder)

    scorecard = _section(client.get(f"/u/{founder.id}").get_data(as_text=True), 'id="scorecard"')

    row = _section(scorecard, 'data-factor="milestones"', "</tr>")
    assert "Milestones on time" in row and "11 on time, 3 late, 2 overdue" in row and "140 / 200" in row
    assert "by their due dates" in row  # the factor's explanation
    assert "37 of 42 received" in scorecard and "80 / 80" in scorecard


def test_how_to_improve_is_shown_to_the_founder_only_for_factors_below_their_maximum(login, client, make_user):
    founder = make_user()
    _store_profile(founder)

    own = login(founder).get(f"/u/{founder.id}").get_data(as_text=True)
    improve = _section(own, 'id="improve-h"', "</section>")
    assert "Post an update at least every two weeks" in improve  # update_cadence: 20 / 60
    assert "Set realistic due dates" in improve  # milestones: 140 / 200
    assert "Ship rewards, mark the tiers shipped" not in improve  # receipts at the maximum
    assert "How to improve" not in client.get(f"/u/{founder.id}").get_data(as_text=True)


def test_a_new_founder_has_no_history_yet_explained_not_a_low_score(client, make_user, make_campaign):
    founder = make_user()
    make_campaign(founder=founder, state="live")

    html = client.get(f"/u/{founder.id}").get_data(as_text=True)

    score = _section(html, 'id="credit-score"', "</p>")
    assert "No history yet" in score and "Score" not in score
    assert "This is not a low score" in html


def test_the_history_chart_is_accessible_with_a_table_of_the_scores(client, make_user):
    founder = make_user()
    _store_profile(founder, history=(510, 600, 642))

    html = client.get(f"/u/{founder.id}").get_data(as_text=True)

    chart = _section(html, '<figure class="credit-chart">', "</figure>")
    assert '<title id="credit-chart-title">' in chart and "<desc" in chart and "(510)" in chart and "(642)" in chart
    assert chart.count('<circle class="chart-point"') == 3
    table = _section(html, 'id="credit-history"')
    assert [s for s in ("510", "600", "642") if f'<td class="num">{s}</td>' in table] == ["510", "600", "642"]


def test_identity_shows_email_payout_account_age_and_business_checked(client, make_user):
    founder = make_user()
    founder.created_at = utcnow() - timedelta(days=400)
    db.session.add(BusinessDetails(user_id=founder.id, name="Leeds Bakery Ltd", address="1 Oven Lane",
                                   checked_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    _store_profile(founder)

    identity = _section(client.get(f"/u/{founder.id}").get_data(as_text=True), 'id="credit-identity"', "</dl>")

    assert "<dt>Email</dt><dd>verified</dd>" in identity
    assert "<dt>Payout account</dt><dd>not verified</dd>" in identity
    assert "400 days" in identity
    assert "Leeds Bakery Ltd" in identity and "checked on" in identity


def test_a_stored_profile_is_loaded_with_one_query_and_not_recomputed(app, client, make_user, count_queries,
                                                                      monkeypatch):
    founder = make_user()
    _store_profile(founder)
    from crowdfund.credit import services

    def no_recompute(*args, **kwargs):
        raise AssertionError("the profile page recomputed a stored profile")

    monkeypatch.setattr(services, "compute", no_recompute)

    with count_queries() as statements:
        assert client.get(f"/u/{founder.id}").status_code == 200

    assert len([s for s in statements if "FROM credit_profile" in s]) == 1


def test_the_campaign_page_shows_the_founders_score_key_numbers_and_a_link(client, make_user, make_campaign):
    founder = make_user()
    _store_profile(founder, score=815, band="strong")
    campaign = make_campaign(founder=founder, state="live")

    html = client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    card = _section(html, 'id="founder-h"', "</section>")
    assert "Score 815 of 1000" in card and "Strong" in card
    assert "5 of 7 launched" in card  # campaigns funded
    assert "11 of 16 (69 %)" in card  # milestones on time of on time + late + overdue
    assert "37 of 42 (88 %)" in card  # rewards received
    assert f'href="/u/{founder.id}#credit-h"' in card


def test_the_campaign_page_shows_current_trouble_only_when_there_is_some(client, make_user, make_campaign):
    calm, troubled = make_user(), make_user()
    _store_profile(calm, score=815, band="strong", facts={**FACTS, "milestones_overdue": 0, "silence_days": 20})
    _store_profile(troubled, score=369, band="weak",
                   facts={**FACTS, "milestones_overdue": 2, "overdue_days": [50, 15], "silence_days": 83.4})
    cards = [_section(client.get(f"/c/{make_campaign(founder=user, state='live').slug}").get_data(as_text=True),
                      'id="founder-h"', "</section>") for user in (calm, troubled)]

    assert "overdue now" not in cards[0] and "No update for" not in cards[0]
    assert "<dt>Milestones overdue now</dt><dd>2 (the oldest 50 days)</dd>" in cards[1]
    assert "<dt>No update for</dt><dd>83 days</dd>" in cards[1]


def test_the_campaign_page_reads_the_stored_profile_once_and_never_recomputes(client, make_user, make_campaign,
                                                                            count_queries, monkeypatch):
    founder = make_user()
    campaign = make_campaign(founder=founder, state="live")
    from crowdfund.credit import services

    def no_recompute(*args, **kwargs):
        raise AssertionError("the campaign page computed a profile")

    monkeypatch.setattr(services, "compute", no_recompute)
    for stored in (False, True):
        if stored:
            _store_profile(founder)
        with count_queries() as statements:
            assert client.get(f"/c/{campaign.slug}").status_code == 200
        assert len([s for s in statements if "FROM credit_profile" in s]) == 1


def test_the_campaign_page_shows_no_history_yet_for_a_new_founder(client, make_user, make_campaign):
    campaign = make_campaign(state="live")

    card = _section(client.get(f"/c/{campaign.slug}").get_data(as_text=True), 'id="founder-h"', "</section>")

    assert "No history yet" in card and "Score" not in card


@pytest.mark.parametrize("facts", [{}, {"late_days": [], "released": {}, "update_gaps_days": []}])
def test_a_profile_with_missing_numbers_still_shows(client, make_user, facts):
    founder = make_user()
    _store_profile(founder, facts=facts, factors=[])

    html = client.get(f"/u/{founder.id}").get_data(as_text=True)

    assert "no money released yet" in html and "Score 642 of 1000" in html


def test_a_confirmed_receipt_and_an_upheld_report_reach_the_founders_profile(client, login, make_user,
                                                                             make_campaign, make_pledge):
    """End to end: the events of the receipt and the report recompute the stored profile."""
    from crowdfund.campaigns.models import RewardTier
    from crowdfund.moderation.models import CampaignReport

    founder, backer, reporter = make_user(), make_user(), make_user()
    campaign = make_campaign(founder=founder, state="live")
    tier = db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == campaign.id)).scalars().first()
    pledge = make_pledge(campaign, backer=backer, state="collected", reward_tier=tier)
    campaign.state = "successful"
    db.session.commit()
    login(founder).post(f"/c/{campaign.slug}/tiers/{tier.id}/shipped")
    login(backer).post(f"/pledges/{pledge.id}/receipt", data={"state": "not_received"})
    login(reporter).post(f"/c/{campaign.slug}/report", data={"reason": "Nothing arrived"})
    report_id = db.session.execute(db.select(CampaignReport.id)).scalar_one()
    login(make_user(role="moderator")).post(f"/moderation/reports/{report_id}/resolve", data={
        f"report-{report_id}-outcome": "upheld", f"report-{report_id}-note": "Confirmed with the courier"})

    facts = _section(client.get(f"/u/{founder.id}").get_data(as_text=True), 'id="credit-facts"')

    assert '<th scope="row">Reward tiers marked shipped</th><td class="num">1</td>' in facts
    assert '<th scope="row">Backers who say their reward did not arrive</th><td class="num">1</td>' in facts
    assert '<th scope="row">Upheld reports</th><td class="num">1</td>' in facts
    assert db.session.get(CreditProfile, founder.id) is not None  # stored by the events, not computed per view


def test_factors_stored_as_numbers_are_rendered_when_shown_and_old_or_odd_rows_never_500(client, make_user):
    founder = make_user()
    _store_profile(founder, facts={**FACTS, "overdue_days": [50, 15], "silence_days": 83.4}, factors=[
        {"code": "milestones", "points": -83, "max_points": 120,
         "numbers": {"on_time": 0, "late": 1, "overdue": 2, "longest_overdue": 50}},
        {"code": "account_age", "points": 0, "max_points": 30, "numbers": {"days": 1}},
        {"code": "update_cadence", "points": -13, "max_points": 100,
         "numbers": {"median_days": 46, "silence_days": 83}},
        {"code": "receipts", "points": 80, "max_points": 80, "value": "37 of 42 received"},  # stored by round 1
        {"code": "refunds", "points": 50, "max_points": 100, "numbers": {"bogus": 1}},  # unknown shape: no text
        {"code": "no_such_factor", "points": 0, "max_points": 0, "numbers": {}},
    ])

    response = client.get(f"/u/{founder.id}")
    scorecard = _section(response.get_data(as_text=True), 'id="scorecard"')

    assert response.status_code == 200
    assert "0 on time, 1 late, 2 overdue (the oldest 50 days overdue)" in _section(
        scorecard, 'data-factor="milestones"', "</tr>")
    assert "<td>1 day</td>" in _section(scorecard, 'data-factor="account_age"', "</tr>")  # singular
    assert ("an update every 46 days (median); no update for 83 days while milestones are open"
            in _section(scorecard, 'data-factor="update_cadence"', "</tr>"))
    assert "37 of 42 received" in _section(scorecard, 'data-factor="receipts"', "</tr>")
    facts = _section(response.get_data(as_text=True), 'id="credit-facts"')
    assert '<th scope="row">Days overdue, per overdue milestone</th><td class="num">50, 15</td>' in facts
    assert '<th scope="row">Days since the last update, while milestones are open</th><td class="num">83</td>' in facts
