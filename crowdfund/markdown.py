"""User Markdown to safe HTML: markdown-it-py renders, nh3 keeps only harmless tags.

Images may only come from the campaign's own gallery, referenced as `![alt](gallery:ID)`
(the story editor inserts these); any other image becomes its alt text. Pages and the
editor's preview use this one function, so the preview is exactly what will be shown."""
import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").enable(
    "strikethrough")

ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "srcset", "sizes", "alt", "title", "width", "height", "loading"},
    "th": {"align"}, "td": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc noopener"
GALLERY_REFERENCE = re.compile(r"^gallery:(\d{1,12})$")
STORY_IMAGE_SIZES = "(max-width: 800px) 100vw, 720px"


def _gallery_sources(gallery, image_url) -> dict[str, dict[str, str]]:
    """For each gallery item: the attributes of its <img> in a story."""
    sources = {}
    for item in gallery or ():
        image = item.image
        srcset = ", ".join(f"{image_url(image.file_name(w, 'jpg'))} {w}w" for w in image.width_list)
        middle = image.width_near(800)
        sources[str(item.id)] = {
            "src": image_url(image.file_name(middle, "jpg")), "srcset": srcset, "sizes": STORY_IMAGE_SIZES,
            "width": str(middle), "height": str(max(1, round(image.height * middle / image.width))),
            "loading": "lazy",
        }
    return sources


def _alt_text(token: Token) -> str:
    return "".join(child.content for child in token.children or () if child.type in ("text", "code_inline"))


def _place_images(tokens: list[Token], sources: dict[str, dict[str, str]]) -> None:
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        for index, child in enumerate(token.children):
            if child.type != "image":
                continue
            match = GALLERY_REFERENCE.match(str(child.attrGet("src") or ""))
            attrs = sources.get(match.group(1)) if match else None
            if attrs is None:
                text = Token("text", "", 0)
                text.content = _alt_text(child)
                token.children[index] = text
                continue
            for name, value in attrs.items():
                child.attrSet(name, value)


def render_markdown(text: str | None, gallery=None) -> Markup:
    """HTML for user Markdown; raw HTML is escaped, scripts and unsafe URLs removed.
    `gallery`: the campaign's GalleryImage rows that `![…](gallery:ID)` may show."""
    tokens = _md.parse(text or "")
    # Every heading moves one level down (# -> h2, ## -> h3 …, h6 stays h6): the page
    # title is the only h1, and the story's own heading order is kept.
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    allowed_sources: set[str] = set()
    sources: dict[str, dict[str, str]] = {}
    if gallery:
        from crowdfund.media.storage import image_url

        sources = _gallery_sources(gallery, image_url)
        for attrs in sources.values():
            allowed_sources.add(attrs["src"])
            allowed_sources.add(attrs["srcset"])
    _place_images(tokens, sources)
    html = _md.renderer.render(tokens, _md.options, {})

    def only_gallery_sources(tag, attribute, value):
        if tag == "img" and attribute in ("src", "srcset") and value not in allowed_sources:
            return None
        return value

    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=only_gallery_sources,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
    )
    return Markup(clean)
