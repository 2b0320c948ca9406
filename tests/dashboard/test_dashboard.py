"""The founder's dashboard: who may see it, the funding chart, pledges by tier and by state, the
backer list, and that its number of SQL statements does not grow with the number of pledges."""
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.pledges.models import OPEN_STATES, Pledge
from crowdfund.pledges.services import pledged_totals

from .conftest import tiers_of

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(html):
    match = re.search(r"<svg .*?</svg>", html, re.S)
    assert match, "no inline SVG chart on the page"
    return ET.fromstring(match.group(0))


def row(html, row_id):
    """The text of the table cells of the row with this id."""
    match = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, row_id
    return [re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)]


# --- Who may see it ----------------------------------------------------------------------------

def test_the_founder_sees_the_dashboard_and_a_link_to_it(funded, founder_client):
    page = founder_client.get(f"/c/{funded['slug']}")
    assert f'href="/c/{funded["slug"]}/dashboard"' in page.get_data(as_text=True)
    assert f'href="/c/{funded["slug"]}/dashboard"' in founder_client.get("/me/campaigns").get_data(as_text=True)
    response = founder_client.get(f"/c/{funded['slug']}/dashboard")
    assert response.status_code == 200
    assert "Dashboard of" in response.get_data(as_text=True)


def test_a_visitor_is_sent_to_log_in(funded, client):
    response = client.get(f"/c/{funded['slug']}/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert f"/c/{funded['slug']}/dashboard" not in client.get(f"/c/{funded['slug']}").get_data(as_text=True)


@pytest.mark.parametrize("who", ["other user", "backer", "moderator", "admin"])
def test_nobody_but_the_founder_sees_it(funded, make_user, login, who):
    user = {"other user": lambda: make_user(), "backer": lambda: funded["backer"],
            "moderator": lambda: make_user(role="moderator"), "admin": lambda: make_user(role="admin")}[who]()
    client = login(user)
    assert client.get(f"/c/{funded['slug']}/dashboard").status_code == 404
    assert f"/c/{funded['slug']}/dashboard" not in client.get(f"/c/{funded['slug']}").get_data(as_text=True)


def test_an_unknown_campaign_is_a_404(founder_client):
    assert founder_client.get("/c/no-such-campaign/dashboard").status_code == 404


# --- Funding over time ---------------------------------------------------------------------------

def test_the_chart_has_one_point_per_day_from_launch_to_today(funded, founder_client):
    html = founder_client.get(f"/c/{funded['slug']}/dashboard").get_data(as_text=True)
    svg = svg_of(html)
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Amount pledged by day"
    assert "Pledged so far: $207.34" in svg.find(f"{SVG}desc").text
    points = svg.findall(f".//{SVG}circle")
    launch = funded["launched"].date()
    assert [p.get("data-day") for p in points] == [(launch + timedelta(days=n)).isoformat() for n in range(5)]
    # Cumulative: each point's tooltip carries the running total, and y never goes down.
    running, expected = 0, []
    for amount in funded["per_day"]:
        running += amount
        expected.append(f"${running / 100:,.2f}")
    assert [p.find(f"{SVG}title").text.split(": ")[1] for p in points] == expected
    ys = [int(p.get("cy")) for p in points]
    assert ys == sorted(ys, reverse=True) and ys[0] > ys[-1]
    xs = [int(p.get("cx")) for p in points]
    assert xs == sorted(set(xs))  # one distinct x per day
    assert len(svg.find(f".//{SVG}polyline").get("points").split()) == 5
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "$0" in labels and "Goal $1,000.00" in labels  # money axis labels and the goal line
    assert launch.strftime("%b ") + str(launch.day) in labels  # Babel's "May 1" style for the first day
    # The numbers are there without the picture too.
    table = re.search(r'<details class="chart-numbers">.*?</details>', html, re.S).group(0)
    assert table.count("<tr>") == 1 + 5
    assert "$207.34" in table and "$82.34" in table


def test_the_chart_of_a_campaign_without_pledges(make_campaign, founder, founder_client):
    campaign = make_campaign(founder=founder, state="live", launched_at=utcnow() - timedelta(days=2))
    html = founder_client.get(f"/c/{campaign.slug}/dashboard").get_data(as_text=True)
    svg = svg_of(html)
    assert "Nothing pledged yet" in svg.find(f"{SVG}desc").text
    points = svg.findall(f".//{SVG}circle")
    assert len(points) == 3
    assert len({p.get("cy") for p in points}) == 1  # all on the baseline
    assert "No pledges here yet." in html


def test_a_finished_campaign_charts_launch_to_deadline(make_campaign, make_pledge, founder, founder_client):
    launched = utcnow() - timedelta(days=40)
    campaign = make_campaign(founder=founder, state="successful", launched_at=launched, duration_days=30, goal=5000)
    make_pledge(campaign, amount=6000, state="collected", created_at=launched + timedelta(days=29))
    svg = svg_of(founder_client.get(f"/c/{campaign.slug}/dashboard").get_data(as_text=True))
    points = svg.findall(f".//{SVG}circle")
    assert len(points) == 31
    assert points[-1].get("data-day") == (launched + timedelta(days=30)).date().isoformat()
    assert points[-1].find(f"{SVG}title").text.endswith("$60.00")


def test_before_launch_there_is_no_chart_yet(make_campaign, founder, founder_client):
    campaign = make_campaign(founder=founder, state="approved")
    html = founder_client.get(f"/c/{campaign.slug}/dashboard").get_data(as_text=True)
    assert "<svg" not in html.split('id="funding-h"')[1].split("</section>")[0]
    assert "The chart starts on the day the campaign launches." in html


# --- Pledges by tier and by state ------------------------------------------------------------------

def test_pledges_by_tier_add_up_to_the_pledged_total(funded, founder_client):
    html = founder_client.get(f"/c/{funded['slug']}/dashboard").get_data(as_text=True)
    tiers = tiers_of(funded["id"])
    rows = re.findall(r'<tr class="tier-row" data-tier="([^"]+)">(.*?)</tr>', html, re.S)
    assert [key for key, _ in rows] == [str(t.id) for t in tiers] + ["none"]
    cells = {key: [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)]
             for key, body in rows}
    counts = [int(cells[key][1]) for key, _ in rows]
    amounts = [int(re.sub(r"[$,.]", "", cells[key][2])) for key, _ in rows]
    shares = [int(re.sub(r"[ %.]", "", cells[key][3])) for key, _ in rows]
    assert counts == [2, 1, 1, 1] and amounts == [6500, 6000, 7000, 1234]
    assert sum(amounts) == funded["total"] == pledged_totals([funded["id"]])[funded["id"]][0]
    assert sum(counts) == funded["counted"]
    total = row(html, "tier-total")
    assert total[1:3] == [str(funded["counted"]), "$207.34"]
    # Shares are rounded so that they make exactly 100 %, in hundredths of a percent.
    # (31.349 %, 28.938 %, 33.761 %, 5.952 %: the two largest remainders are rounded up.)
    assert [cells[key][3] for key, _ in rows] == ["31.35 %", "28.94 %", "33.76 %", "5.95 %"]
    assert sum(shares) == 10000
    assert cells[str(tiers[0].id)][0].startswith("Tier 1")
    assert cells[str(tiers[0].id)][4] == "3 of 5"
    assert cells[str(tiers[1].id)][4] == "unlimited"
    assert cells["none"][0] == "No reward" and cells["none"][4] == "—"


