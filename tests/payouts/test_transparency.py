"""The "Where the money is" section of funded and abandoned campaign pages: every figure a sum of
ledger rows and shown to reconcile, a dated timeline of releases (with their milestone) and of refunds
per day (no backer named), planned against reported spend, in a constant number of queries."""
import re
from datetime import timedelta

import pytest

from crowdfund.campaigns.models import BudgetLine, Milestone
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import ledger
from crowdfund.payments.models import LedgerEntry
from crowdfund.payouts.models import Release
from crowdfund.payouts.transparency import money_transparency
from crowdfund.updates.models import SpendReport, Update


def _section(html):
    start = html.index('id="where-the-money-is"')
    return html[start:html.index("</section>", start)]


def _money(section, name):
    return re.search(rf'data-money="{name}">([^<]+)<', section).group(1)


def _at(entry, days_ago):
    entry.created_at = utcnow() - timedelta(days=days_ago)


@pytest.fixture
def funded(app, make_campaign, make_pledge, make_user):
    """A successful campaign with two backers (60.00 + 40.00 collected, 5.00 fees), the first tranche
    (19.00) and milestone 1 (30.00) released, two refunds on one day and one on another, and 12.00
    spending reported on the first budget line."""
    campaign = make_campaign(state="successful")
    alice, bob = make_user(display_name="Alice Backer"), make_user(display_name="Bob Backer")
    p1 = make_pledge(campaign, backer=alice, amount=6000, state="collected")
    p2 = make_pledge(campaign, backer=bob, amount=4000, state="collected")
    milestone = db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)
                                   .order_by(Milestone.id)).scalars().first()
    for pledge in (p1, p2):
        _at(ledger.book(campaign.id, "charge", pledge.amount, "USD", pledge.id, f"ch_{pledge.id}"), 30)
        _at(ledger.book(campaign.id, "platform_fee", pledge.amount // 20, "USD", pledge.id, f"ch_{pledge.id}"), 30)
    first = Release(campaign_id=campaign.id, tranche="first", state="transferred", amount=1900,
                    stripe_transfer_id=f"tr_a{campaign.id}", transferred_at=utcnow() - timedelta(days=29))
    second = Release(campaign_id=campaign.id, milestone_id=milestone.id, tranche=f"milestone-{milestone.id}",
                     state="transferred", amount=3000, stripe_transfer_id=f"tr_b{campaign.id}",
                     transferred_at=utcnow() - timedelta(days=10))
    db.session.add_all([first, second])
    _at(ledger.book(campaign.id, "release", 1900, "USD", stripe_id=f"tr_a{campaign.id}"), 29)
    _at(ledger.book(campaign.id, "release", 3000, "USD", stripe_id=f"tr_b{campaign.id}"), 10)
    _at(ledger.book(campaign.id, "refund", 500, "USD", p1.id, f"re_1_{campaign.id}"), 5)
    _at(ledger.book(campaign.id, "refund", 700, "USD", p2.id, f"re_2_{campaign.id}"), 5)
    _at(ledger.book(campaign.id, "refund", 300, "USD", p1.id, f"re_3_{campaign.id}"), 2)
    update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, title="Receipts", body="Spent",
                    visibility="backers")
    oven = db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == campaign.id)
                              .order_by(BudgetLine.id)).scalars().first()
    update.spend_reports = [SpendReport(budget_line_id=oven.id, amount=1200)]
    db.session.add(update)
    db.session.commit()
    return campaign


def test_every_figure_is_a_sum_of_the_ledger_and_they_reconcile(funded, client):
    html = client.get(f"/c/{funded.slug}").get_data(as_text=True)
    section = _section(html)
    # collected 10000 = released 4900 + held 3100 + refunded 1500 + fees 500
    assert [_money(section, n) for n in ("collected", "released", "held", "refunded", "fees")] == [
        "$100.00", "$49.00", "$31.00", "$15.00", "$5.00"]
    assert 'data-money="disputed"' not in section
    assert 'data-reconciles="yes"' in section
    assert "Collected $100.00 = released $49.00 + held $31.00 + refunded $15.00 + fees $5.00." in section


def test_timeline_lists_each_release_and_refunds_per_day_without_names(funded, client):
    section = _section(client.get(f"/c/{funded.slug}").get_data(as_text=True))
    rows = re.findall(r'<tr class="money-(\w+)">(.*?)</tr>', section, re.S)
    assert [kind for kind, _ in rows] == ["release", "release", "refund", "refund"]
    assert "First tranche released" in rows[0][1] and "$19.00" in rows[0][1]
    assert "milestone “Oven installed”" in rows[1][1] and "$30.00" in rows[1][1]
    assert "2 backer pledges" in rows[2][1] and "$12.00" in rows[2][1]
    assert "1 backer pledge" in rows[3][1] and "$3.00" in rows[3][1]
    assert "Alice" not in section and "Bob" not in section


def test_planned_against_reported_spend(funded, client):
    section = _section(client.get(f"/c/{funded.slug}").get_data(as_text=True))
    spend = section[section.index("spend-vs-plan"):]
    assert re.search(r"Oven</td><td class=\"num\">\$750.00</td><td class=\"num\">\$12.00", spend)
    assert re.search(r"Installation</td><td class=\"num\">\$250.00</td><td class=\"num\">\$0.00", spend)


def test_disputes_show_and_still_reconcile(funded, client):
    ledger.book(funded.id, "dispute", 1000, "USD", None, f"dp_{funded.id}")
    db.session.commit()
    section = _section(client.get(f"/c/{funded.slug}").get_data(as_text=True))
    assert _money(section, "disputed") == "$10.00" and _money(section, "held") == "$21.00"
    assert "+ disputed $10.00 +" in section and 'data-reconciles="yes"' in section
    assert "1 card dispute" in section


def test_only_funded_or_abandoned_campaigns_have_the_section(app, client, make_campaign):
    for state in ("live", "failed", "cancelled"):
        campaign = make_campaign(state=state)
        assert 'id="where-the-money-is"' not in client.get(f"/c/{campaign.slug}").get_data(as_text=True)
        assert money_transparency(campaign) is None
    funded = make_campaign(state="successful")
    section = _section(client.get(f"/c/{funded.slug}").get_data(as_text=True))
    assert _money(section, "collected") == "$0.00" and "Nothing released or refunded yet" in section


def test_constant_statement_count_with_1_or_30_ledger_rows(app, client, make_campaign, make_pledge, count_queries):
    def page_statements(rows):
        campaign = make_campaign(state="successful")
        pledge = make_pledge(campaign, amount=100_000, state="collected")
        _at(ledger.book(campaign.id, "charge", 100_000, "USD", pledge.id, f"ch_{campaign.id}"), 40)
        for n in range(rows - 1):
            kind = ("refund", "release", "platform_fee")[n % 3]
            entry = ledger.book(campaign.id, kind, 10 + n, "USD", pledge.id if kind != "release" else None,
                                f"{kind}_{campaign.id}_{n}")
            _at(entry, n)
        db.session.commit()
        assert db.session.execute(db.select(db.func.count(LedgerEntry.id)).where(
            LedgerEntry.campaign_id == campaign.id)).scalar_one() == rows
        client.get(f"/c/{campaign.slug}")  # warm caches
        with count_queries() as statements:
            response = client.get(f"/c/{campaign.slug}")
        assert response.status_code == 200 and 'data-reconciles="yes"' in response.get_data(as_text=True)
        return len(statements)

    assert page_statements(1) == page_statements(30)
