"""Migration 0003 on a database that has data: covers and avatars saved before it (one JPEG each,
`cover-<hex>.jpg`) become Image rows whose one variant is that JPEG, renamed to the new naming,
with "Cover image of <title>" as the cover's alt text; a cover whose file is missing is dropped.
The pages and /media/ serve the converted files, full-text search keeps working (on SQLite the
campaign table is rebuilt, which must not lose the search triggers), and the migration can be
undone and redone."""
import secrets
from datetime import datetime, timedelta
from io import BytesIO

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from PIL import Image as PILImage
from sqlalchemy import text

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.database import include_object
from crowdfund.discovery.services import search_query
from crowdfund.extensions import db
from crowdfund.media.models import Image


def jpeg_file(path, width, height, color=(180, 120, 40)) -> bytes:
    out = BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return out.getvalue()


def _differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True})
        return compare_metadata(context, db.metadata)


def _found_by_search(words: str) -> list[str]:
    found = [c.title for c in db.session.execute(search_query(words)).scalars()]
    db.session.remove()  # end the transaction: on PostgreSQL it would block the migration's DDL
    return found


def _rename(campaign_id, title):
    db.session.get(Campaign, campaign_id).title = title
    db.session.commit()
    db.session.remove()


@pytest.fixture
def legacy_data(fresh_app):
    """A database at revision 0002 with a founder whose avatar is a legacy file, a live campaign
    whose cover is one, and a live campaign whose cover file has gone missing."""
    upgrade(revision="0002")
    folder = fresh_app.config["UPLOAD_DIR"]
    folder.mkdir(parents=True, exist_ok=True)
    assert list(folder.iterdir()) == []
    cover_hex, avatar_hex, missing_hex = (secrets.token_hex(16) for _ in range(3))
    cover_bytes = jpeg_file(folder / f"cover-{cover_hex}.jpg", 1200, 675)
    avatar_bytes = jpeg_file(folder / f"avatar-{avatar_hex}.jpg", 400, 400, color=(20, 60, 160))
    now = datetime.utcnow().replace(microsecond=0)
    with db.engine.begin() as connection:
        category_id = connection.execute(text("SELECT id FROM category WHERE slug = 'food-drink'")).scalar_one()
        founder_id = connection.execute(text(
            'INSERT INTO "user" (email, display_name, password_hash, role, bio, avatar, email_verified_at, '
            "created_at, login_id) VALUES ('fay@example.com', 'Fay Baker', 'x', 'backer', '', :avatar, :now, :now, "
            ":login_id) RETURNING id"),
            {"avatar": f"avatar-{avatar_hex}.jpg", "now": now, "login_id": secrets.token_hex(16)}).scalar_one()
        ids = {}
        for slug, title, cover in (("lantern-workshop", "Lantern workshop", f"cover-{cover_hex}.jpg"),
                                   ("kiln-for-the-pottery", "Kiln for the pottery", f"cover-{missing_hex}.jpg")):
            ids[slug] = connection.execute(text(
                "INSERT INTO campaign (founder_id, category_id, title, slug, blurb, story, risks, goal, currency, "
                "funding_model, duration_days, state, cover_image, featured, created_at, updated_at, submitted_at, "
                "launched_at, deadline) VALUES (:founder_id, :category_id, :title, :slug, 'Light for the valley', "
                "'We make things by hand in Hebden Bridge.', 'Delays.', 100000, 'USD', 'all_or_nothing', 30, "
                "'live', :cover, false, :now, :now, :now, :now, :deadline) RETURNING id"),
                {"founder_id": founder_id, "category_id": category_id, "title": title, "slug": slug,
                 "cover": cover, "now": now, "deadline": now + timedelta(days=29)}).scalar_one()
    return {"cover_hex": cover_hex, "avatar_hex": avatar_hex, "missing_hex": missing_hex, "folder": folder,
            "cover_bytes": cover_bytes, "avatar_bytes": avatar_bytes, "founder_id": founder_id, **ids}