def test_payment_states_reconcile_with_the_campaign_page(funded, founder_client):
    html = founder_client.get(f"/c/{funded['slug']}/dashboard").get_data(as_text=True)
    assert row(html, "settlement-collected")[1:] == ["1", "$60.00"]
    assert row(html, "settlement-pending")[1:] == ["3", "$135.00"]
    assert row(html, "settlement-errored")[1:] == ["1", "$12.34"]
    assert row(html, "settlement-dropped")[1:] == ["1", "$77.00"]
    assert row(html, "state-cancelled")[1:] == ["1", "$99.00"]
    assert row(html, "state-void")[1:] == ["1", "$88.00"]
    reconciliation = re.search(r'<p id="reconciliation" class="meta">(.*?)</p>', html, re.S).group(1)
    assert "= $207.34, the pledged total on the campaign page" in reconciliation
    assert "<strong>$207.34</strong> pledged of $1,000.00" in html
    # The campaign page shows the same total.
    assert "$207.34" in founder_client.get(f"/c/{funded['slug']}").get_data(as_text=True)


# --- The backer list -----------------------------------------------------------------------------

def test_the_backer_list_shows_every_completed_pledge(funded, founder_client):
    db.session.execute(db.update(Pledge).where(Pledge.campaign_id == funded["id"], Pledge.amount == 4000)
                       .values(shipping_country="DE"))
    db.session.commit()
    html = founder_client.get(f"/c/{funded['slug']}/dashboard").get_data(as_text=True)
    table = re.search(r'<table class="table" id="backer-table">.*?</table>', html, re.S).group(0)
    assert table.count("<tr>") == 1 + 8  # every pledge but the one still waiting for a card
    assert "$66.00" not in table
    assert "Bea Backer" in table and funded["backer"].email in table and "Germany" in table
    assert "8 pledges" in table

    filtered = founder_client.get(f"/c/{funded['slug']}/dashboard?state=active").get_data(as_text=True)
    table = re.search(r'<table class="table" id="backer-table">.*?</table>', filtered, re.S).group(0)
    assert table.count("<tr>") == 1 + 3
    assert f'href="/c/{funded["slug"]}/dashboard/backers.csv?state=active"' in filtered


