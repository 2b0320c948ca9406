"""User Markdown becomes safe HTML: nothing that runs script survives, links are marked as user content."""
import re

import pytest
from markupsafe import Markup

from crowdfund.markdown import render_markdown


def test_ordinary_markdown_is_rendered():
    html = render_markdown("Our **second oven** bakes *rye*.\n\n- loaves\n- rolls")

    assert "<strong>second oven</strong>" in html
    assert "<em>rye</em>" in html
    assert "<li>loaves</li>" in html
    assert isinstance(html, Markup)


def test_script_tags_are_shown_as_text_not_run():
    html = render_markdown("Hello <script>alert('x')</script> world")

    assert "<script" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("source", [
    '<img src="x" onerror="alert(1)">',
    '<p onclick="alert(1)">hi</p>',
    '<a href="https://example.com" onmouseover="alert(1)">hover</a>',
    '<iframe src="https://example.com"></iframe>',
    '<svg onload="alert(1)"></svg>',
])
def test_raw_html_is_escaped(source):
    html = render_markdown(source)

    assert re.search(r"<(img|p|a|iframe|svg)\s", html) is None
    assert "&lt;" in html


def test_event_handler_attributes_never_reach_a_tag():
    html = render_markdown('![cat](https://example.com/cat.png "t")\n\n<img src=x onerror=alert(1)>')

    assert re.search(r"<[^>]*onerror", html) is None
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_images_from_other_sites_become_their_alt_text():
    html = render_markdown('Look: ![our cat](https://example.com/cat.png "t") and ![](//evil.example/x.png)')

    assert "<img" not in html
    assert "example.com" not in html and "evil.example" not in html
    assert "Look: our cat and" in html


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html;base64,PHNjcmlwdD4=",
])
def test_links_with_script_or_data_urls_are_not_links(url):
    html = render_markdown(f"[click me]({url})")

    assert "<a" not in html
    assert 'href="' + url.split(":")[0] not in html.lower()


def test_images_with_data_urls_lose_their_source():
    html = render_markdown("![pixel](data:image/png;base64,iVBORw0KGgo=)")

    assert "data:" not in html
    assert 'src="' not in html


def test_links_get_rel_nofollow_ugc_noopener():
    html = render_markdown("See [our shop](https://example.com/shop) or <https://example.com>.")

    assert html.count('rel="nofollow ugc noopener"') == 2
    assert '<a href="https://example.com/shop" rel="nofollow ugc noopener">our shop</a>' in html


def test_mailto_links_are_kept():
    html = render_markdown("[write to us](mailto:hello@example.com)")

    assert 'href="mailto:hello@example.com"' in html


def test_headings_are_shifted_below_h1_keeping_their_order():
    html = render_markdown("# Why\n\n## The oven\n\n### Costs\n\n###### Footnote")

    assert "<h1" not in html
    assert "<h2>Why</h2>" in html
    assert "<h3>The oven</h3>" in html
    assert "<h4>Costs</h4>" in html
    assert "<h6>Footnote</h6>" in html


def test_setext_heading_is_shifted_too():
    assert "<h2>Title</h2>" in render_markdown("Title\n=====")


def test_tables_and_code_survive():
    html = render_markdown("| item | cost |\n|---|---|\n| oven | 750 |\n\n`<b>` and\n\n```\n<script>\n```")

    assert "<table>" in html and "<td>oven</td>" in html
    assert "<code>&lt;b&gt;</code>" in html
    assert "&lt;script&gt;" in html and "<script" not in html


@pytest.mark.parametrize("text", [None, ""])
def test_empty_text_renders_nothing(text):
    assert render_markdown(text) == ""