def test_legacy_covers_and_avatars_become_images(fresh_app, legacy_data):
    data = legacy_data

    upgrade()

    cover = db.session.execute(db.select(Image).where(Image.key == f"cover-{data['cover_hex']}")).scalar_one()
    assert (cover.kind, cover.width, cover.height, cover.widths, cover.formats) == ("cover", 1200, 675, "1200", "jpg")
    avatar = db.session.execute(db.select(Image).where(Image.key == f"avatar-{data['avatar_hex']}")).scalar_one()
    assert (avatar.kind, avatar.width, avatar.height, avatar.widths, avatar.formats) == ("avatar", 400, 400, "400",
                                                                                        "jpg")
    assert db.session.execute(db.select(db.func.count(Image.id))).scalar_one() == 2

    lantern = db.session.get(Campaign, data["lantern-workshop"])
    assert lantern.cover_image_id == cover.id
    assert lantern.cover_alt == "Cover image of Lantern workshop"
    kiln = db.session.get(Campaign, data["kiln-for-the-pottery"])
    assert (kiln.cover_image_id, kiln.cover_alt) == (None, "")
    assert db.session.get(User, data["founder_id"]).avatar_id == avatar.id

    assert sorted(p.name for p in data["folder"].iterdir()) == sorted(
        [f"cover-{data['cover_hex']}-1200.jpg", f"avatar-{data['avatar_hex']}-400.jpg"])
    assert (data["folder"] / cover.file_name(1200, "jpg")).read_bytes() == data["cover_bytes"]
    assert _differences() == []
    db.session.remove()


def test_the_pages_show_and_serve_the_converted_files(fresh_app, legacy_data):
    data = legacy_data
    upgrade()
    client = fresh_app.test_client()
    cover_name = f"cover-{data['cover_hex']}-1200.jpg"
    avatar_name = f"avatar-{data['avatar_hex']}-400.jpg"

    page = client.get("/c/lantern-workshop")
    missing = client.get("/c/kiln-for-the-pottery")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'src="/media/{cover_name}"' in html
    assert 'alt="Cover image of Lantern workshop"' in html
    assert 'type="image/webp"' not in html  # only the JPEG exists: no WebP source offered
    assert f"/media/{avatar_name}" in html
    assert missing.status_code == 200
    assert "cover-placeholder" in missing.get_data(as_text=True)
    assert data["missing_hex"] not in missing.get_data(as_text=True)

    served = client.get(f"/media/{cover_name}")
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.data == data["cover_bytes"]
    assert client.get(f"/media/{avatar_name}").data == data["avatar_bytes"]
    assert client.get(f"/media/cover-{data['missing_hex']}-1200.jpg").status_code == 404


def test_search_still_finds_campaigns_after_the_upgrade(fresh_app, legacy_data):
    upgrade()

    assert _found_by_search("lantern") == ["Lantern workshop"]
    _rename(legacy_data["lantern-workshop"], "Lighthouse workshop")  # the update trigger must still run
    assert _found_by_search("lighthouse") == ["Lighthouse workshop"]
    assert _found_by_search("lantern") == []


def test_downgrade_to_0002_and_upgrade_again(fresh_app, legacy_data):
    upgrade()
    db.session.remove()

    downgrade(revision="0002")
    with db.engine.connect() as connection:
        covers = connection.execute(text("SELECT cover_image FROM campaign ORDER BY id")).scalars().all()
    assert covers == [None, None]  # images made by 0003 have no single-file form to go back to

    upgrade()
    assert _differences() == []
    assert db.session.execute(db.select(db.func.count(Image.id))).scalar_one() == 0
    assert db.session.get(Campaign, legacy_data["lantern-workshop"]).cover_image_id is None
    db.session.remove()
    assert _found_by_search("lantern") == ["Lantern workshop"]
    _rename(legacy_data["lantern-workshop"], "Lighthouse workshop")
    assert _found_by_search("lighthouse") == ["Lighthouse workshop"]
    assert fresh_app.test_client().get("/c/lantern-workshop").status_code == 200
