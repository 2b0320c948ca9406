"""Shared by the risk engine's database tests."""
from io import BytesIO
import random

from PIL import Image as PILImage

from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.risk.models import RiskAssessment


def codes_of(campaign_id: int) -> list[str]:
    db.session.expire_all()
    assessment = db.session.get(RiskAssessment, campaign_id)
    return [] if assessment is None else [reason["code"] for reason in assessment.reasons]


def reason_of(campaign_id: int, code: str) -> dict:
    db.session.expire_all()
    return next(r for r in db.session.get(RiskAssessment, campaign_id).reasons if r["code"] == code)


def picture(seed: int, size=(900, 600)) -> bytes:
    """A PNG of coloured blocks (a picture with structure, unlike a flat colour), one per seed."""
    rng = random.Random(seed)
    image = PILImage.new("RGB", size)
    block = 60
    for x in range(0, size[0], block):
        for y in range(0, size[1], block):
            image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + block, y + block))
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def confirm_card(setup_intent_id: str, number: str = "4242424242424242") -> None:
    """What the browser's card form does: confirm the SetupIntent with a test card."""
    client = gateway.client()
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    client.v1.setup_intents.confirm(setup_intent_id, params={"payment_method": method.id})
