"""Comments read oldest first with one level of replies; the founder's comments are marked; the
text is shown as typed (line breaks kept, nothing in it becomes HTML); bad input is refused with
the text kept."""
import re

import pytest

from .helpers import comments_in_db, read_comments


def test_the_founders_reply_is_marked_and_shown_under_the_comment(client, login, founder_client, live, backer):
    login(backer).post(f"/c/{live.slug}/comments", data={"body": "When will the oven arrive?"})
    question = comments_in_db()[0]

    response = founder_client.post(f"/c/{live.slug}/comments",
                                   data={"body": "In March, we hope.", "parent_id": str(question.id)})

    assert response.status_code == 303
    answer = comments_in_db()[1]
    assert response.headers["Location"] == f"/c/{live.slug}#comment-{answer.id}"
    shown, _tags = read_comments(client.get(f"/c/{live.slug}").get_data(as_text=True))
    assert shown[question.id].body == "When will the oven arrive?"
    assert not shown[question.id].founder_badge
    assert "Bea Backer" in shown[question.id].text
    assert shown[answer.id].body == "In March, we hope."
    assert shown[answer.id].founder_badge and "Founder" in shown[answer.id].text
    assert shown[answer.id].in_replies_of == question.id


def test_the_founders_own_comment_is_marked_too(client, founder_client, live):
    founder_client.post(f"/c/{live.slug}/comments", data={"body": "Thank you all!"})

    shown, _tags = read_comments(client.get(f"/c/{live.slug}").get_data(as_text=True))

    assert [c.founder_badge for c in shown.values()] == [True]


def test_comments_are_oldest_first_and_a_reply_to_a_reply_joins_the_thread(
        client, login, founder_client, live, backer, make_user, make_pledge):
    other = make_user(display_name="Otto Other")
    make_pledge(live, backer=other, state="collected")
    backer_client, other_client = login(backer), login(other)
    backer_client.post(f"/c/{live.slug}/comments", data={"body": "First"})
    other_client.post(f"/c/{live.slug}/comments", data={"body": "Second"})
    first, second = comments_in_db()
    founder_client.post(f"/c/{live.slug}/comments", data={"body": "Reply to first", "parent_id": str(first.id)})
    reply = comments_in_db()[-1]
    other_client.post(f"/c/{live.slug}/comments", data={"body": "Reply to the reply", "parent_id": str(reply.id)})

    shown, _tags = read_comments(client.get(f"/c/{live.slug}").get_data(as_text=True))

    assert [(c.body, c.in_replies_of) for c in shown.values()] == [
        ("First", None), ("Reply to first", first.id), ("Reply to the reply", first.id), ("Second", None)]
    assert comments_in_db()[-1].parent_id == first.id


def test_a_reply_to_a_comment_of_another_place_is_refused(login, live, backer, make_update, add_comment):
    update = make_update(live)
    on_update = add_comment(live, backer, "On the update", update=update)

    response = login(backer).post(f"/c/{live.slug}/comments", data={"body": "Hi", "parent_id": str(on_update.id)})

    assert response.status_code == 422
    assert "The comment you replied to is not here any more." in response.get_data(as_text=True)
    assert len(comments_in_db()) == 1


XSS = ('<script>alert(1)</script><img src=x onerror=alert(2)> <a href="javascript:alert(3)">x</a> '
       '"><svg onload=alert(4)> [y](javascript:alert(5))')


def test_html_in_a_comment_is_shown_as_text_and_does_nothing(client, login, live, backer):
    login(backer).post(f"/c/{live.slug}/comments", data={"body": XSS})

    page = client.get(f"/c/{live.slug}").get_data(as_text=True)
    shown, tags = read_comments(page)

    assert [c.body for c in shown.values()] == [XSS]  # the reader sees exactly what was typed
    assert {tag for tag, _attrs in tags}.isdisjoint({"script", "img", "svg", "iframe"})
    assert not [a for _tag, attrs in tags for a in attrs if a.startswith("on")]
    assert not [v for _tag, attrs in tags for v in attrs.values() if v and "javascript:" in v]
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_line_breaks_are_kept(client, login, live, backer):
    login(backer).post(f"/c/{live.slug}/comments", data={"body": "Line one\r\nLine two\r\n\r\nNew paragraph"})

    shown, _tags = read_comments(client.get(f"/c/{live.slug}").get_data(as_text=True))

    assert [c.body for c in shown.values()] == ["Line one\nLine two\n\nNew paragraph"]
    assert comments_in_db()[0].body == "Line one\nLine two\n\nNew paragraph"


@pytest.mark.parametrize("body, message", [
    ("", "Write something first."),
    ("   \n  ", "Write something first."),
    ("x" * 5001, "A comment can be at most 5000 characters."),
])
def test_a_bad_comment_is_refused_with_422_and_the_text_kept(body, message, login, live, backer):
    response = login(backer).post(f"/c/{live.slug}/comments", data={"body": body})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    textarea = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea is not None and textarea.group(1).strip() == body.strip()
    assert comments_in_db() == []


def test_a_long_reply_on_an_update_is_refused_and_kept_with_its_thread(login, live, backer, make_update,
                                                                     add_comment):
    update = make_update(live)
    parent = add_comment(live, backer, "Parent comment", update=update)
    body = "y" * 5001

    response = login(backer).post(f"/c/{live.slug}/updates/{update.id}/comments",
                                  data={"body": body, "parent_id": str(parent.id)})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body in page and "Parent comment" in page
    assert f'name="parent_id" type="hidden" value="{parent.id}"' in page
    assert len(comments_in_db()) == 1


def test_exactly_5000_characters_is_accepted(login, live, backer):
    assert login(backer).post(f"/c/{live.slug}/comments", data={"body": "z" * 5000}).status_code == 303
    assert len(comments_in_db()[0].body) == 5000
