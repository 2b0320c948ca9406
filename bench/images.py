"""Benchmark: one 12-megapixel JPEG into every variant, next to Pillow's bare thumbnail.

    .venv/bin/python bench/images.py [--runs 9] [--no-write]

Makes a photo-like 4000×3000 JPEG (noise over gradients and shapes, quality 90, EXIF with an
orientation and GPS, about 3 MB) and times, in the same process, alternating:

- **all variants**: `crowdfund.media.processing.process_image(data, "cover")`, which is what an
  upload costs: judge the file, decode (JPEG draft mode), turn upright, convert, resize to 1600,
  800 and 400 px and encode each as WebP and JPEG (six files);
- **bare thumbnail**: `Image.open(data)` + `thumbnail((1600, 1600))` — Pillow decoding the same
  file down to the largest variant's size, encoding nothing;
- **bare thumbnail + one JPEG**: the same, saved once as JPEG.

It prints the median of each, the ratio (target: all variants within 3× one bare thumbnail) and
the variant sizes, and writes them to docs/benchmarks.md.
"""
import argparse
import platform
import resource
import statistics
import sys
import time
from datetime import date
from io import BytesIO
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from bench.results import RESULTS, write_section  # noqa: E402
from crowdfund.media.processing import process_image  # noqa: E402

TARGET_RATIO = 3.0
WIDTH, HEIGHT = 4000, 3000


def photo_like_jpeg() -> bytes:
    """A 12 MP JPEG with detail everywhere (so it compresses like a photo, not like a flat colour)."""
    noise = Image.effect_noise((WIDTH, HEIGHT), 48).convert("RGB")
    red = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    green = Image.linear_gradient("L").rotate(90).resize((WIDTH, HEIGHT))
    blue = Image.radial_gradient("L").resize((WIDTH, HEIGHT))
    base = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(base)
    for i in range(40):
        x, y = (i * 397) % WIDTH, (i * 211) % HEIGHT
        draw.ellipse([x, y, x + 300 + i * 7, y + 200 + i * 5], outline=(255 - i * 5, i * 6, 120), width=12)
    photo = Image.blend(base, noise, 0.35).filter(ImageFilter.GaussianBlur(0.8))
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: as stored
    exif[0x010F] = "BenchCam"
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)})
    buffer = BytesIO()
    photo.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def bare_thumbnail(data: bytes) -> None:
    with Image.open(BytesIO(data)) as image:
        image.thumbnail((1600, 1600))


def bare_thumbnail_and_jpeg(data: bytes) -> None:
    with Image.open(BytesIO(data)) as image:
        image.thumbnail((1600, 1600))
        image.save(BytesIO(), "JPEG", quality=82)


def all_variants(data: bytes):
    return process_image(data, "cover", max_pixels=40_000_000, max_bytes=10 * 1024 * 1024)


def timed(function, data: bytes) -> float:
    start = time.perf_counter()
    function(data)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(PROJECT_DIR)}")
    args = parser.parse_args(argv)

    data = photo_like_jpeg()
    contenders = {"all variants": all_variants, "bare thumbnail": bare_thumbnail,
                  "bare thumbnail + one JPEG": bare_thumbnail_and_jpeg}
    for function in contenders.values():  # warm up: imports, codec tables
        function(data)
    times = {name: [] for name in contenders}
    for _ in range(args.runs):  # interleaved, so a busy moment on the machine hits all alike
        for name, function in contenders.items():
            times[name].append(timed(function, data))
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["all variants"] / medians["bare thumbnail"]
    processed = all_variants(data)
    figures = {
        "file": f"{WIDTH}×{HEIGHT} JPEG, {len(data) / 1e6:.1f} MB",
        "runs": args.runs,
        "medians": medians,
        "ratio": ratio,
        "ratio_with_save": medians["all variants"] / medians["bare thumbnail + one JPEG"],
        "variants": sorted(processed.files.items()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
                   f"Pillow {Image.__version__}",
        "date": date.today().isoformat(),
    }
    for name, seconds in medians.items():
        print(f"{name:>28}: {seconds * 1000:7.1f} ms (median of {args.runs})")
    print(f"{'ratio':>28}: {ratio:.2f}× one bare thumbnail (target ≤ {TARGET_RATIO:.0f}×: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}); {figures['ratio_with_save']:.2f}× thumbnail + JPEG")
    print(f"{'variants':>28}: " + ", ".join(f"{w} {ext} {len(b) // 1024} KB" for (w, ext), b in figures["variants"]))
    print(f"{'peak RSS of this process':>28}: {figures['peak_rss_mb']:.0f} MB")
    if not args.no_write:
        write_results(figures)
        print(f"Written to {RESULTS.relative_to(PROJECT_DIR)}")
    return figures


def write_results(figures: dict) -> None:
    medians = figures["medians"]
    heading = "## Processing a 12-megapixel upload into image variants (`bench/images.py`)"
    write_section(heading, [
        heading,
        "",
        f"One photo-like {figures['file']} (EXIF with GPS), processed in the same process as Pillow's own "
        f"bare thumbnail of the same file; medians of {figures['runs']} interleaved runs.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| **all variants** (`process_image`: decode in draft mode, upright, 1600/800/400 px × WebP + JPEG) | "
        f"**{medians['all variants'] * 1000:.0f} ms** |",
        f"| bare `Image.open` + `thumbnail((1600, 1600))` | {medians['bare thumbnail'] * 1000:.0f} ms |",
        f"| bare thumbnail + one JPEG save | {medians['bare thumbnail + one JPEG'] * 1000:.0f} ms |",
        f"| **ratio** | **{figures['ratio']:.2f}× one bare thumbnail** — target ≤ {TARGET_RATIO:.0f}×: "
        f"{'met' if figures['ratio'] <= TARGET_RATIO else 'NOT met'} ({figures['ratio_with_save']:.2f}× "
        "thumbnail + JPEG) |",
        "| variants | " + ", ".join(f"{w} px {ext} {len(b) // 1024} KB" for (w, ext), b in figures["variants"]) + " |",
        f"| peak RSS of the benchmark process | {figures['peak_rss_mb']:.0f} MB |",
        f"| machine | {figures['machine']} |",
        f"| date | {figures['date']} |",
        "",
        "Why it is cheap: the JPEG is decoded at 1/2 scale (`Image.draft`, 2000×1500) because nothing larger "
        "than 1600 px is needed — Pillow's `thumbnail` asks for twice the target size and so decodes the full "
        "12 MP — then each smaller variant is resized from the one above it, and WebP is encoded at method 2 "
        "(method 4, Pillow's default, doubles the WebP time for a few per cent smaller files).",
        "",
    ])


if __name__ == "__main__":
    main()
