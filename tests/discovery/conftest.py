"""Fixtures for the discovery tests: live campaigns with a chosen launch and deadline, reading listings."""
import re
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow


@pytest.fixture
def make_live(make_campaign):
    """A live campaign launched `launched_days_ago` days ago that ends `ends_in_days` days from now."""

    def make(title, launched_days_ago=1, ends_in_days=29, **kwargs):
        launched_at = utcnow() - timedelta(days=launched_days_ago)
        duration = launched_days_ago + ends_in_days
        return make_campaign(state="live", title=title, launched_at=launched_at, duration_days=duration, **kwargs)

    return make


@pytest.fixture
def card_titles():
    """The campaign card titles of a listing page (or of one <section> of it), in page order."""

    def titles(html, section_id=None):
        if section_id is not None:
            start = html.find(f'id="{section_id}"')
            if start == -1:
                return []
            html = html[start:html.index("</section>", start)]
        return re.findall(r'<article class="card">.*?<h3><a href="[^"]*">([^<]*)</a></h3>', html, re.S)

    return titles
