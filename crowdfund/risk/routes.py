"""Pages of crowdfund/risk."""
from flask import Blueprint

bp = Blueprint("risk", __name__)
