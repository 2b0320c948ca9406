import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, send_from_directory, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crowdfund.campaigns.services import campaign_for_founder
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db
from crowdfund.markdown import render_markdown
from crowdfund.media import services
from crowdfund.media.forms import AltForm, CoverForm, GalleryAddForm, MoveForm, PreviewForm, VideoForm
from crowdfund.media.models import MAX_GALLERY_IMAGES
from crowdfund.media.processing import CONTENT_TYPES
from crowdfund.media.storage import LocalStorage, get_storage

bp = Blueprint("media", __name__)

MEDIA_NAME = re.compile(r"^(cover|gallery|avatar)-[0-9a-f]{32}-[0-9]{1,4}\.(webp|jpg)$")
CACHE_FOREVER = "public, max-age=31536000, immutable"


@bp.get("/media/<name>")
def file(name):
    """One image variant. Names are made by the server and never reused, so they are cached for a year."""
    match = MEDIA_NAME.match(name)
    if not match:
        abort(404)
    storage = get_storage()
    content_type = CONTENT_TYPES[match.group(2)]
    if isinstance(storage, LocalStorage):
        response = send_from_directory(storage.folder, name, mimetype=content_type, max_age=31536000,
                                       conditional=True)
    else:
        data = storage.read(name)
        if data is None:
            abort(404)
        response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = CACHE_FOREVER
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _upload(field) -> bytes | None:
    data = field.data
    if data and getattr(data, "filename", ""):
        return data.read()
    return None


def _editable_campaign(slug):
    campaign = campaign_for_founder(slug, current_user)
    if not campaign.is_editable:
        flash(_("This campaign can no longer be edited."), "warning")
        return campaign, redirect(url_for("campaigns.show", slug=slug))
    return campaign, None


def _page(campaign, status=200, **forms):
    cover_form = forms.get("cover_form") or CoverForm(prefix="cover", formdata=None, alt=campaign.cover_alt)
    gallery_form = forms.get("gallery_form") or GalleryAddForm(prefix="gallery", formdata=None)
    video_form = forms.get("video_form") or VideoForm(prefix="video", formdata=None, url=campaign.video_url or "")
    alt_forms = {item.id: AltForm(prefix=f"item{item.id}", formdata=None, alt=item.alt_text)
                 for item in campaign.gallery}
    alt_forms.update(forms.get("alt_forms") or {})
    from crowdfund.campaigns.services import checklist

    return render_template(
        "campaigns/edit_media.html", campaign=campaign, section="media", cover_form=cover_form,
        gallery_form=gallery_form, video_form=video_form, alt_forms=alt_forms, move_form=MoveForm(),
        checklist=checklist(campaign), max_gallery=MAX_GALLERY_IMAGES), status


@bp.get("/c/<slug>/edit/media")
@login_required
def edit(slug):
    campaign, leave = _editable_campaign(slug)
    return leave or _page(campaign)


@bp.post("/c/<slug>/edit/media/cover")
@login_required
def cover(slug):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    form = CoverForm(prefix="cover")
    if form.validate_on_submit():
        try:
            services.clean_alt(form.alt.data)
        except ValidationFailed as error:
            form.alt.errors.append(error.message)
            return _page(campaign, 422, cover_form=form)
        try:
            services.set_cover(campaign, _upload(form.image), form.alt.data)
        except ValidationFailed as error:
            form.image.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("The cover image is saved."), "success")
            return redirect(url_for("media.edit", slug=slug))
    return _page(campaign, 422, cover_form=form)


@bp.post("/c/<slug>/edit/media/cover/remove")
@login_required
def remove_cover(slug):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    services.remove_cover(campaign)  # CSRF is checked for every POST by Flask-WTF's CSRFProtect
    db.session.commit()
    flash(_("The cover image is removed."), "success")
    return redirect(url_for("media.edit", slug=slug))


@bp.post("/c/<slug>/edit/media/gallery")
@login_required
def add_gallery(slug):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    form = GalleryAddForm(prefix="gallery")
    if form.validate_on_submit():
        data = _upload(form.image)
        if data is None:
            form.image.errors.append(_("Choose an image file to upload."))
        else:
            try:
                services.add_gallery_image(campaign, data, form.alt.data)
            except ValidationFailed as error:
                    form.image.errors.append(error.message)
            else:
                db.session.commit()
                flash(_("The image is added to the gallery."), "success")
                return redirect(url_for("media.edit", slug=slug) + "#gallery")
    return _page(campaign, 422, gallery_form=form)


@bp.post("/c/<slug>/edit/media/gallery/<int:item_id>")
@login_required
def gallery_alt(slug, item_id):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    services.gallery_item(campaign, item_id)
    form = AltForm(prefix=f"item{item_id}")
    if form.validate_on_submit():
        try:
            services.update_gallery_alt(campaign, item_id, form.alt.data)
        except ValidationFailed as error:
            form.alt.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("The description is saved."), "success")
            return redirect(url_for("media.edit", slug=slug) + "#gallery")
    return _page(campaign, 422, alt_forms={item_id: form})


@bp.post("/c/<slug>/edit/media/gallery/<int:item_id>/move")
@login_required
def gallery_move(slug, item_id):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400, _("Choose whether to move the image up or down."))
    services.move_gallery_image(campaign, item_id, -1 if form.direction.data == "up" else 1)
    db.session.commit()
    return redirect(url_for("media.edit", slug=slug) + "#gallery")


@bp.post("/c/<slug>/edit/media/gallery/<int:item_id>/remove")
@login_required
def gallery_remove(slug, item_id):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    services.remove_gallery_image(campaign, item_id)
    db.session.commit()
    flash(_("The image is removed from the gallery."), "success")
    return redirect(url_for("media.edit", slug=slug) + "#gallery")


@bp.post("/c/<slug>/edit/media/video")
@login_required
def video(slug):
    campaign, leave = _editable_campaign(slug)
    if leave:
        return leave
    form = VideoForm(prefix="video")
    if form.validate_on_submit():
        try:
            services.set_video(campaign, form.url.data)
        except ValidationFailed as error:
            form.url.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("The video is saved.") if campaign.video_url else _("The video is removed."), "success")
            return redirect(url_for("media.edit", slug=slug) + "#video")
    return _page(campaign, 422, video_form=form)


@bp.post("/c/<slug>/preview")
@login_required
def preview(slug):
    """The story editor's live preview: the same renderer and sanitiser as the page."""
    campaign = campaign_for_founder(slug, current_user)
    form = PreviewForm()
    if not form.validate_on_submit():
        abort(400, _("The text is too long to preview."))
    html = render_markdown(form.text.data or "", campaign.gallery)
    return Response(str(html), mimetype="text/html")
