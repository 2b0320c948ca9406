"""Locale choice: the user's browser preference among the languages we have catalogues for."""
from flask import current_app, request


def select_locale():
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"
