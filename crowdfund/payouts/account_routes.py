from flask import Blueprint

bp = Blueprint("payout_accounts", __name__)
