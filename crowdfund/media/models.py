"""Stored images and where campaigns use them. An Image is one upload turned into variants
(several widths, WebP and JPEG); its files are named from its key, never from the upload."""
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

MAX_GALLERY_IMAGES = 12
MAX_ALT_LENGTH = 200


class Image(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # "<kind>-<32 hex>"; files are "<key>-<width>.<webp|jpg>".
    key: Mapped[str] = mapped_column(String(48), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Size of the largest variant.
    width: Mapped[int]
    height: Mapped[int]
    # The variant widths made, ascending, comma-separated ("400,800,1600").
    widths: Mapped[str] = mapped_column(String(40))
    # The formats made ("webp,jpg"); images from before WebP variants have "jpg" only.
    formats: Mapped[str] = mapped_column(String(20), default="webp,jpg")
    # A perceptual hash of the picture (imagehash.phash, 16 hex digits) for the risk rule that finds
    # one campaign's images on another; None for images made before it was recorded.
    phash: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def width_list(self) -> list[int]:
        return [int(w) for w in self.widths.split(",")]

    @property
    def format_list(self) -> list[str]:
        return self.formats.split(",")

    def file_name(self, width: int, ext: str) -> str:
        return f"{self.key}-{width}.{ext}"

    def file_names(self) -> list[str]:
        return [self.file_name(w, ext) for w in self.width_list for ext in self.format_list]

    def width_near(self, wanted: int) -> int:
        """The smallest variant at least `wanted` wide (the largest when none is)."""
        return next((w for w in self.width_list if w >= wanted), self.width_list[-1])

    def __repr__(self) -> str:
        return f"<Image {self.key} {self.widths}>"


class GalleryImage(db.Model):
    __table_args__ = (UniqueConstraint("image_id", name="one_use"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    alt_text: Mapped[str] = mapped_column(String(MAX_ALT_LENGTH))
    position: Mapped[int] = mapped_column(default=0)

    image: Mapped[Image] = relationship(lazy="joined")
    campaign = relationship("Campaign", back_populates="gallery")
