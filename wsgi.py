"""Entry point for `gunicorn wsgi:app` and `flask --app wsgi run`."""
from crowdfund import create_app

app = create_app()
