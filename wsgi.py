"""Entry point for `gunicorn wsgi:app` and `flask --app wsgi …`; the wheel installs it as a top-level module."""
from crowdfund import create_app

app = create_app()
