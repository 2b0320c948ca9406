"""Storing images and the campaign media rules: cover and gallery (alt text required, at most
twelve, ordered), avatars, the video link. Services flush; the caller commits. Files are written
before the commit (a failed commit leaves unreferenced files, never a reference without files)
and removed only after the commit that stops using them."""
import secrets

from flask import current_app, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from crowdfund.errors import NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.templating import format_size
from crowdfund.media.models import MAX_ALT_LENGTH, MAX_GALLERY_IMAGES, GalleryImage, Image
from crowdfund.media.processing import CONTENT_TYPES, ImageRefused, process_image
from crowdfund.media.storage import get_storage
from crowdfund.media.video import parse_video_url
from crowdfund.unit_of_work import after_commit


def _refusal_message(error: ImageRefused) -> str:
    if error.reason == "too_large":
        return _("That file is too large. Images can be up to %(size)s.",
                 size=format_size(current_app.config["MAX_IMAGE_BYTES"]))
    if error.reason == "too_many_pixels":
        return _("That image has too many pixels. The limit is %(n)s megapixels.",
                 n=current_app.config["MAX_IMAGE_PIXELS"] // 1_000_000)
    return _("That file is not an image we can read. Upload a JPEG, PNG, WebP or GIF.")


def store_image(data: bytes, kind: str) -> Image:
    """Process an upload into variants, save them and add the Image row (flushed).
    Raises ValidationFailed with a message for the uploader when the file is refused."""
    try:
        processed = process_image(data, kind, max_pixels=current_app.config["MAX_IMAGE_PIXELS"],
                                  max_bytes=current_app.config["MAX_IMAGE_BYTES"])
    except ImageRefused as error:
        raise ValidationFailed(_refusal_message(error)) from None
    image = Image(key=f"{kind}-{secrets.token_hex(16)}", kind=kind, width=processed.width, height=processed.height,
                  widths=",".join(str(w) for w in processed.widths), formats="webp,jpg", phash=processed.phash)
    storage = get_storage()
    for (width, ext), content in processed.files.items():
        storage.save(image.file_name(width, ext), content, CONTENT_TYPES[ext])
    db.session.add(image)
    db.session.flush()
    return image


def discard_image(image: Image | None) -> None:
    """Delete the row now and the files once the transaction commits."""
    if image is None:
        return
    names = image.file_names()
    db.session.delete(image)
    after_commit(lambda: _delete_files(names))


def _delete_files(names: list[str]) -> None:
    storage = get_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # an unreachable bucket leaves a file behind, never fails the request
            current_app.logger.warning("could not delete media file %s", name, exc_info=True)


def image_url(name: str) -> str:
    """Where the browser loads one file from."""
    return get_storage().public_url(name) or url_for("media.file", name=name)


def clean_alt(text: str | None) -> str:
    alt = " ".join((text or "").split())
    if not alt:
        raise ValidationFailed(_("Describe the image for people who cannot see it (alt text)."))
    if len(alt) > MAX_ALT_LENGTH:
        raise ValidationFailed(_("Keep the description under %(n)d characters.", n=MAX_ALT_LENGTH))
    return alt


def _require_editable(campaign) -> None:
    if not campaign.is_editable:
        raise NotAllowed(_("This campaign can no longer be edited."))


def set_cover(campaign, data: bytes | None, alt: str) -> None:
    """Replace the cover with an upload (when given) and set its alt text."""
    _require_editable(campaign)
    alt = clean_alt(alt)
    if data is None and campaign.cover_image_id is None:
        raise ValidationFailed(_("Choose an image file to upload."))
    if data is not None:
        old = campaign.cover
        campaign.cover = store_image(data, "cover")
        discard_image(old)
    campaign.cover_alt = alt
    db.session.flush()


def remove_cover(campaign) -> None:
    _require_editable(campaign)
    old = campaign.cover
    campaign.cover = None
    campaign.cover_alt = ""
    discard_image(old)
    db.session.flush()


def add_gallery_image(campaign, data: bytes, alt: str) -> GalleryImage:
    """Append an image to the gallery (campaign.gallery must be loaded)."""
    _require_editable(campaign)
    alt = clean_alt(alt)
    if len(campaign.gallery) >= MAX_GALLERY_IMAGES:
        raise ValidationFailed(_("A gallery holds up to %(n)d images. Remove one to add another.",
                                 n=MAX_GALLERY_IMAGES))
    image = store_image(data, "gallery")
    item = GalleryImage(image=image, alt_text=alt,
                        position=max((g.position for g in campaign.gallery), default=-1) + 1)
    campaign.gallery.append(item)
    db.session.flush()
    return item


def gallery_item(campaign, item_id: int) -> GalleryImage:
    item = next((g for g in campaign.gallery if g.id == item_id), None)
    if item is None:
        raise NotFound()
    return item


def update_gallery_alt(campaign, item_id: int, alt: str) -> None:
    _require_editable(campaign)
    gallery_item(campaign, item_id).alt_text = clean_alt(alt)
    db.session.flush()


def move_gallery_image(campaign, item_id: int, offset: int) -> None:
    """Move an image one place earlier (-1) or later (+1); positions are renumbered 0..n-1."""
    _require_editable(campaign)
    items = list(campaign.gallery)
    item = gallery_item(campaign, item_id)
    index = items.index(item)
    target = min(max(index + offset, 0), len(items) - 1)
    items.insert(target, items.pop(index))
    for position, each in enumerate(items):
        each.position = position
    db.session.flush()
    db.session.expire(campaign, ["gallery"])


def remove_gallery_image(campaign, item_id: int) -> None:
    _require_editable(campaign)
    item = gallery_item(campaign, item_id)
    image = item.image
    campaign.gallery.remove(item)
    db.session.flush()
    discard_image(image)
    db.session.flush()


def set_video(campaign, url: str | None) -> None:
    """Set the video from a YouTube or Vimeo address; an empty one removes the video."""
    _require_editable(campaign)
    campaign.video_url = parse_video_url(url).url if (url or "").strip() else None
    db.session.flush()


def set_avatar(user, data: bytes) -> None:
    old = user.avatar
    user.avatar = store_image(data, "avatar")
    discard_image(old)
    db.session.flush()
