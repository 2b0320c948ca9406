"""The application as a whole: configuration, entry points, error pages, demo data."""
import subprocess
import sys

import pytest

from config import ProductionConfig
from crowdfund import create_app
from crowdfund.campaigns.models import STATES, Campaign
from crowdfund.extensions import db


def test_production_config_refuses_to_start_without_secret_key_and_database(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(RuntimeError) as error:
        create_app(ProductionConfig)

    assert "SECRET_KEY" in str(error.value)
    assert "DATABASE_URL" in str(error.value)


def test_wsgi_module_exposes_the_app_for_gunicorn_and_flask(tmp_path):
    script = "import wsgi; print(wsgi.app.name, sorted(wsgi.app.blueprints))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={"CROWDFUND_INSTANCE_DIR": str(tmp_path), "PATH": ""})
    assert "crowdfund" in result.stdout
    assert "campaigns" in result.stdout and "moderation" in result.stdout


def test_unexpected_error_shows_the_styled_500_page(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("broken on purpose")

    response = app.test_client().get("/boom-for-test")

    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert b"broken on purpose" not in response.data


def test_demo_command_builds_campaigns_in_every_state_and_prints_logins(app, runner):
    result = runner.invoke(args=["crowdfund", "demo"])

    assert result.exit_code == 0, result.output
    assert "moderator@example.com" in result.output
    assert "password:" in result.output
    states = set(db.session.execute(db.select(Campaign.state)).scalars())
    assert states == set(STATES) - {"suspended", "abandoned"}
    assert all(db.session.execute(db.select(Campaign.cover_image_id)).scalars())


def test_demo_command_with_if_empty_leaves_an_existing_platform_alone(app, runner, make_user):
    make_user()

    result = runner.invoke(args=["crowdfund", "demo", "--if-empty"])

    assert result.exit_code == 0
    assert "not loaded" in result.output
    assert db.session.execute(db.select(db.func.count(Campaign.id))).scalar_one() == 0
