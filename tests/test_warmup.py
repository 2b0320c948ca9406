"""A gunicorn worker's warm-up (crowdfund/warmup.py, run by gunicorn.conf.py's post_worker_init):
its first visitors no longer pay for compiling templates, and a warm-up that fails stops nothing."""
import logging

from crowdfund import create_app
from crowdfund.warmup import warm


def test_after_the_warm_up_a_page_compiles_no_template(app, client, make_campaign, monkeypatch):
    campaign = make_campaign(state="live", title="Warm bread co-op")
    loader = app.jinja_env.loader
    assert warm(app) > 0
    loaded = []
    real_get_source = type(loader).get_source
    monkeypatch.setattr(type(loader), "get_source",
                        lambda self, env, name: loaded.append(name) or real_get_source(self, env, name))

    page = client.get(f"/c/{campaign.slug}")

    assert page.status_code == 200 and "Warm bread co-op" in page.get_data(as_text=True)
    assert loaded == []


def test_a_worker_whose_database_is_down_still_starts(app, caplog, tmp_path):
    down = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:9/none",
                       "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}}})

    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        warm(down)

    assert any("'database' failed" in record.getMessage() for record in caplog.records)
    assert len(down.jinja_env.cache) > 50  # the other steps ran
