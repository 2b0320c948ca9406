"""Budget lines, reward tiers and milestones of a draft: added, edited and removed over HTTP."""
from datetime import date, timedelta

import pytest

from crowdfund.campaigns.models import BudgetLine, Milestone, RewardTier
from crowdfund.extensions import db

from .helpers import error_next_to, fresh_campaign, in_days, next_month


def _rows(model, campaign):
    db.session.rollback()
    return list(db.session.execute(db.select(model).where(model.campaign_id == campaign.id).order_by(model.id))
                .scalars())


@pytest.fixture
def draft(founder, make_campaign):
    """An empty USD draft with a goal of $1,000.00."""
    campaign = make_campaign(founder=founder, complete=False, goal=100_000)
    campaign.goal = 100_000
    db.session.commit()
    return campaign


# Budget lines

def test_founder_adds_a_budget_line(founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/budget", data={"purpose": "Oven", "amount": "750.00"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/c/{draft.slug}/edit/budget"
    [line] = _rows(BudgetLine, draft)
    assert (line.purpose, line.amount) == ("Oven", 75000)
    page = founder_client.get(f"/c/{draft.slug}/edit/budget").get_data(as_text=True)
    assert "$750.00" in page
    assert "$250.00 still to allocate" in page


def test_founder_edits_a_budget_line(founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/budget", data={"purpose": "Oven", "amount": "750"})
    [line] = _rows(BudgetLine, draft)

    form = founder_client.get(f"/c/{draft.slug}/edit/budget/{line.id}").get_data(as_text=True)
    response = founder_client.post(f"/c/{draft.slug}/edit/budget/{line.id}",
                                   data={"purpose": "Deck oven", "amount": "1,000"})

    assert 'value="750.00"' in form
    assert response.status_code == 302
    [line] = _rows(BudgetLine, draft)
    assert (line.purpose, line.amount) == ("Deck oven", 100000)


def test_founder_removes_a_budget_line_with_a_post(founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/budget", data={"purpose": "Oven", "amount": "750"})
    [line] = _rows(BudgetLine, draft)

    response = founder_client.post(f"/c/{draft.slug}/edit/budget/{line.id}/delete")

    assert response.status_code == 302
    assert _rows(BudgetLine, draft) == []


@pytest.mark.parametrize("kind", ["budget", "rewards", "milestones"])
def test_removing_an_item_with_get_is_not_allowed(founder_client, make_campaign, founder, kind):
    campaign = make_campaign(founder=founder, state="draft")
    model = {"budget": BudgetLine, "rewards": RewardTier, "milestones": Milestone}[kind]
    item = _rows(model, campaign)[0]

    response = founder_client.get(f"/c/{campaign.slug}/edit/{kind}/{item.id}/delete")

    assert response.status_code == 405
    assert item.id in [row.id for row in _rows(model, campaign)]


@pytest.mark.parametrize("amount, message", [
    ("", "This field is required."),
    ("-3", "The amount cannot be negative."),
    ("0", "The amount must be more than zero."),
    ("7.505", "USD amounts have at most 2 decimal places."),
    ("seven", "Enter a number, like 1250 or 1250.50."),
])
def test_budget_line_with_a_bad_amount_is_refused(founder_client, draft, amount, message):
    response = founder_client.post(f"/c/{draft.slug}/edit/budget", data={"purpose": "Oven", "amount": amount})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, "amount") == message
    assert 'value="Oven"' in html
    assert _rows(BudgetLine, draft) == []


def test_budget_line_in_yen_refuses_decimals(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False, currency="JPY")

    response = founder_client.post(f"/c/{campaign.slug}/edit/budget", data={"purpose": "Oven", "amount": "10.5"})

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "amount") == "JPY amounts have no decimal places."
    assert _rows(BudgetLine, campaign) == []


def test_budget_line_needs_a_purpose(founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/budget", data={"purpose": " ", "amount": "10"})

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "purpose") == "This field is required."


# Reward tiers

def _tier(**overrides):
    data = {"title": "A loaf a week", "description": "Fresh rye, every Friday for a month.", "minimum_amount": "25",
            "quantity": "50", "estimated_delivery": next_month(), "ships": "y", "shipping_amount": "4.50"}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_founder_adds_a_limited_reward_tier_that_ships(founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/rewards", data=_tier())

    assert response.status_code == 302
    [tier] = _rows(RewardTier, draft)
    assert (tier.title, tier.minimum_amount, tier.quantity, tier.claimed) == ("A loaf a week", 2500, 50, 0)
    year, month = map(int, next_month().split("-"))
    assert tier.estimated_delivery == date(year, month, 1)
    assert (tier.ships, tier.shipping_amount) == (True, 450)


def test_unlimited_tier_that_does_not_ship_has_no_shipping_cost(founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/rewards",
                                   data=_tier(quantity="", ships=None, shipping_amount="9"))

    assert response.status_code == 302
    [tier] = _rows(RewardTier, draft)
    assert tier.quantity is None
    assert (tier.ships, tier.shipping_amount) == (False, 0)


def test_founder_edits_a_reward_tier(founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/rewards", data=_tier())
    [tier] = _rows(RewardTier, draft)

    form = founder_client.get(f"/c/{draft.slug}/edit/rewards/{tier.id}").get_data(as_text=True)
    response = founder_client.post(f"/c/{draft.slug}/edit/rewards/{tier.id}",
                                   data=_tier(title="Two loaves a week", minimum_amount="40", quantity="20"))

    assert f'value="{next_month()}"' in form and 'value="25.00"' in form and 'value="4.50"' in form
    assert response.status_code == 302
    [tier] = _rows(RewardTier, draft)
    assert (tier.title, tier.minimum_amount, tier.quantity) == ("Two loaves a week", 4000, 20)


def test_founder_removes_a_reward_tier(founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/rewards", data=_tier())
    [tier] = _rows(RewardTier, draft)

    assert founder_client.post(f"/c/{draft.slug}/edit/rewards/{tier.id}/delete").status_code == 302
    assert _rows(RewardTier, draft) == []


@pytest.mark.parametrize("overrides, field, message", [
    ({"estimated_delivery": "2027-13"}, "estimated_delivery", "Enter a month as YYYY-MM, e.g. 2027-03."),
    ({"estimated_delivery": "next spring"}, "estimated_delivery", "Enter a month as YYYY-MM, e.g. 2027-03."),
    ({"estimated_delivery": (date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")},
     "estimated_delivery", "The delivery month cannot be in the past."),
    ({"quantity": "0"}, "quantity", "Number must be between 1 and 1000000."),
    ({"quantity": "many"}, "quantity", "Not a valid integer value."),
    ({"minimum_amount": "0"}, "minimum_amount", "The amount must be more than zero."),
    ({"minimum_amount": ""}, "minimum_amount", "This field is required."),
    ({"shipping_amount": "-1"}, "shipping_amount", "The amount cannot be negative."),
    ({"description": ""}, "description", "This field is required."),
])
def test_reward_tier_with_a_bad_value_is_refused(founder_client, draft, overrides, field, message):
    data = _tier(**overrides)

    response = founder_client.post(f"/c/{draft.slug}/edit/rewards", data=data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, field) == message
    assert 'value="A loaf a week"' in html
    assert f'value="{data["estimated_delivery"]}"' in html
    assert _rows(RewardTier, draft) == []


# Milestones

def _milestone(**overrides):
    data = {"title": "Oven installed", "description": "Installed and inspected.", "due_date": in_days(60),
            "release_percent": "60"}
    data.update(overrides)
    return data


@pytest.mark.parametrize("percent, basis_points", [("60", 6000), ("33.33", 3333), ("12.5 %", 1250), ("100", 10000)])
def test_milestone_share_becomes_basis_points(founder_client, draft, percent, basis_points):
    response = founder_client.post(f"/c/{draft.slug}/edit/milestones", data=_milestone(release_percent=percent))

    assert response.status_code == 302
    [milestone] = _rows(Milestone, draft)
    assert milestone.release_bp == basis_points
    assert milestone.due_date == date.fromisoformat(in_days(60))


def test_founder_edits_and_removes_a_milestone(founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/milestones", data=_milestone(release_percent="33.33"))
    [milestone] = _rows(Milestone, draft)

    form = founder_client.get(f"/c/{draft.slug}/edit/milestones/{milestone.id}").get_data(as_text=True)
    edited = founder_client.post(f"/c/{draft.slug}/edit/milestones/{milestone.id}",
                                 data=_milestone(title="Oven fired up", release_percent="40"))
    after_edit = [(m.title, m.release_bp) for m in _rows(Milestone, draft)]
    removed = founder_client.post(f"/c/{draft.slug}/edit/milestones/{milestone.id}/delete")

    assert 'value="33.33"' in form
    assert edited.status_code == 302
    assert after_edit == [("Oven fired up", 4000)]
    assert removed.status_code == 302
    assert _rows(Milestone, draft) == []


@pytest.mark.parametrize("overrides, field, message", [
    ({"release_percent": "12.345"}, "release_percent", "Enter a percentage from 0 to 100 with at most two decimals."),
    ({"release_percent": "101"}, "release_percent", "Enter a percentage from 0 to 100 with at most two decimals."),
    ({"release_percent": "-5"}, "release_percent", "Enter a percentage from 0 to 100 with at most two decimals."),
    ({"release_percent": "half"}, "release_percent", "Enter a percentage, like 25 or 12.5."),
    ({"release_percent": "NaN"}, "release_percent", "Enter a percentage, like 25 or 12.5."),
    ({"release_percent": "sNaN"}, "release_percent", "Enter a percentage, like 25 or 12.5."),
    ({"release_percent": "Infinity"}, "release_percent", "Enter a percentage, like 25 or 12.5."),
    ({"due_date": in_days(-1)}, "due_date", "The due date must be in the future."),
    ({"due_date": in_days(0)}, "due_date", "The due date must be in the future."),
    ({"due_date": ""}, "due_date", "Enter a date."),
    ({"due_date": "2027-02-30"}, "due_date", "Not a valid date value."),
    ({"title": ""}, "title", "This field is required."),
])
def test_milestone_with_a_bad_value_is_refused(founder_client, draft, overrides, field, message):
    response = founder_client.post(f"/c/{draft.slug}/edit/milestones", data=_milestone(**overrides))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, field) == message
    assert "Installed and inspected." in html
    assert _rows(Milestone, draft) == []


def test_milestone_shares_so_far_are_shown(founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/milestones", data=_milestone(release_percent="33.33"))
    founder_client.post(f"/c/{draft.slug}/edit/milestones", data=_milestone(title="Deliveries", release_percent="25"))

    html = founder_client.get(f"/c/{draft.slug}/edit/milestones").get_data(as_text=True)

    assert "Shares so far: 58.33 %" in html
    assert sum(m.release_bp for m in fresh_campaign(draft.id).milestones) == 5833


# Items belong to one campaign

@pytest.mark.parametrize("kind", ["budget", "rewards", "milestones"])
def test_item_of_another_campaign_is_not_found_through_my_campaign(founder, founder_client, make_campaign, kind):
    mine = make_campaign(founder=founder, state="draft")
    theirs = make_campaign(state="draft")
    model = {"budget": BudgetLine, "rewards": RewardTier, "milestones": Milestone}[kind]
    before = [(row.id, getattr(row, "title", None) or row.purpose) for row in _rows(model, theirs)]
    their_item = _rows(model, theirs)[0]
    data = {"budget": {"purpose": "Mine now", "amount": "1"}, "rewards": _tier(title="Mine now"),
            "milestones": _milestone(title="Mine now")}[kind]

    assert founder_client.get(f"/c/{mine.slug}/edit/{kind}/{their_item.id}").status_code == 404
    assert founder_client.post(f"/c/{mine.slug}/edit/{kind}/{their_item.id}", data=data).status_code == 404
    assert founder_client.post(f"/c/{mine.slug}/edit/{kind}/{their_item.id}/delete").status_code == 404
    assert [(row.id, getattr(row, "title", None) or row.purpose) for row in _rows(model, theirs)] == before
