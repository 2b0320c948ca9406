"""Video links: a YouTube or Vimeo page address becomes an embed on a privacy-respecting
host. Only the address is read; the server never fetches it. Anything else is refused."""
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from flask_babel import gettext as _

from crowdfund.errors import ValidationFailed

YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                 "youtube-nocookie.com", "www.youtube-nocookie.com"}
YOUTU_BE_HOSTS = {"youtu.be", "www.youtu.be"}
VIMEO_HOSTS = {"vimeo.com", "www.vimeo.com", "player.vimeo.com"}
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
VIMEO_ID = re.compile(r"^[0-9]{1,12}$")
# Origins the campaign page may frame (the Content-Security-Policy's frame-src).
EMBED_ORIGINS = ("https://www.youtube-nocookie.com", "https://player.vimeo.com")
MAX_URL_LENGTH = 200


@dataclass(frozen=True)
class Video:
    provider: str  # "youtube" or "vimeo"
    id: str

    @property
    def url(self) -> str:
        """The canonical page address, which is what is stored."""
        if self.provider == "youtube":
            return f"https://www.youtube.com/watch?v={self.id}"
        return f"https://vimeo.com/{self.id}"

    @property
    def embed_url(self) -> str:
        if self.provider == "youtube":
            return f"https://www.youtube-nocookie.com/embed/{self.id}?rel=0"
        return f"https://player.vimeo.com/video/{self.id}?dnt=1"

    @property
    def provider_name(self) -> str:
        return {"youtube": "YouTube", "vimeo": "Vimeo"}[self.provider]


def _refuse():
    return ValidationFailed(_(
        "Paste the address of a YouTube or Vimeo video, like https://www.youtube.com/watch?v=… "
        "or https://vimeo.com/…; other sites cannot be embedded."))


def parse_video_url(text: str) -> Video:
    """The Video a YouTube or Vimeo address points at; ValidationFailed for anything else."""
    text = (text or "").strip()
    if not text or len(text) > MAX_URL_LENGTH or any(ord(c) < 33 for c in text):
        raise _refuse()
    if "://" not in text and not text.startswith("//"):
        text = "https://" + text  # "youtu.be/abc" typed without a scheme
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _refuse() from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password or port not in (None, 80, 443):
        raise _refuse()
    segments = [s for s in parts.path.split("/") if s]
    video_id = None
    if host in YOUTUBE_HOSTS:
        if parts.path in ("/watch", "/watch/"):
            video_id = (parse_qs(parts.query).get("v") or [""])[0]
        elif len(segments) == 2 and segments[0] in ("embed", "shorts", "live", "v"):
            video_id = segments[1]
        if video_id and YOUTUBE_ID.fullmatch(video_id):
            return Video("youtube", video_id)
    elif host in YOUTU_BE_HOSTS:
        if len(segments) == 1 and YOUTUBE_ID.fullmatch(segments[0]):
            return Video("youtube", segments[0])
    elif host in VIMEO_HOSTS:
        if host == "player.vimeo.com":
            video_id = segments[1] if len(segments) == 2 and segments[0] == "video" else None
        elif segments:
            # vimeo.com/123, vimeo.com/channels/staffpicks/123, vimeo.com/123/abcdef (unlisted hash)
            numeric = [s for s in segments if VIMEO_ID.fullmatch(s)]
            video_id = numeric[0] if numeric else None
        if video_id and VIMEO_ID.fullmatch(video_id):
            return Video("vimeo", video_id)
    raise _refuse()
