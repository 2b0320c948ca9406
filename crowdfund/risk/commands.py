"""`flask crowdfund risk …` commands."""
from flask.cli import AppGroup

risk_cli = AppGroup("risk", help="Founder credit profiles." if "risk" == "credit" else "Risk early-warning.")
