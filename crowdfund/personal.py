"""Pages made of a shared body and a personal shell (issue 17).

Most of a campaign page — story, budget, rewards, updates, the ledger, comments — is the same for
every viewer of a kind (anonymous, signed in, backer of this campaign). It is rendered once per
campaign version for each kind (crowdfund.page_cache.fragment) and reused; what belongs to one person
is rendered around it on every request, in a few queries:

- the shell: base.html (the header with the viewer's name, flash messages), through _shell.html;
- slots: `personal_slot(name, *ids)` in a shared body leaves a marker (<!--slot:name:ids-->) that
  `fill` replaces with that person's part — the follow box, "Report" on each comment, "Request an
  update". Each slot has a filler that does the work for every marker of its kind at once (one
  query for all the comments' "you reported this", not one per comment). Outside a shared render,
  personal_slot returns "" and the template renders the part inline as before;
- the CSRF token: a shared body's forms carry a placeholder that `fill` replaces with the viewer's
  token. A shared render that made a real token anyway (a macro that cannot see the placeholder)
  is used for this request and never stored.

A page template is rendered "shared" by giving it the layout _shared_layout.html instead of
base.html (page templates say `{% extends layout|default("base.html") %}`): its blocks come out
joined by a separator, and the shell puts them back into base.html.
"""
import re
from collections.abc import Callable

from flask import g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from crowdfund import page_cache

SHARED_LAYOUT, SHELL = "_shared_layout.html", "_shell.html"
SPLIT = "<!--crowdfund:block-->"
BLOCKS = ("title", "head", "content", "scripts")
CSRF_PLACEHOLDER = "crowdfund-csrf-token-of-the-viewer"
_SLOT = re.compile(r"<!--slot:([a-z-]+):([0-9,]*)-->")
_SHARED_ENVIRON = "crowdfund.shared_render"
# slot name -> filler: given the ids of every marker of that name on the page, the HTML for each.
FILLERS: dict[str, Callable[[list[tuple[int, ...]]], list[str]]] = {}


def filler(name: str):
    def register(function):
        FILLERS[name] = function
        return function
    return register


def register(app) -> None:
    app.jinja_env.globals.update(personal_slot=personal_slot, shared_render=shared_render)


def shared_render() -> bool:
    """True while a body shared by many viewers is being rendered."""
    return bool(request.environ.get(_SHARED_ENVIRON))


def personal_slot(name: str, *ids) -> Markup | str:
    """In a shared render for signed-in viewers, the marker of one personal part (filled per viewer);
    else "" — the template then renders the part itself (`{{ personal_slot("x", id) or part() }}`):
    for anonymous visitors it is the same for all of them, so their body has no slot to fill."""
    if not shared_render() or not current_user.is_authenticated:
        return ""
    return Markup(f"<!--slot:{name}:{','.join(str(int(i)) for i in ids)}-->")


def render_shared(template_name: str, **context) -> tuple[str, bool]:
    """The page template rendered for everyone of a kind: (its blocks joined by SPLIT, whether it may
    be stored — False when something in it made a real CSRF token)."""
    had_token = "csrf_token" in g
    request.environ[_SHARED_ENVIRON] = True
    try:
        html = render_template(template_name, layout=SHARED_LAYOUT, csrf_token=lambda: CSRF_PLACEHOLDER, **context)
    finally:
        request.environ.pop(_SHARED_ENVIRON, None)
    return html, had_token or "csrf_token" not in g


def fill(html: str) -> Markup:
    """A shared body made personal: every slot filled for this viewer, the CSRF placeholder replaced
    by the viewer's token (made only when a form needs one)."""
    wanted: dict[str, list[tuple[int, ...]]] = {}
    for name, ids in _SLOT.findall(html):
        wanted.setdefault(name, []).append(tuple(int(i) for i in ids.split(",") if i))
    made = {}
    for name, id_lists in wanted.items():
        unique = list(dict.fromkeys(id_lists))
        made.update({(name, ids): part for ids, part in zip(unique, FILLERS[name](unique))})
    if made:
        html = _SLOT.sub(lambda m: str(made[(m[1], tuple(int(i) for i in m[2].split(",") if i))]), html)
    if CSRF_PLACEHOLDER in html:
        html = html.replace(CSRF_PLACEHOLDER, generate_csrf())
    return Markup(html)


def shared_page(fragment_name: str | None, versions: tuple[str, ...], template_name: str,
                make_context: Callable[[], dict], **shell_context):
    """The response: template_name's blocks rendered shared — stored as fragment_name until one of
    versions changes (None: rendered for this request only, e.g. for the campaign's founder) — made
    personal and put into base.html. make_context() gathers the template's data; it is called only
    when the body has to be rendered."""
    def render():
        return render_shared(template_name, **make_context())

    if fragment_name is None:
        html, _storable = render()
    else:
        html = page_cache.fragment(fragment_name, versions, render)
    parts = dict(zip(BLOCKS, html.split(SPLIT)))
    shared = {name: Markup(parts.get(name, "")) for name in BLOCKS}
    shared["content"] = fill(parts.get("content", ""))
    return render_template(SHELL, shared=shared, **shell_context)
