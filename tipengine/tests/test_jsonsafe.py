"""JSON columns in PostgreSQL take what hostile JSON holds once it is made storable."""

import json

import pytest
from django.db import DataError, connection, transaction

from tipengine.jsonsafe import json_storable

HOSTILE = json.loads('{"a\\u0000": ["x\\u0000y", "\\ud800", {"k": "\\udfff\\ud83d\\ude00"}], "n": 1, "t": true}')


def test_it_replaces_nul_and_lone_surrogates_and_keeps_the_rest():
    assert json_storable(HOSTILE) == {"a\ufffd": ["x\ufffdy", "\ufffd", {"k": "\ufffd\U0001f600"}], "n": 1, "t": True}


@pytest.mark.django_db
def test_postgresql_refuses_the_raw_value_and_stores_the_storable_one():
    # json.dumps escapes (\\u0000, \\ud800) as PostgreSQL would receive them from a client.
    with connection.cursor() as cursor:
        with pytest.raises(DataError), transaction.atomic():
            cursor.execute("SELECT %s::jsonb", [json.dumps(HOSTILE)])
        cursor.execute("SELECT %s::jsonb", [json.dumps(json_storable(HOSTILE))])
        assert json.loads(cursor.fetchone()[0]) == json_storable(HOSTILE)
