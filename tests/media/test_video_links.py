"""Video links: which YouTube and Vimeo addresses become an embed, and which are refused.

parse_video_url reads the address only (it never fetches it): the accepted forms give the
provider, the video id, the canonical page address that is stored and the privacy-respecting
embed address (youtube-nocookie.com, Vimeo with dnt=1). Everything else — local and internal
addresses, other schemes, look-alike hosts, userinfo tricks, odd ports, malformed ids, hidden
whitespace, over-long text, homoglyph hosts — is refused with the same message.

The parser never touches the database, so these tests share one app (for gettext's request
context) instead of the per-test, per-database `app` fixture."""
import socket

import pytest

from config import TestingConfig
from crowdfund import create_app
from crowdfund.errors import ValidationFailed
from crowdfund.media.video import parse_video_url

REFUSAL = ("Paste the address of a YouTube or Vimeo video, like https://www.youtube.com/watch?v=… "
           "or https://vimeo.com/…; other sites cannot be embedded.")

YOUTUBE_ID = "dQw4w9WgXcQ"


@pytest.fixture(scope="module")
def parse(tmp_path_factory):
    """parse_video_url inside a request (its message is translated with gettext)."""
    folder = tmp_path_factory.mktemp("video")
    config = {k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()}
    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": "sqlite://", "INSTANCE_DIR": folder / "instance",
                      "UPLOAD_DIR": folder / "uploads"})
    with app.test_request_context():
        yield parse_video_url


