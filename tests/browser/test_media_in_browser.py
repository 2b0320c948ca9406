"""Campaign media in a real browser (Playwright + Chromium on the live server):

- the issue's "Done when" journey: a founder uploads a rotated phone photo with GPS data as the
  cover, three gallery images and a YouTube link, writes a story with headings, a link and a
  gallery picture in the editor with its live preview, saves; the campaign page shows the cover
  upright, picks a WebP variant sharp enough for 375 px phones and 1280 px screens at 1x and 2x,
  serves files with no metadata, loads the video only when asked, and breaks no CSP rule;
- an XSS corpus in every user-written text (story, risks, tier, milestone, bio) and in the
  editor's preview: no dialog, no script, no event handler, no javascript:/data: link;
- the widget framed by a plain HTML page on another port, while the campaign page itself refuses
  to be framed."""
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageCms

from crowdfund.campaigns.models import Campaign, Milestone, RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.media.models import GalleryImage

PASSWORD = "a browser's password 2026"
PHONE_MAKE = "AcmePhoneMakerZ9"
PHONE_MODEL = "Pocket Z9 Pro"
VIDEO_URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
RED, BLUE = (230, 20, 20), (40, 90, 160)
VARIANT_WIDTH = re.compile(r"-(\d+)\.(webp|jpg)$")
WAIT_FOR_IMAGE = """selector => { const img = document.querySelector(selector);
                                  return img && img.complete && img.naturalWidth > 0; }"""


# ---------------------------------------------------------------- files made by the tests

def phone_photo() -> bytes:
    """A portrait photo as phones store it: pixels 1600×1200 (landscape) with EXIF Orientation 6
    (rotate 90° clockwise to show), so it is 1200×1600 upright. A red block sits in the corner
    that is top-left once upright. GPS position, Make/Model, an ICC profile and XMP are attached."""
    image = Image.new("RGB", (1600, 1200), BLUE)
    image.paste(RED, (0, 1000, 200, 1200))  # stored bottom-left -> shown top-left after rotating
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = PHONE_MAKE
    exif[0x0110] = PHONE_MODEL
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 40.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif, icc_profile=icc,
               xmp=f"<x:xmpmeta xmlns:x='adobe:ns:meta/'>{PHONE_MAKE}</x:xmpmeta>".encode())
    data = out.getvalue()
    check = Image.open(BytesIO(data))  # the upload really carries what the test says it does
    assert check.size == (1600, 1200) and check.getexif()[0x0112] == 6
    assert check.getexif().get_ifd(0x8825)[2] == (51.0, 30.0, 12.5)
    return data


