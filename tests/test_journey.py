import io

from PIL import Image

PASSWORD = "correct horse battery"

def test_flow(app, client, make_user, make_campaign):
    r = client.post("/signup", data={"email": "f@example.com", "display_name": "Fay", "password": "bakery-oven-2027"})
    assert r.status_code == 302, r.data
    r = client.get("/campaigns/new"); assert r.status_code == 200
    r = client.post("/campaigns/new", data={"title": "Fay's Oven", "category_id": "2", "currency": "EUR", "funding_model": "all_or_nothing"})
    assert r.status_code == 302, r.data[:3000]
    loc = r.headers["Location"]; print(loc)
    r = client.get(loc); assert r.status_code == 200, r.data
    r = client.post(loc, data={"title": "Fay's Oven", "blurb": "b", "category_id": "2", "funding_model": "all_or_nothing", "currency": "EUR", "goal": "1000.5", "duration_days": "30", "story": "s"*250, "risks": "r"})
    assert r.status_code == 302, r.data.decode()[:5000]
    r = client.post("/c/fay-s-oven/edit/budget", data={"purpose": "Oven", "amount": "1000.50"}); assert r.status_code == 302, r.data.decode()
    r = client.post("/c/fay-s-oven/edit/rewards", data={"title": "Loaf", "description": "bread", "minimum_amount": "10", "quantity": "5", "estimated_delivery": "2027-05", "ships": "y", "shipping_amount": "3"}); assert r.status_code == 302, r.data.decode()
    r = client.post("/c/fay-s-oven/edit/milestones", data={"title": "M1", "description": "d", "due_date": "2027-06-01", "release_percent": "100"}); assert r.status_code == 302, r.data.decode()
    r = client.get("/c/fay-s-oven/edit/milestones"); assert r.status_code == 200
    cover = io.BytesIO(); Image.new("RGB", (64, 36), "orange").save(cover, "PNG"); cover.seek(0)
    r = client.post("/c/fay-s-oven/edit/media/cover", data={"cover-image": (cover, "oven.png"), "cover-alt": "The oven"},
                    content_type="multipart/form-data"); assert r.status_code == 302, r.data.decode()
    r = client.get("/c/fay-s-oven"); assert r.status_code == 200; print(r.data.decode()[-4000:])
    r = client.post("/c/fay-s-oven/submit"); assert r.status_code == 303, r.data.decode()
    mod = make_user(role="moderator")
    client.post("/logout"); client.post("/login", data={"email": mod.email, "password": PASSWORD})
    r = client.get("/moderation/"); assert b"Fay" in r.data
    r = client.get("/moderation/campaigns/1"); assert r.status_code == 200, r.data.decode()
    r = client.post("/moderation/campaigns/1", data={"decision": "approve", "reason": "good"}); assert r.status_code == 303, r.data.decode()
    r = client.get("/moderation/audit"); assert r.status_code == 200
    client.post("/logout"); client.post("/login", data={"email": "f@example.com", "password": "bakery-oven-2027"})
    r = client.post("/c/fay-s-oven/launch"); assert r.status_code == 303
    r = client.get("/"); assert b"Fay" in r.data
    r = client.get("/search?q=fay"); assert b"Fay&#39;s Oven" in r.data, r.data.decode()
    r = client.get("/discover"); assert b"Fay" in r.data
    r = client.get("/u/1"); assert r.status_code == 200
    r = client.get("/me/campaigns"); assert r.status_code == 200
    r = client.get("/c/fay-s-oven/history"); assert r.status_code == 200
    r = client.get("/me/settings"); assert r.status_code == 200
