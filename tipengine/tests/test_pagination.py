"""History cursors are signed: the links we issue are followed both ways, a cursor made up by a client answers 404."""

from base64 import b64encode
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from recommender.tests.feedback_support import serve

pytestmark = pytest.mark.django_db

HISTORY = "/api/v1/tips/history/"


def forged(querystring: str) -> str:
    """A cursor as DRF encodes one (base64 of o=offset&r=reverse&p=position), without our signature."""
    return b64encode(querystring.encode()).decode()


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def assert_not_found(response) -> None:
    assert response.status_code == 404, response.content[:300]
    assert response.json()["error"]["code"] == "not_found"


@pytest.fixture
def tips(alice):
    return [tip for _ in range(3) for tip in serve(alice)]


def test_a_well_formed_cursor_we_never_issued_answers_404(api, alice, tips):
    newest_first = sorted(tip.pk for tip in tips)[::-1]
    for querystring in (
        f"p={newest_first[1]}",  # a real id of hers: DRF would serve the page after it
        f"o=1&p={newest_first[0]}",
        f"r=1&p={newest_first[-1]}",
        "o=5",
        "p=9223372036854775807",
    ):
        assert_not_found(api(alice).get(HISTORY, {"cursor": forged(querystring)}))


def test_an_issued_cursor_changed_or_signed_with_another_key_answers_404(api, alice, tips):
    issued = cursor_of(api(alice).get(HISTORY, {"page_size": 2}).json()["next"])
    payload, signature = issued.rsplit(":", 1)
    assert_not_found(api(alice).get(HISTORY, {"cursor": f"{forged('p=1')}:{signature}"}))
    with override_settings(SECRET_KEY="another-key-" + "x" * 40):
        assert_not_found(api(alice).get(HISTORY, {"cursor": issued}))
    assert api(alice).get(HISTORY, {"cursor": f"{payload}:{signature}"}).status_code == 200


def test_the_links_it_issues_page_forward_and_back(api, alice, tips):
    client = api(alice)
    pages, link = [], f"{HISTORY}?page_size=2"
    while link:
        page = client.get(link).json()
        pages.append([row["id"] for row in page["results"]])
        link, previous = page["next"], page["previous"]
    assert [pk for page in pages for pk in page] == sorted((tip.pk for tip in tips), reverse=True)
    assert [row["id"] for row in client.get(previous).json()["results"]] == pages[-2]