@pytest.mark.parametrize("text, provider, video_id", [
    (f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=42s&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", "youtube",
     YOUTUBE_ID),
    (f"https://www.youtube.com/watch?feature=shared&v={YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"https://youtube.com/watch?v={YOUTUBE_ID}#comments", "youtube", YOUTUBE_ID),
    (f"http://www.youtube.com/watch?v={YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"https://m.youtube.com/watch?v={YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"https://youtu.be/{YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"https://youtu.be/{YOUTUBE_ID}?si=Xy12abCD&t=10", "youtube", YOUTUBE_ID),
    ("https://www.youtube.com/shorts/aB_c-12xYz9", "youtube", "aB_c-12xYz9"),
    (f"https://www.youtube.com/embed/{YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"https://www.youtube-nocookie.com/embed/{YOUTUBE_ID}?rel=0", "youtube", YOUTUBE_ID),
    (f"youtu.be/{YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"www.youtube.com/watch?v={YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    (f"  https://youtu.be/{YOUTUBE_ID}\n", "youtube", YOUTUBE_ID),
    (f"HTTPS://WWW.YOUTUBE.COM/watch?v={YOUTUBE_ID}", "youtube", YOUTUBE_ID),
    ("https://vimeo.com/123456", "vimeo", "123456"),
    ("https://www.vimeo.com/123456?share=copy", "vimeo", "123456"),
    ("https://vimeo.com/channels/staffpicks/123456", "vimeo", "123456"),
    ("https://player.vimeo.com/video/123456", "vimeo", "123456"),
    ("https://player.vimeo.com/video/123456?h=abc123&badge=0", "vimeo", "123456"),
    ("vimeo.com/123456", "vimeo", "123456"),
])
def test_a_youtube_or_vimeo_address_becomes_a_video(parse, text, provider, video_id):
    video = parse(text)

    assert (video.provider, video.id) == (provider, video_id)


def test_a_youtube_video_is_stored_by_its_watch_address_and_embedded_from_youtube_nocookie(parse):
    video = parse(f"https://youtu.be/{YOUTUBE_ID}?si=tracking")

    assert video.url == f"https://www.youtube.com/watch?v={YOUTUBE_ID}"
    assert video.embed_url == f"https://www.youtube-nocookie.com/embed/{YOUTUBE_ID}?rel=0"
    assert video.provider_name == "YouTube"


def test_a_vimeo_video_is_stored_by_its_page_address_and_embedded_without_tracking(parse):
    video = parse("https://vimeo.com/channels/staffpicks/123456")

    assert video.url == "https://vimeo.com/123456"
    assert video.embed_url == "https://player.vimeo.com/video/123456?dnt=1"
    assert video.provider_name == "Vimeo"


@pytest.mark.parametrize("text", [
    f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=42s",
    f"https://youtu.be/{YOUTUBE_ID}",
    "https://player.vimeo.com/video/123456?h=abc",
])
def test_the_canonical_address_reads_back_as_the_same_video(parse, text):
    video = parse(text)

    assert parse(video.url) == video


def test_reading_an_address_never_touches_the_network(parse, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("parse_video_url tried to reach the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)

    assert parse(f"https://www.youtube.com/watch?v={YOUTUBE_ID}").id == YOUTUBE_ID
    assert parse("https://vimeo.com/123456").id == "123456"
    with pytest.raises(ValidationFailed):
        parse(f"https://youtube.com.evil.test/watch?v={YOUTUBE_ID}")


REFUSED = {
    # Local and internal addresses, other schemes
    "loopback ip": f"http://127.0.0.1/watch?v={YOUTUBE_ID}",
    "loopback ip with port": "http://127.0.0.1:8000/video/123456",
    "localhost": f"http://localhost/watch?v={YOUTUBE_ID}",
    "private ip": f"http://10.0.0.5/embed/{YOUTUBE_ID}",
    "ipv6 loopback": f"http://[::1]/watch?v={YOUTUBE_ID}",
    "metadata service": "http://169.254.169.254/latest/meta-data/",
    "file scheme": "file:///etc/passwd",
    "file scheme with youtube host": f"file://www.youtube.com/watch?v={YOUTUBE_ID}",
    "javascript scheme": "javascript:alert(1)",
    "javascript scheme disguised": f"javascript://www.youtube.com/%0Aalert(1)//watch?v={YOUTUBE_ID}",
    "data scheme": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "ftp scheme": f"ftp://www.youtube.com/watch?v={YOUTUBE_ID}",
    "protocol relative": f"//www.youtube.com/watch?v={YOUTUBE_ID}",
    "other site": "https://example.com/video.mp4",
    # Look-alike hosts
    "youtube as subdomain": f"https://youtube.com.evil.test/watch?v={YOUTUBE_ID}",
    "www youtube as subdomain": f"https://www.youtube.com.evil.test/watch?v={YOUTUBE_ID}",
    "hyphenated look-alike": f"https://evil-youtube.com/watch?v={YOUTUBE_ID}",
    "other tld": f"https://youtube.co/watch?v={YOUTUBE_ID}",
    "youtu.be look-alike": f"https://youtu.be.evil.test/{YOUTUBE_ID}",
    "vimeo as subdomain": "https://vimeo.com.evil.test/123456",
    "vimeo look-alike": "https://notvimeo.com/123456",
    "trailing dot host": f"https://www.youtube.com./watch?v={YOUTUBE_ID}",
    "cyrillic o in youtube": f"https://www.y\u043eutube.com/watch?v={YOUTUBE_ID}",
    "cyrillic o without scheme": f"y\u043eutube.com/watch?v={YOUTUBE_ID}",
    "punycode homoglyph": f"https://www.xn--yutube-wqf.com/watch?v={YOUTUBE_ID}",
    "fullwidth dot": f"https://www.youtube\uff0ecom/watch?v={YOUTUBE_ID}",
    # Userinfo tricks
    "youtube as user name": f"https://www.youtube.com@evil.test/watch?v={YOUTUBE_ID}",
    "youtube as user and password": f"https://www.youtube.com:443@evil.test/watch?v={YOUTUBE_ID}",
    "user name on youtube": f"https://attacker@www.youtube.com/watch?v={YOUTUBE_ID}",
    "backslash before at": f"https://www.youtube.com\\@evil.test/watch?v={YOUTUBE_ID}",
    # Ports
    "non-standard port": f"https://www.youtube.com:8443/watch?v={YOUTUBE_ID}",
    "vimeo on a port": "https://vimeo.com:8080/123456",
    "port out of range": f"https://www.youtube.com:99999/watch?v={YOUTUBE_ID}",
    # Ids and paths
    "youtube id too short": "https://www.youtube.com/watch?v=dQw4w9WgXc",
    "youtube id too long": "https://www.youtube.com/watch?v=dQw4w9WgXcQQ",
    "youtube id with a dot": "https://youtu.be/dQw4w9.gXcQ",
    "youtube id with markup": "https://www.youtube.com/watch?v=%3Cscript%3Ea",
    "youtube id with encoded newline": f"https://www.youtube.com/watch?v={YOUTUBE_ID}%0A",
    "youtube id with encoded quote": "https://www.youtube.com/watch?v=dQw4w9WgX%22Q",
    "watch without v": "https://www.youtube.com/watch?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
    "watch with empty v": "https://www.youtube.com/watch?v=",
    "youtube channel page": "https://www.youtube.com/@somechannel",
    "youtube home page": "https://www.youtube.com/",
    "youtu.be without id": "https://youtu.be/",
    "embed with extra segment": f"https://www.youtube.com/embed/{YOUTUBE_ID}/evil",
    "vimeo id not numeric": "https://vimeo.com/abcdef",
    "vimeo id too long": "https://vimeo.com/1234567890123",
    "vimeo home page": "https://vimeo.com/",
    "vimeo player without video": "https://player.vimeo.com/123456",
    # Hidden characters and length
    "space inside": f"https://www.youtube.com/watch?v={YOUTUBE_ID} onmouseover=alert(1)",
    "tab inside host": f"https://www.you\ttube.com/watch?v={YOUTUBE_ID}",
    "newline inside": f"https://www.youtube.com/watch?v=\n{YOUTUBE_ID}",
    "carriage return inside": f"https://youtu.be/\r{YOUTUBE_ID}",
    "nul inside": f"https://www.youtube.com\x00.evil.test/watch?v={YOUTUBE_ID}",
    "escape character inside": f"https://youtu.be/\x1b{YOUTUBE_ID}",
    "over 200 characters": f"https://www.youtube.com/watch?v={YOUTUBE_ID}&" + "x" * 200,
    "empty": "",
    "only spaces": "   ",
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_an_address_that_is_not_a_youtube_or_vimeo_video_is_refused_with_a_message(parse, text):
    with pytest.raises(ValidationFailed) as refused:
        parse(text)

    assert refused.value.message == REFUSAL


def test_an_address_of_exactly_200_characters_is_still_read(parse):
    text = f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t="
    text += "1" * (200 - len(text))

    assert len(text) == 200
    assert parse(text).id == YOUTUBE_ID
    with pytest.raises(ValidationFailed):
        parse(text + "1")
