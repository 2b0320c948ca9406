"""Story MinHash and LSH bands, and image perceptual hashes (pure parts, then the stored image)."""
import random

from crowdfund.extensions import db
from crowdfund.media.models import Image
from crowdfund.media.services import store_image
from crowdfund.media.storage import get_storage
from crowdfund.risk import fingerprints

from .helpers import picture

WORDS = [f"word{n}" for n in range(400)]


def _story(seed, length=300):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(length))


def _jaccard(a, b):
    first, second = fingerprints.shingles(a), fingerprints.shingles(b)
    return len(first & second) / len(first | second)


def test_shingles_ignore_case_punctuation_and_markup():
    assert fingerprints.shingles("**Hello**, World! We bake bread.") == fingerprints.shingles("hello world we bake BREAD")
    assert fingerprints.shingles("one two three four five six") == {"one two three four five", "two three four five six"}
    assert fingerprints.shingles("") == set()


def test_signature_similarity_estimates_the_jaccard_of_the_shingles():
    base = _story(1)
    words = base.split()
    edited = " ".join(words[:250] + _story(2, 50).split())  # the last sixth rewritten
    first, _ = fingerprints.signature_of(base)
    second, _ = fingerprints.signature_of(edited)
    assert len(first) == fingerprints.NUM_PERM
    assert abs(fingerprints.similarity(first, second) - _jaccard(base, edited)) < 0.15
    unrelated, _ = fingerprints.signature_of(_story(3))
    assert fingerprints.similarity(first, unrelated) < 0.1
    assert fingerprints.signature_of(base) == fingerprints.signature_of(base)  # stable across calls


def test_near_duplicates_share_a_band_and_unrelated_stories_do_not():
    base = _story(4)
    near = base.replace("word7 ", "word8 ", 2)
    keys = set(fingerprints.band_keys(fingerprints.signature_of(base)[0]))
    assert len(keys) == fingerprints.BANDS
    assert keys & set(fingerprints.band_keys(fingerprints.signature_of(near)[0]))
    assert not keys & set(fingerprints.band_keys(fingerprints.signature_of(_story(5))[0]))


def test_flat_pictures_are_not_evidence_and_hamming_counts_bits():
    assert fingerprints.hamming("ff00000000000000", "0f00000000000001") == 5
    assert not fingerprints.informative("8000000000000000")  # one colour
    assert fingerprints.informative("a33c574977682c5c")


def test_an_image_stored_before_hashes_were_kept_gets_its_hash_from_the_stored_file(app):
    kept = store_image(picture(7), "gallery")
    old = Image(key="old-image", kind=kept.kind, width=kept.width, height=kept.height, widths=kept.widths,
                formats=kept.formats)
    storage = get_storage()
    for name in kept.file_names():
        storage.save(name.replace(kept.key, "old-image"), storage.read(name), "image/jpeg")
    db.session.add(old)
    db.session.flush()

    assert old.phash is None
    assert fingerprints.hamming(fingerprints.ensure_phash(old), kept.phash) <= 2  # from the re-encoded JPEG
    assert old.phash is not None