def plain_image(colour, fmt="JPEG", size=(960, 720)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def upload(name, data, mime):
    return {"name": name, "mimeType": mime, "buffer": data}


def variant_width(url: str) -> int:
    match = VARIANT_WIDTH.search(urlsplit(url).path)
    assert match, f"not an image variant: {url}"
    return int(match.group(1))


def no_metadata(url: str, body: bytes) -> Image.Image:
    """Assert a served variant carries pixels only; returns it opened."""
    image = Image.open(BytesIO(body))
    image.load()
    assert len(image.getexif()) == 0, f"EXIF left in {url}"
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"):
        assert not image.info.get(key), f"{key} left in {url}"
    for marker in (PHONE_MAKE.encode(), PHONE_MODEL.encode(), b"Exif\x00\x00", b"adobe:ns:meta"):
        assert marker not in body, f"{marker!r} in the bytes of {url}"
    return image


# ---------------------------------------------------------------- network guard

class Outside:
    """Routes every request of a context: the live server (and the Stripe stand-in) on
    127.0.0.1 go through, YouTube's player gets a stub page, anything else is aborted.
    Records what would have left the machine."""

    def __init__(self, context):
        self.requests: list[str] = []
        context.route("**/*", self.handle)

    def handle(self, route):
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if host == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
            return
        self.requests.append(url)
        if host in ("www.youtube-nocookie.com", "example.com"):
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>stub</title><p>stub")
        else:
            route.abort()


def csp_violations(messages):
    return [m for m in messages if "Refused to" in m or "Content Security Policy" in m]


# ---------------------------------------------------------------- 1. the "Done when" journey

def test_founder_adds_photo_gallery_video_and_story_and_the_page_shows_them_right(
        browser, page, log_in, live_server, make_user, make_campaign):
    founder = make_user(display_name="Fay Baker", password=PASSWORD)
    campaign = make_campaign(founder=founder, complete=True, title="Second oven for the bakery")
    campaign.cover = None  # everything the checklist asks for is there, except the media
    campaign.cover_alt = ""
    slug, campaign_id = campaign.slug, campaign.id
    db.session.commit()  # release SQLite before the server thread writes
    outside = Outside(page.context)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

    log_in(founder, PASSWORD)
    page.goto(f"/c/{slug}/edit")
    page.get_by_role("link", name="Images and video").click()
    page.wait_for_url(re.compile(rf"/c/{slug}/edit/media$"))

    # The cover: the phone photo, with its description.
    cover_section = page.locator("#cover")
    cover_section.get_by_label("Cover image").set_input_files(upload("IMG_2041.JPG", phone_photo(), "image/jpeg"))
    cover_section.get_by_label("Description (alt text)").fill("Our baker at the new oven")
    cover_section.get_by_role("button", name="Upload the cover").click()
    page.wait_for_url(re.compile(rf"/c/{slug}/edit/media"))
    assert page.get_by_text("The cover image is saved.").is_visible()
    current = page.locator("#cover .media-current img")
    assert current.get_attribute("alt") == "Our baker at the new oven"

    # Three gallery images, each with its description.
    gallery = [("Flour sacks in the store room", plain_image((200, 170, 90)), "flour.jpg", "image/jpeg"),
               ("Loaves cooling on a rack", plain_image((150, 90, 40), "PNG"), "loaves.png", "image/png"),
               ("The café counter", plain_image((60, 140, 90), "WEBP"), "counter.webp", "image/webp")]
    for alt, data, name, mime in gallery:
        section = page.locator("#gallery")
        section.get_by_label("Image (JPEG, PNG, WebP or GIF").set_input_files(upload(name, data, mime))
        section.locator("form", has=page.get_by_role("button", name="Add to the gallery")) \
            .get_by_label("Description (alt text)").fill(alt)
        section.get_by_role("button", name="Add to the gallery").click()
        page.wait_for_url(re.compile(rf"/c/{slug}/edit/media"))
        assert page.get_by_text("The image is added to the gallery.").is_visible()
    assert page.locator(".gallery-editor > li").count() == 3
    assert [page.locator(".gallery-editor > li img").nth(i).get_attribute("alt") for i in range(3)] == \
        [alt for alt, *_ in gallery]

    # The video.
    page.locator("#video").get_by_label("Video address (YouTube or Vimeo)").fill(VIDEO_URL)
    page.locator("#video").get_by_role("button", name="Save the video").click()
    page.wait_for_url(re.compile(rf"/c/{slug}/edit/media"))
    assert page.get_by_text("The video is saved.").is_visible()

    # The story, with the live preview.
    page.get_by_role("link", name="Basics and story").click()
    page.wait_for_url(re.compile(rf"/c/{slug}/edit$"))
    story = page.get_by_label("Story", exact=True)
    story.fill("# Heading\n\nWe bake bread.\n\n## Sub\n\nRead more on [our site](https://example.com).")
    preview = page.locator("#story-preview")
    preview.locator("h3", has_text="Sub").wait_for()  # the preview came back from the server
    page.locator(".gallery-insert li", has_text="Loaves cooling on a rack").get_by_role("button", name="Insert").click()
    preview.locator("img").wait_for()
    assert preview.locator("h2").inner_text() == "Heading"
    assert preview.locator("h3").inner_text() == "Sub"
    link = preview.get_by_role("link", name="our site")
    assert link.get_attribute("href") == "https://example.com"
    assert link.get_attribute("rel") == "nofollow ugc noopener"
    story_image = preview.locator("img")
    assert story_image.get_attribute("alt") == "Loaves cooling on a rack"
    assert re.search(r"/media/gallery-[0-9a-f]{32}-\d+\.jpg$", story_image.get_attribute("src"))
    page.wait_for_function(WAIT_FOR_IMAGE, arg="#story-preview img")
    assert "![Loaves cooling on a rack](gallery:" in story.input_value()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(rf"/c/{slug}/edit$"))
    assert page.get_by_text("Saved.", exact=True).is_visible()

    # The campaign page.
    page.goto(f"/c/{slug}")
    story_section = page.locator("section", has=page.locator("#story-h")).locator(".prose")
    assert story_section.locator("h2").inner_text() == "Heading"
    assert story_section.get_by_role("link", name="our site").get_attribute("rel") == "nofollow ugc noopener"
    assert story_section.locator("img").get_attribute("alt") == "Loaves cooling on a rack"
    assert page.locator("ul.gallery img").count() == 3
    cover = page.locator("picture.cover-large img")
    assert cover.get_attribute("alt") == "Our baker at the new oven"
    page.wait_for_function(WAIT_FOR_IMAGE, arg="picture.cover-large img")
    natural = cover.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert natural[0] < natural[1], f"the cover is shown lying on its side: {natural}"

    # Every variant on the page: no metadata; the cover's are upright with the marker top-left.
    urls = page.evaluate("""() => {
        const found = new Set();
        document.querySelectorAll('img[src], img[srcset], source[srcset]').forEach(el => {
            if (el.getAttribute('src')) found.add(new URL(el.getAttribute('src'), location.href).href);
            (el.getAttribute('srcset') || '').split(',').forEach(part => {
                const url = part.trim().split(/\\s+/)[0];
                if (url) found.add(new URL(url, location.href).href);
            });
        });
        return [...found].filter(url => new URL(url).pathname.startsWith('/media/'));
    }""")
    cover_urls = [u for u in urls if "/media/cover-" in u]
    assert sorted({variant_width(u) for u in cover_urls}) == [400, 800, 1200]
    assert {u.rsplit(".", 1)[1] for u in cover_urls} == {"webp", "jpg"}
    assert len([u for u in urls if "/media/gallery-" in u]) == 3 * 2 * 3  # 3 images × 3 widths × 2 formats
    for url in urls:
        response = page.request.get(url)
        assert response.status == 200, url
        image = no_metadata(url, response.body())
        if "/media/cover-" in url:
            width, height = image.size
            assert width == variant_width(url) and abs(height - width * 4 / 3) <= 1, (url, image.size)
            rgb = image.convert("RGB")
            top_left, top_right = rgb.getpixel((width // 20, height // 40)), rgb.getpixel((width - 5, 5))
            assert top_left[0] > 180 and top_left[2] < 80, f"marker not top-left in {url}: {top_left}"
            assert top_right[2] > 120 and top_right[0] < 100, f"{url}: {top_right}"

    # Sharp at every width: the browser's pick covers the shown size at the screen's density.
    largest = max(variant_width(u) for u in cover_urls)
    state = page.context.storage_state()
    for viewport_width, scale in ((375, 2), (1280, 1), (1280, 2)):
        context = browser.new_context(base_url=live_server.url, storage_state=state, device_scale_factor=scale,
                                      viewport={"width": viewport_width, "height": 900})
        try:
            other = context.new_page()
            other.goto(f"/c/{slug}")
            other.wait_for_function(WAIT_FOR_IMAGE, arg="picture.cover-large img")
            shown = other.locator("picture.cover-large img").evaluate(
                "img => ({src: img.currentSrc, width: img.getBoundingClientRect().width, dpr: devicePixelRatio})")
            assert shown["dpr"] == scale
            assert shown["src"].endswith(".webp"), shown
            chosen = variant_width(shown["src"])
            assert chosen >= min(shown["width"] * scale, largest), (viewport_width, scale, shown)
        finally:
            context.close()

    # The video loads only when asked, from the privacy-enhanced host.
    assert outside.requests == [], "something was fetched from another site before pressing play"
    assert page.locator(".video iframe").count() == 0
    with page.expect_request(re.compile(r"^https://www\.youtube-nocookie\.com/")):
        page.get_by_role("button", name=re.compile("Play the video")).click()
    frame = page.locator(".video iframe")
    assert frame.get_attribute("src").startswith("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ")
    assert page.get_by_role("button", name=re.compile("Play the video")).count() == 0
    assert [urlsplit(u).hostname for u in outside.requests] == ["www.youtube-nocookie.com"]

    assert csp_violations(console) == [], console
    assert page.console_errors == []
    db.session.expire_all()
    saved = db.session.get(Campaign, campaign_id)
    assert saved.video_url == VIDEO_URL
    assert db.session.execute(db.select(db.func.count(GalleryImage.id))
                              .where(GalleryImage.campaign_id == campaign_id)).scalar_one() == 3


# ---------------------------------------------------------------- 2. XSS corpus

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<script>window.__xss=true</script>",
    "<img src=x onerror=alert(1)>",
    '<img src=x onerror="window.__xss=true">',
    "[x](javascript:alert(1))",
    "[y](javascript:window.__xss=true)",
    "<svg onload=alert(1)>",
    "<svg/onload=window.__xss=true>",
    "[click](data:text/html,<script>alert(1)</script>)",
    '<iframe src="javascript:alert(1)">',
    '<iframe srcdoc="<script>parent.__xss=true</script>">',
    "<details open ontoggle=alert(1)>",
    "<details open ontoggle=window.__xss=true>",
    "![x](javascript:alert(1))",
    "![z](x onerror=window.__xss=true)",
    '"><img src=x onerror=alert(1)>',
    '"><img src=x onerror=window.__xss=true>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "[tab](jav&#x09;ascript:window.__xss=true)",
    "[entity](&#106;avascript:alert(1))",
    "<a href='javascript:window.__xss=true'>raw</a>",
    "A safe link: [safe](https://example.com/ok)",
    "END OF CORPUS",
]
XSS_TEXT = "\n\n".join(XSS_CORPUS)

SCAN_USER_CONTENT = """selector => {
    const problems = [];
    document.querySelectorAll(selector).forEach(region => {
        region.querySelectorAll('*').forEach(el => {
            const tag = el.tagName.toLowerCase();
            if (['script', 'svg', 'iframe', 'details', 'object', 'embed', 'form', 'style'].includes(tag))
                problems.push('element ' + tag);
            for (const attr of el.attributes) {
                const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
                if (attr.name.startsWith('on')) problems.push(tag + ' ' + attr.name);
                if (['href', 'src', 'srcset', 'action', 'formaction', 'xlink:href'].includes(attr.name)
                    && /^(javascript|data|vbscript):/.test(value)) problems.push(tag + ' ' + attr.name + '=' + value);
            }
        });
    });
    document.querySelectorAll('script:not([src])').forEach(s => problems.push('inline script: ' + s.textContent.slice(0, 40)));
    return problems;
}"""


def _check_no_xss(page, selector, dialogs, expected_regions):
    regions = page.locator(selector)
    with_corpus = [i for i in range(regions.count()) if "END OF CORPUS" in regions.nth(i).inner_text()]
    assert len(with_corpus) == expected_regions, f"the corpus is not shown in every region ({with_corpus})"
    assert page.evaluate(SCAN_USER_CONTENT, selector) == []
    assert page.evaluate("window.__xss") is False
    assert dialogs == []


def _click_every_link(page, selector, dialogs, come_back=None):
    """Click each link with an href in the user content, coming back after any navigation
    (`come_back()` then puts the page back as it was). Returns the links' resolved addresses."""
    address = page.url
    links = page.locator(f"{selector} a[href]")
    hrefs = [links.nth(i).evaluate("a => a.href") for i in range(links.count())]
    for index in range(len(hrefs)):
        page.locator(f"{selector} a[href]").nth(index).click()
        page.wait_for_load_state()
        if page.url == address:
            assert page.evaluate("window.__xss") is False
        else:
            assert urlsplit(page.url).scheme in ("http", "https"), page.url
            page.goto(address)
            if come_back:
                come_back()
    assert dialogs == []
    assert page.evaluate("window.__xss") is False
    return hrefs


# What survives of the corpus as a link, in each region: the safe link, and the tab trick turned
# into a harmless relative address (percent-encoded, so no scheme) on this site.
def _expected_links(page, regions):
    here = page.url.rsplit("/", 1)[0]
    return [f"{here}/jav%09ascript:window.__xss=true", "https://example.com/ok"] * regions


def test_xss_corpus_runs_nothing_on_the_page_the_profile_or_the_editor_preview(
        page, log_in, make_user, make_campaign):
    founder = make_user(display_name="Fay Baker", password=PASSWORD)
    founder.bio = XSS_TEXT
    live = make_campaign(founder=founder, state="live", title="A live campaign", story=XSS_TEXT)
    live.risks = XSS_TEXT
    # Through the ORM, as the app saves them: the stored HTML is rendered when the text is flushed.
    for tier in db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == live.id)).scalars():
        tier.description = XSS_TEXT
    db.session.execute(db.select(Milestone).where(Milestone.campaign_id == live.id)
                       .order_by(Milestone.id).limit(1)).scalar_one().description = XSS_TEXT
    draft = make_campaign(founder=founder, title="A draft being written")
    live_slug, draft_slug, founder_id = live.slug, draft.slug, founder.id
    db.session.commit()
    Outside(page.context)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script("window.__xss = false;")

    page.goto(f"/c/{live_slug}")
    _check_no_xss(page, ".prose", dialogs, expected_regions=5)  # story, milestone, risks, bio, tier
    assert _click_every_link(page, ".prose", dialogs) == _expected_links(page, 5)
    _check_no_xss(page, ".prose", dialogs, expected_regions=5)

    page.goto(f"/u/{founder_id}")
    _check_no_xss(page, ".prose", dialogs, expected_regions=1)
    assert _click_every_link(page, ".prose", dialogs) == _expected_links(page, 1)

    log_in(founder, PASSWORD)
    page.goto(f"/c/{draft_slug}/edit")

    def type_the_corpus():
        page.get_by_label("Story", exact=True).fill(XSS_TEXT)
        page.locator("#story-preview", has_text="END OF CORPUS").wait_for()

    type_the_corpus()
    _check_no_xss(page, "#story-preview", dialogs, expected_regions=1)
    assert _click_every_link(page, "#story-preview", dialogs, come_back=type_the_corpus) == _expected_links(page, 1)
    assert dialogs == []


