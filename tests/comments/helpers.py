"""Reading comments back from a page the way a reader sees them, with the standard HTML parser."""
from dataclasses import dataclass
from html.parser import HTMLParser

from crowdfund.comments.models import Comment
from crowdfund.extensions import db

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class ShownComment:
    id: int
    text: str = ""
    body: str = ""
    founder_badge: bool = False
    hidden_badge: bool = False
    in_replies_of: int | None = None  # the thread head this reply is shown under


@dataclass
class _Open:
    tag: str
    classes: set
    comment: ShownComment | None = None
    body: bool = False


class _CommentsParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[_Open] = []
        self.comments: dict[int, ShownComment] = {}
        self.tags: list[tuple[str, dict]] = []  # every start tag inside #comments
        self.in_section = 0
        self.thread_head: int | None = None
        self.in_replies = 0

    def _current(self) -> ShownComment | None:
        for item in reversed(self.stack):
            if item.comment is not None:
                return item.comment
        return None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        if attrs.get("id") == "comments":
            self.in_section += 1
        if self.in_section:
            self.tags.append((tag, attrs))
        opened = _Open(tag, classes)
        element_id = attrs.get("id") or ""
        if "comment" in classes and element_id.startswith("comment-"):
            shown = ShownComment(int(element_id.removeprefix("comment-")))
            if self.in_replies:
                shown.in_replies_of = self.thread_head
            else:
                self.thread_head = shown.id
            self.comments[shown.id] = shown
            opened.comment = shown
        current = self._current()
        if current is not None:
            current.founder_badge |= "badge-founder" in classes
            current.hidden_badge |= "badge-hidden" in classes
        if "comment-replies" in classes:
            self.in_replies += 1
        opened.body = "comment-body" in classes
        if tag not in VOID:
            self.stack.append(opened)

    def handle_endtag(self, tag):
        while self.stack:
            item = self.stack.pop()
            if "comment-replies" in item.classes:
                self.in_replies -= 1
            if item.tag == tag:
                break

    def handle_data(self, data):
        current = self._current()
        if current is not None:
            current.text += data
            if any(item.body for item in self.stack):
                current.body += data


def read_comments(html: str) -> tuple[dict[int, ShownComment], list[tuple[str, dict]]]:
    """{comment id: what is shown of it} and the start tags inside the comments section."""
    parser = _CommentsParser()
    parser.feed(html)
    return parser.comments, parser.tags


def has_comment_section(html: str) -> bool:
    return 'id="comments"' in html


def comments_in_db() -> list[Comment]:
    db.session.expire_all()
    return list(db.session.execute(db.select(Comment).order_by(Comment.id)).scalars())
