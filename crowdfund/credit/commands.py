"""`flask crowdfund credit …` commands."""
from flask.cli import AppGroup

credit_cli = AppGroup("credit", help="Founder credit profiles." if "credit" == "credit" else "Risk early-warning.")