# ---------------------------------------------------------------- 3. the widget on another site

@pytest.fixture
def other_site():
    """serve(html) -> the URL of a plain page with that HTML, on its own port."""
    pages = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(html):
        pages["/"] = html
        return f"http://127.0.0.1:{server.server_port}/"

    try:
        yield serve
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_widget_shows_in_a_page_on_another_port_but_the_campaign_page_refuses_to_be_framed(
        page, live_server, other_site, make_campaign):
    from crowdfund.media.services import store_image

    campaign = make_campaign(state="live", title="Second oven for the bakery", goal=100_000,
                             launched_at=utcnow() - timedelta(days=1))
    campaign.cover = store_image(plain_image((200, 120, 60), size=(1200, 675)), "cover")
    slug = campaign.slug
    db.session.commit()
    url = other_site(
        "<!doctype html><title>A blog</title><h1>My favourite bakery</h1>"
        f'<iframe id="widget" src="{live_server.url}/c/{slug}/widget" width="340" height="440"></iframe>'
        f'<iframe id="page" src="{live_server.url}/c/{slug}" width="600" height="400"></iframe>')
    responses = {}
    page.on("response", lambda response: responses.setdefault(urlsplit(response.url).path, response))

    page.goto(url)
    assert urlsplit(page.url).port != urlsplit(live_server.url).port

    widget = page.frame_locator("#widget")
    widget.get_by_role("heading", name="Second oven for the bakery").wait_for()
    assert "pledged of" in widget.locator("body").inner_text()
    assert widget.get_by_role("link", name="Back this project").get_attribute("target") == "_blank"
    widget_frame = page.locator("#widget").element_handle().content_frame()
    widget_frame.wait_for_function(WAIT_FOR_IMAGE, arg=".widget-cover img")

    framed = page.locator("#page").element_handle().content_frame()
    page_response = responses[f"/c/{slug}"]
    assert page_response.status == 200  # the server sent the page, the browser refused to show it framed
    assert page_response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page_response.headers["content-security-policy"]
    assert framed.url.startswith(("chrome-error:", "about:blank")), framed.url
    assert "Second oven for the bakery" not in framed.content()
