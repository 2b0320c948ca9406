"""Fixtures for the media tests (login, founder and founder_client come from tests/conftest.py)."""
import pytest


@pytest.fixture
def draft(make_campaign, founder):
    """The founder's draft, without any image yet."""
    return make_campaign(founder=founder, complete=False)
