"""Locale choice: the user's browser preference among the languages we have catalogues for."""
from flask import current_app, has_request_context, request


def select_locale():
    # Outside a request (CLI commands, background jobs) there is no browser to ask.
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"
