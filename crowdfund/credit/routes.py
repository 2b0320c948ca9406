"""Pages of crowdfund/credit."""
from flask import Blueprint

bp = Blueprint("credit", __name__)
