"""Fingerprints the review rules compare across campaigns: a MinHash signature of each story (word
5-shingles of the normalised text, 128 permutations) with locality-sensitive-hashing bands, so
near-duplicate candidates come from one indexed query; and perceptual hashes of campaign images
(Image.phash, imagehash.phash as 16 hex digits) compared by Hamming distance.
Functions flush, never commit."""
import hashlib
import re
from io import BytesIO

from datasketch import MinHash

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.media.models import GalleryImage, Image
from crowdfund.risk.models import StoryBand, StorySignature

NUM_PERM = 128
SHINGLE_WORDS = 5
BANDS, ROWS = 32, 4  # 32 × 4 = 128: a pair at Jaccard 0.8 shares a band with probability > 0.999
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(story: str) -> list[str]:
    """The story's words, lower case, without punctuation or markup."""
    return _WORD.findall((story or "").lower())


def shingles(story: str) -> set[str]:
    """Every run of SHINGLE_WORDS consecutive words (the whole text when it is shorter)."""
    words = normalise(story)
    if not words:
        return set()
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def signature_of(story: str) -> tuple[list[int], int]:
    """(MinHash signature as ints, number of shingles); an empty story has an empty signature."""
    pieces = shingles(story)
    if not pieces:
        return [], 0
    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch([piece.encode("utf-8") for piece in pieces])
    return [int(value) for value in minhash.hashvalues], len(pieces)


def band_keys(signature: list[int]) -> list[str]:
    """One key per LSH band: "<band>:<hash of its rows>"."""
    if len(signature) != BANDS * ROWS:
        return []
    keys = []
    for band in range(BANDS):
        rows = ",".join(str(v) for v in signature[band * ROWS:(band + 1) * ROWS])
        keys.append(f"{band}:{hashlib.blake2b(rows.encode(), digest_size=8).hexdigest()}")
    return keys


def similarity(first: list[int], second: list[int]) -> float:
    """Estimated Jaccard similarity: the share of signature positions that agree."""
    if not first or len(first) != len(second):
        return 0.0
    return sum(a == b for a, b in zip(first, second)) / len(first)


def store_story_signature(campaign: Campaign) -> StorySignature:
    """Write (or rewrite) the campaign's story signature and its bands. Flushes; writes nothing
    when the stored signature is already the story's."""
    values, count = signature_of(campaign.story)
    stored = db.session.get(StorySignature, campaign.id)
    if stored is not None and list(stored.signature or []) == values:
        return stored
    if stored is None:
        stored = StorySignature(campaign_id=campaign.id)
        db.session.add(stored)
    stored.signature, stored.shingle_count = values, count
    db.session.execute(db.delete(StoryBand).where(StoryBand.campaign_id == campaign.id))
    db.session.add_all(StoryBand(campaign_id=campaign.id, band_key=key) for key in band_keys(values))
    db.session.flush()
    return stored


def duplicate_stories(campaign: Campaign, minimum: float = 0.5) -> list[tuple[str, float]]:
    """Other founders' campaigns whose story shares an LSH band with this one's, with their estimated
    similarity (at least minimum), most similar first. The founder's own campaigns (a relaunch) are left out."""
    stored = db.session.get(StorySignature, campaign.id)
    keys = band_keys(list(stored.signature or [])) if stored is not None else []
    if not keys:
        return []
    candidates = db.session.execute(
        db.select(Campaign.slug, StorySignature.signature)
        .join(StorySignature, StorySignature.campaign_id == Campaign.id)
        .where(Campaign.id.in_(db.select(StoryBand.campaign_id).where(StoryBand.band_key.in_(keys))),
               Campaign.id != campaign.id, Campaign.founder_id != campaign.founder_id)).all()
    found = [(slug, round(similarity(stored.signature, list(other)), 3)) for slug, other in candidates]
    return sorted((f for f in found if f[1] >= minimum), key=lambda f: (-f[1], f[0]))


# --- images ------------------------------------------------------------------------------------

MIN_DETAIL_BITS = 4  # a flat picture (one colour) hashes to nearly all zeros: not evidence of copying


def informative(phash: str) -> bool:
    """Whether the hash describes a picture with some structure (enough bits set and unset)."""
    bits = bin(int(phash, 16)).count("1")
    return MIN_DETAIL_BITS <= bits <= len(phash) * 4 - MIN_DETAIL_BITS


def hamming(first: str, second: str) -> int:
    """Bits that differ between two hex hashes of the same length."""
    return bin(int(first, 16) ^ int(second, 16)).count("1")


def _campaign_images(campaign_ids=None, exclude_founder: int | None = None):
    """(campaign slug, Image) of campaigns' covers and gallery images."""
    cover = db.select(Campaign.slug, Image).join(Image, Image.id == Campaign.cover_image_id)
    gallery = (db.select(Campaign.slug, Image).join(GalleryImage, GalleryImage.campaign_id == Campaign.id)
               .join(Image, Image.id == GalleryImage.image_id))
    rows = []
    for query in (cover, gallery):
        if campaign_ids is not None:
            query = query.where(Campaign.id.in_(campaign_ids))
        if exclude_founder is not None:
            query = query.where(Campaign.founder_id != exclude_founder, Image.phash.is_not(None))
        rows.extend(db.session.execute(query).all())
    return rows


def ensure_phash(image: Image) -> str | None:
    """The image's perceptual hash, computed from its largest stored JPEG when missing (images stored
    before hashes were kept). Flushes; None when the file cannot be read."""
    if image.phash:
        return image.phash
    from PIL import Image as PILImage

    from crowdfund.media.processing import perceptual_hash
    from crowdfund.media.storage import get_storage

    data = get_storage().read(image.file_name(image.width_list[-1], "jpg")) if image.width_list else None
    if not data:
        return None
    try:
        with PILImage.open(BytesIO(data)) as picture:
            image.phash = perceptual_hash(picture)
    except (OSError, ValueError):
        return None
    db.session.flush()
    return image.phash


def matching_images(campaign: Campaign, maximum: int = 10) -> list[tuple[str, int]]:
    """Other founders' campaigns with an image within maximum bits of one of this campaign's, with the
    smallest distance, closest first."""
    mine = [h for h in (ensure_phash(image) for _, image in _campaign_images([campaign.id])) if h and informative(h)]
    if not mine:
        return []
    best: dict[str, int] = {}
    for slug, image in _campaign_images(exclude_founder=campaign.founder_id):
        if len(image.phash) != len(mine[0]) or not informative(image.phash):
            continue
        distance = min(hamming(image.phash, own) for own in mine)
        if distance <= maximum and distance < best.get(slug, maximum + 1):
            best[slug] = distance
    return sorted(best.items(), key=lambda item: (item[1], item[0]))