def test_an_unknown_state_filter_is_a_clear_400(funded, founder_client):
    response = founder_client.get(f"/c/{funded['slug']}/dashboard?state=pending")
    assert response.status_code == 400
    assert "There is no pledge state called" in response.get_data(as_text=True)


def test_the_backer_list_is_paginated(make_campaign, make_user, founder, founder_client):
    campaign = make_campaign(founder=founder, state="live")
    backer = make_user()
    now = utcnow()
    db.session.add_all(Pledge(campaign_id=campaign.id, backer_id=backer.id, amount=100 + i, state="collected",
                              created_at=now - timedelta(minutes=i)) for i in range(60))
    db.session.commit()
    first = founder_client.get(f"/c/{campaign.slug}/dashboard").get_data(as_text=True)
    assert "Page 1 of 2" in first and "$1.00<" in first and "$1.59<" not in first
    second = founder_client.get(f"/c/{campaign.slug}/dashboard?page=2").get_data(as_text=True)
    assert re.search(r'id="backer-table">.*?</table>', second, re.S).group(0).count("<tr>") == 1 + 10
    assert "$1.59<" in second


# --- Query counts ----------------------------------------------------------------------------------

STATES = ("active", "collected", "errored", "cancelled", "void", "dropped")


def _add_pledges(campaign_id, tier_ids, backer_ids, n, start, make_user):
    """n pledges in every state; an open one (active, errored) has a backer of its own, as the database
    allows one open pledge per backer and campaign."""
    now = utcnow()
    states = [STATES[i % 6] for i in range(start, start + n)]
    db.session.add_all(
        Pledge(campaign_id=campaign_id,
               backer_id=make_user().id if state in OPEN_STATES else backer_ids[i % len(backer_ids)],
               reward_tier_id=tier_ids[i % len(tier_ids)], amount=1000 + i, state=state,
               shipping_country="FR" if i % 2 else None, created_at=now - timedelta(days=i % 5, hours=i % 7))
        for i, state in zip(range(start, start + n), states))
    db.session.commit()


def test_the_dashboard_and_export_run_as_many_statements_for_300_pledges_as_for_5(
        make_campaign, make_user, founder, founder_client, count_queries):
    campaign = make_campaign(founder=founder, state="live", tiers=3, launched_at=utcnow() - timedelta(days=6))
    slug, campaign_id = campaign.slug, campaign.id
    tier_ids = [t.id for t in tiers_of(campaign_id)] + [None]
    backer_ids = [make_user().id for _ in range(4)]
    urls = [f"/c/{slug}/dashboard", f"/c/{slug}/dashboard/backers.csv", f"/c/{slug}/dashboard?state=collected&page=2"]

    def run():
        counts = {}
        for url in urls:
            founder_client.get(url)
            db.session.remove()
            with count_queries() as statements:
                assert founder_client.get(url).status_code == 200
            counts[url] = len(statements)
        return counts

    _add_pledges(campaign_id, tier_ids, backer_ids, 5, 0, make_user)
    small = run()
    _add_pledges(campaign_id, tier_ids, backer_ids, 295, 5, make_user)
    large = run()
    assert small == large
    csv_text = founder_client.get(urls[1]).get_data(as_text=True)
    assert len(csv_text.strip().splitlines()) == 1 + 300
