import re

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("media", __name__)

MEDIA_NAME = re.compile(r"^(cover|avatar)-[0-9a-f]{32}\.jpg$")


@bp.get("/media/<name>")
def file(name):
    if not MEDIA_NAME.match(name):
        abort(404)
    response = send_from_directory(current_app.config["UPLOAD_DIR"], name, mimetype="image/jpeg", max_age=31536000)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
