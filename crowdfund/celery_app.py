"""The Celery app for the worker and beat, built from the environment like the web app:

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 celery -A crowdfund.celery_app worker --loglevel INFO
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 celery -A crowdfund.celery_app beat --loglevel INFO
"""
from crowdfund import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
