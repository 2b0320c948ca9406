"""Sharing a campaign: Open Graph and Twitter card tags, share links, embed code and the widget.

The campaign page of a public campaign carries og:/twitter: tags (title, blurb, absolute URL,
an absolute JPEG cover variant near 1200 px wide with its alt text), links to share it on
X/Twitter, Facebook, LinkedIn, WhatsApp and by email with no third-party script, and an embed
code for the widget. The widget (/c/<slug>/widget) is the one page other sites may frame: a
script-free card with the progress of a public campaign, in a constant number of queries. Every
other page refuses to be framed."""
import html
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest

from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway

TITLE = "Fay's \"Oven\" <b>"
BLURB = "Rye & spelt for three more cafés — \"real\" bread."


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attributes), and the text of each <textarea> by id."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.textareas: dict[str, str] = {}
        self._textarea = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "textarea":
            self._textarea = dict(attrs).get("id")
            self.textareas[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self.textareas[self._textarea] += data

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.elements if name == tag]

    def meta(self) -> dict[str, str]:
        """og:… and twitter:… meta tags, name -> content (each must appear once)."""
        tags = {}
        for attrs in self.all("meta"):
            key = attrs.get("property") or attrs.get("name")
            if key and key.startswith(("og:", "twitter:")):
                assert key not in tags, f"{key} appears twice"
                tags[key] = attrs.get("content")
        return tags


@pytest.fixture
def live(make_campaign, founder):
    """A live campaign titled with quotes and markup, a goal of $1,000.00, about five days left."""
    return make_campaign(founder=founder, state="live", title=TITLE, blurb=BLURB, goal=100_000, duration_days=30,
                         launched_at=utcnow() - timedelta(days=25) + timedelta(hours=1))


@pytest.fixture
def founder(make_user):
    return make_user(display_name="Fay Baker")


def _page(client, campaign) -> Elements:
    response = client.get(f"/c/{campaign.slug}")
    assert response.status_code == 200
    return Elements(response.get_data(as_text=True))


def _url(campaign, suffix="") -> str:
    return f"http://127.0.0.1:5000/c/{campaign.slug}{suffix}"  # PUBLIC_URL, whatever the Host


# Open Graph and Twitter cards

def test_campaign_page_has_open_graph_and_twitter_tags_for_a_large_card(client, live):
    meta = _page(client, live).meta()
    cover = db.session.get(Campaign, live.id).cover

    assert meta["og:title"] == TITLE
    assert meta["og:description"] == BLURB
    assert meta["og:url"] == _url(live)
    assert meta["og:image"] == f"http://127.0.0.1:5000/media/{cover.key}-1600.jpg"
    assert (meta["og:image:type"], meta["og:image:width"], meta["og:image:height"]) == ("image/jpeg", "1600", "900")
    assert meta["og:image:alt"] == "The new oven in the bakery"
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["twitter:title"] == TITLE
    assert meta["twitter:image"] == meta["og:image"]
    assert meta["twitter:image:alt"] == "The new oven in the bakery"


def test_a_cover_narrower_than_1200_pixels_is_shared_at_its_largest_variant(client, live):
    cover = db.session.get(Campaign, live.id).cover
    cover.widths, cover.width, cover.height = "400,800", 800, 600
    db.session.commit()

    meta = _page(client, live).meta()

    assert meta["og:image"] == f"http://127.0.0.1:5000/media/{cover.key}-800.jpg"
    assert (meta["og:image:width"], meta["og:image:height"]) == ("800", "600")


def test_without_a_cover_the_card_is_a_small_summary_with_no_image(client, live):
    campaign = db.session.get(Campaign, live.id)
    campaign.cover = None
    db.session.commit()

    meta = _page(client, live).meta()

    assert meta["twitter:card"] == "summary"
    assert not {"og:image", "og:image:alt", "twitter:image"} & meta.keys()
    assert meta["og:title"] == TITLE


# Share links

