"""Starting a campaign and filling in its basics over HTTP, as a logged-in founder."""

import pytest

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db

from .helpers import category_id, error_next_to, fresh


def _campaigns():
    db.session.rollback()
    return list(db.session.execute(db.select(Campaign).order_by(Campaign.id)).scalars())


def _new(client, title="Fay's Oven", **overrides):
    data = {"title": title, "category_id": str(category_id()), "currency": "EUR", "funding_model": "flexible"}
    return client.post("/campaigns/new", data={**data, **overrides})


def _basics(**overrides):
    data = {
        "title": "Fay's Oven", "blurb": "A second oven for three more cafés.", "category_id": str(category_id()),
        "funding_model": "all_or_nothing", "currency": "USD", "goal": "1,250.50", "duration_days": "30",
        "story": "We bake rye and spelt loaves every night. " * 6, "risks": "The oven may arrive late.",
    }
    data.update(overrides)
    return data


def test_founder_creates_a_draft_and_is_sent_to_its_editor(founder, founder_client):
    response = _new(founder_client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/c/fay-s-oven/edit"
    [campaign] = _campaigns()
    assert (campaign.title, campaign.slug, campaign.state) == ("Fay's Oven", "fay-s-oven", "draft")
    assert campaign.founder_id == founder.id
    assert (campaign.currency, campaign.funding_model, campaign.category_id) == ("EUR", "flexible", category_id())
    page = founder_client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Your draft is saved" in page.get_data(as_text=True)


def test_starting_a_campaign_needs_an_account(client):
    assert client.get("/campaigns/new").headers["Location"].startswith("/login")
    assert client.post("/campaigns/new", data={"title": "Sneaky"}).status_code == 302
    assert _campaigns() == []


def test_same_title_gets_a_numbered_slug(founder_client):
    for _ in range(3):
        assert _new(founder_client, title="Bread for Leeds").status_code == 302

    assert [c.slug for c in _campaigns()] == ["bread-for-leeds", "bread-for-leeds-2", "bread-for-leeds-3"]


def test_slug_is_plain_ascii_made_from_the_title(founder_client):
    _new(founder_client, title="Café Crème: Bread & Butter!")

    assert [c.slug for c in _campaigns()] == ["cafe-creme-bread-butter"]


def test_title_without_letters_still_gets_a_slug(founder_client):
    _new(founder_client, title="!!! ???")

    assert [c.slug for c in _campaigns()] == ["campaign"]


def test_new_draft_without_a_category_is_refused_and_keeps_the_title(founder_client):
    response = _new(founder_client, title="Fay's Oven", category_id="0")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, "category_id") == "Choose a category."
    assert 'value="Fay&#39;s Oven"' in html
    assert _campaigns() == []


def test_new_draft_with_a_too_short_title_is_refused(founder_client):
    response = _new(founder_client, title="ab")

    assert response.status_code == 422
    assert "between 3 and 120 characters" in error_next_to(response.get_data(as_text=True), "title")
    assert _campaigns() == []


def test_founder_saves_the_basics(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False, title="Fay's Oven")

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=_basics(goal="1,250.50", duration_days="45"))

    assert response.status_code == 302
    saved = fresh(Campaign, campaign.id)
    assert saved.goal == 125050
    assert saved.duration_days == 45
    assert saved.blurb == "A second oven for three more cafés."
    assert saved.story.startswith("We bake rye")
    assert saved.slug == campaign.slug


def test_basics_form_shows_the_saved_values(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, goal=125050, currency="USD")

    html = founder_client.get(f"/c/{campaign.slug}/edit").get_data(as_text=True)

    assert 'value="1250.50"' in html
    assert 'value="30"' in html


def test_goal_in_yen_is_saved_without_minor_units(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=_basics(currency="JPY", goal="300,000"))

    assert response.status_code == 302
    saved = fresh(Campaign, campaign.id)
    assert (saved.currency, saved.goal) == ("JPY", 300000)


@pytest.mark.parametrize("overrides, field, message", [
    ({"duration_days": "0"}, "duration_days", "Number must be between 1 and 60."),
    ({"duration_days": "61"}, "duration_days", "Number must be between 1 and 60."),
    ({"duration_days": "a month"}, "duration_days", "Not a valid integer value."),
    ({"goal": "12.345"}, "goal", "USD amounts have at most 2 decimal places."),
    ({"currency": "JPY", "goal": "10.5"}, "goal", "JPY amounts have no decimal places."),
    ({"goal": "lots"}, "goal", "Enter a number, like 1250 or 1250.50."),
    ({"goal": "-100"}, "goal", "The amount cannot be negative."),
    ({"goal": "0"}, "goal", "The amount must be more than zero."),
    ({"goal": "99999999999"}, "goal", "The amount can be at most 20,000,000.00 USD."),
    ({"category_id": "0"}, "category_id", "Choose a category."),
    ({"currency": "XYZ"}, "currency", "Not a valid choice."),
    ({"funding_model": "take_it_all"}, "funding_model", "Not a valid choice."),
    ({"title": ""}, "title", "This field is required."),
    ({"blurb": "b" * 201}, "blurb", "Field cannot be longer than 200 characters."),
])
def test_basics_with_a_bad_value_are_refused_next_to_the_field(founder, founder_client, make_campaign, overrides,
                                                               field, message):
    campaign = make_campaign(founder=founder, complete=False, title="Fay's Oven")
    data = _basics(**overrides)

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, field) == message
    assert "Please correct the highlighted fields." in html
    # What the founder typed is still there.
    assert "We bake rye and spelt loaves every night." in html
    assert f'value="{data["goal"]}"' in html
    saved = fresh(Campaign, campaign.id)
    assert (saved.goal, saved.blurb, saved.duration_days, saved.currency) == (0, "", 30, "USD")


def test_currency_cannot_change_once_amounts_are_entered(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, goal=100_000, currency="USD")

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=_basics(currency="JPY", goal="100000"))

    assert response.status_code == 422
    assert "cannot change the currency" in error_next_to(response.get_data(as_text=True), "currency")
    saved = fresh(Campaign, campaign.id)
    assert (saved.currency, saved.goal) == ("USD", 100_000)
