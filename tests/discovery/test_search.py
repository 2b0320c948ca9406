"""Full-text search at /search?q=: title, blurb and story, every word as a prefix, title matches first,
public campaigns only, and any input at all without an error (SQLite FTS5 and PostgreSQL)."""
import pytest

from crowdfund.extensions import db

PLAIN_STORY = ("We make things by hand in a small workshop and sell them at the weekly market. " * 4).strip()


@pytest.fixture
def founder(app, make_user):
    return make_user()


@pytest.fixture
def searchable(make_live, founder):
    """A live campaign with the given title, blurb and story (plain filler when not given)."""

    def make(title, blurb="Handmade goods for the neighbourhood.", story=PLAIN_STORY, **kwargs):
        return make_live(title, blurb=blurb, story=story, founder=founder, **kwargs)

    return make


@pytest.fixture
def search(client, card_titles):
    """The titles /search returns for q, asserting the page itself is fine."""

    def titles(q, **params):
        response = client.get("/search", query_string={"q": q, **params})
        assert response.status_code == 200, response.get_data(as_text=True)[:2000]
        return card_titles(response.get_data(as_text=True))

    return titles


def test_finds_words_in_title_blurb_and_story(searchable, search):
    searchable("Rooftop beehives")
    searchable("Letterpress cards", blurb="Printed on a restored Heidelberg press.")
    searchable("Tiny library", story=PLAIN_STORY + " Every shelf is made from reclaimed walnut.")

    assert search("beehives") == ["Rooftop beehives"]
    assert search("heidelberg") == ["Letterpress cards"]
    assert search("walnut") == ["Tiny library"]


def test_a_word_prefix_matches(searchable, search):
    searchable("Village bakery")

    assert search("bak") == ["Village bakery"]
    assert search("BAKE") == ["Village bakery"]


def test_every_word_is_required(searchable, search):
    searchable("Village bakery", blurb="Bread and cakes.")
    searchable("Village pottery", blurb="Bowls and cups.")

    assert sorted(search("village")) == ["Village bakery", "Village pottery"]
    assert search("village bread") == ["Village bakery"]
    assert search("village bread bowls") == []


def test_title_matches_rank_before_story_matches(searchable, search):
    searchable("Workshop tools library", story=PLAIN_STORY + " Members lend a wooden kayak to each other.")
    searchable("Kayak building school")
    searchable("River cleanup boats", story=PLAIN_STORY + " Our kayak fleet, our kayak trailer, more kayak gear.")

    titles = search("kayak")

    assert titles[0] == "Kayak building school"
    assert sorted(titles) == ["Kayak building school", "River cleanup boats", "Workshop tools library"]


@pytest.mark.parametrize("state", ["draft", "in_review", "changes_requested", "approved", "rejected"])
def test_campaigns_not_yet_public_are_not_found(make_campaign, search, founder, state):
    make_campaign(state=state, title="Secret marmalade recipe", founder=founder)

    assert search("marmalade") == []


def test_finished_campaigns_are_still_found(make_campaign, search, founder):
    make_campaign(state="successful", title="Funded marmalade kitchen", founder=founder)

    assert search("marmalade") == ["Funded marmalade kitchen"]


def test_chinese_words_are_found_in_story_and_title(searchable, search):
    searchable("Neighbourhood coffee cart", story=PLAIN_STORY + " 我们 卖 手冲 咖啡 和 茶。")
    searchable("小城 咖啡 馆")

    assert sorted(search("咖啡")) == ["Neighbourhood coffee cart", "小城 咖啡 馆"]
    assert search("小城") == ["小城 咖啡 馆"]


HOSTILE = ['"', '""', "*", "bakery*", "NEAR(", "NEAR(bakery", "AND OR", "OR", "NOT bakery", "bakery AND",
           "'; DROP TABLE campaign; --", "title:bakery", "^bakery", "bakery:*", "a & b | !c", "(((",
           "\\", "%", "_", "a_b", "bakery-", "-bakery", "{bakery}", "\x00", "\u200b", "😀",
           "ba\u0301kery", "x" * 10_000, "bakery " * 2_000]


@pytest.mark.parametrize("q", HOSTILE, ids=lambda q: repr(q[:20]))
def test_hostile_input_is_just_searched_for(searchable, search, q):
    searchable("Village bakery")

    search(q)  # 200 with a result list, whatever it holds


def test_query_syntax_is_treated_as_plain_words(searchable, search):
    searchable("Village bakery")
    searchable("Mobile bike repair", blurb="We come to you.")

    assert search("NEAR(bakery") == []  # "near" is a word no campaign has
    assert search('"bakery"') == ["Village bakery"]
    assert search("bakery*") == ["Village bakery"]
    assert search("village OR bike") == []  # OR is a word too, and every word is required
    assert search("'; DROP TABLE campaign; --") == []
    assert search("bike") == ["Mobile bike repair"]  # the table is still there


def test_empty_query_shows_the_form_without_results(client, searchable):
    searchable("Village bakery")

    for q in ("", "   ", "!!!"):
        response = client.get("/search", query_string={"q": q})
        assert response.status_code == 200
        assert "Village bakery" not in response.get_data(as_text=True)
    assert client.get("/search").status_code == 200


def test_search_results_are_paginated(app, searchable, search):
    size = app.config["PAGE_SIZE"]
    for n in range(size + 1):
        searchable(f"Bakery number {n:02d}")

    first, second = search("bakery"), search("bakery", page=2)

    assert len(first) == size
    assert len(second) == 1
    assert set(first) | set(second) == {f"Bakery number {n:02d}" for n in range(size + 1)}
    assert search("bakery", page=3) == []


def test_changing_the_title_changes_what_finds_it(searchable, search):
    campaign = searchable("Village bakery")

    campaign.title = "Village creamery"
    db.session.commit()

    assert search("bakery") == []
    assert search("creamery") == ["Village creamery"]


def test_changing_the_story_changes_what_finds_it(searchable, search):
    campaign = searchable("Village bakery", story=PLAIN_STORY + " Rye and spelt.")

    campaign.story = PLAIN_STORY + " Oats and barley."
    db.session.commit()

    assert search("spelt") == []
    assert search("barley") == ["Village bakery"]


def test_deleted_campaign_is_no_longer_found(searchable, search):
    searchable("Village bakery")
    campaign = searchable("Village creamery")

    db.session.delete(campaign)
    db.session.commit()

    assert search("village") == ["Village bakery"]