SHARE_TARGETS = {
    "twitter": ("https://twitter.com/intent/tweet", "url"),
    "facebook": ("https://www.facebook.com/sharer/sharer.php", "u"),
    "linkedin": ("https://www.linkedin.com/sharing/share-offsite/", "url"),
    "whatsapp": ("https://api.whatsapp.com/send", "text"),
}


def _share_links(page: Elements) -> list[str]:
    return [attrs["href"] for attrs in page.all("a")
            if attrs.get("href", "").startswith(tuple(base for base, _ in SHARE_TARGETS.values()) + ("mailto:",))]


def test_share_links_carry_the_encoded_campaign_address_and_open_in_a_new_tab(client, live):
    page = _page(client, live)
    links = {attrs["href"]: attrs for attrs in page.all("a") if attrs.get("href") in _share_links(page)}
    expected = {"twitter": _url(live), "facebook": _url(live), "linkedin": _url(live),
                "whatsapp": f"{TITLE} {_url(live)}"}

    for target, (base, parameter) in SHARE_TARGETS.items():
        [link] = [href for href in links if href.startswith(base + "?")]
        assert quote_plus(_url(live)) in link, target
        assert parse_qs(urlsplit(link).query)[parameter] == [expected[target]], target
        assert links[link].get("target") == "_blank", target
        assert {"noopener", "nofollow"} <= set(links[link].get("rel", "").split()), target
    assert parse_qs(urlsplit(next(h for h in links if h.startswith("https://twitter.com/"))).query)["text"] == [TITLE]


def test_share_by_email_has_the_title_as_subject_and_the_address_in_the_body(client, live):
    [link] = [href for href in _share_links(_page(client, live)) if href.startswith("mailto:")]

    assert quote(_url(live), safe="") in link
    query = parse_qs(urlsplit(link).query)
    assert query["subject"] == [TITLE]
    assert query["body"] == [f"{BLURB}\n\n{_url(live)}"]


def test_campaign_page_loads_no_third_party_script(app, client, live):
    page = _page(client, live)
    with app.test_request_context():
        stripe = urlsplit(gateway.stripe_js_url())

    sources = [attrs.get("src") for attrs in page.all("script")]
    assert sources, "the page loads its own scripts"
    for source in sources:
        assert source, "an inline script"
        parts = urlsplit(source)
        assert (parts.scheme, parts.netloc) in (("", ""), ("http", "localhost"), (stripe.scheme, stripe.netloc)), source
    loaded = [attrs.get("src", "") for tag in ("script", "iframe", "img") for attrs in page.all(tag)]
    loaded += [attrs.get("href", "") for attrs in page.all("link")]
    assert not [url for url in loaded if any(
        host in url for host in ("twitter.com", "x.com", "facebook", "linkedin", "whatsapp", "addthis"))]


def test_a_draft_has_no_share_links_or_embed_code(client, auth, founder, make_campaign):
    draft = make_campaign(founder=founder, state="draft")
    assert auth.login(founder).status_code == 302

    page = _page(client, draft)

    assert _share_links(page) == []
    assert "embed-code" not in page.textareas


# Embed code

def test_embed_code_is_an_iframe_of_the_widget_with_the_title_escaped(client, live):
    response = client.get(f"/c/{live.slug}")
    page = Elements(response.get_data(as_text=True))
    code = page.textareas["embed-code"]

    # The page escapes the code inside the textarea: the title's markup is not page markup.
    assert "<b>" not in response.get_data(as_text=True).split('id="embed-code"')[1].split("</textarea>")[0]
    embed = Elements(code)
    assert [tag for tag, _ in embed.elements] == ["iframe"]
    [iframe] = embed.all("iframe")
    assert iframe["src"] == _url(live, "/widget")
    assert iframe["title"] == TITLE
    assert (iframe["width"], iframe["height"]) == ("340", "440")
    # The title's quotes and angle brackets are escaped in the code itself (else it would not read back).
    assert code.startswith("<iframe ") and code.endswith("></iframe>")
    assert "<b>" not in code


# The widget

@pytest.fixture
def widget_campaign(live, make_pledge, make_user):
    """The live campaign with $751.50 pledged by two backers (one pledge cancelled)."""
    alice = make_user()
    make_pledge(live, backer=alice, amount=60_000)
    make_pledge(live, backer=alice, amount=100, state="collected")  # one open pledge per backer; a paid one besides
    make_pledge(live, amount=15_050, state="collected")
    make_pledge(live, amount=99_999, state="cancelled")
    return live


def test_widget_is_a_framable_script_free_card(client, widget_campaign):
    response = client.get(f"/c/{widget_campaign.slug}/widget")

    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["frame-ancestors"] == ["*"]
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives
    assert "X-Frame-Options" not in response.headers
    page = Elements(response.get_data(as_text=True))
    assert page.all("script") == []
    assert not [name for _, attrs in page.elements for name in attrs if name.startswith("on")]


def test_widget_shows_the_progress_of_the_campaign(client, widget_campaign):
    response = client.get(f"/c/{widget_campaign.slug}/widget")
    text = " ".join(response.get_data(as_text=True).split())
    page = Elements(response.get_data(as_text=True))

    assert TITLE in html.unescape(text)
    assert "<b>" not in text
    assert "<strong>$751.50</strong> pledged of $1,000.00" in text
    assert "75 % · 2 backers · 5 days left" in text
    [progress] = page.all("progress")
    assert (progress["value"], progress["max"]) == ("75150", "100000")
    links = {attrs["href"]: attrs for attrs in page.all("a")}
    assert links[_url(widget_campaign)]["target"] == "_blank"
    back = links[f"http://127.0.0.1:5000/c/{widget_campaign.slug}/pledge"]
    assert back["target"] == "_blank"
    assert "Back this project" in text


def test_only_a_public_campaign_has_a_widget(client, make_campaign):
    for state in ("draft", "in_review", "approved", "changes_requested", "rejected"):
        campaign = make_campaign(state=state)

        response = client.get(f"/c/{campaign.slug}/widget")

        assert response.status_code == 404, state
        assert campaign.title not in response.get_data(as_text=True), state
    assert client.get("/c/no-such-campaign/widget").status_code == 404
    for state in ("live", "successful", "failed", "cancelled", "suspended"):
        assert client.get(f"/c/{make_campaign(state=state).slug}/widget").status_code == 200, state


def test_widget_of_a_successful_campaign_links_to_the_campaign_instead_of_backing(client, make_campaign,
                                                                                    make_pledge):
    campaign = make_campaign(state="successful", goal=100_000, launched_at=utcnow() - timedelta(days=40))
    make_pledge(campaign, amount=120_000, state="collected")

    response = client.get(f"/c/{campaign.slug}/widget")
    text = " ".join(response.get_data(as_text=True).split())

    assert response.status_code == 200
    assert "See the campaign" in text
    assert "Back this project" not in text
    assert "<strong>$1,200.00</strong> pledged of $1,000.00" in text
    assert "120 % · 1 backer · Funded" in text
    assert f"/c/{campaign.slug}/pledge" not in text


def test_widget_query_count_does_not_grow_with_pledges(app, client, live, make_pledge, make_user, count_queries):
    make_pledge(live, amount=1000)
    with count_queries() as with_one:
        assert client.get(f"/c/{live.slug}/widget").status_code == 200
    for _ in range(19):
        make_pledge(live, amount=1000)
    with count_queries() as with_twenty:
        response = client.get(f"/c/{live.slug}/widget")

    assert "20 backers" in response.get_data(as_text=True)
    assert len(with_twenty) == len(with_one)


def test_campaign_page_itself_refuses_to_be_framed(client, live):
    response = client.get(f"/c/{live.slug}")

    assert response.headers["X-Frame-Options"] == "DENY"
    directives = {part.split()[0]: part.split()[1:]
                  for part in response.headers["Content-Security-Policy"].split(";") if part.strip()}
    assert directives["frame-ancestors"] == ["'none'"]
