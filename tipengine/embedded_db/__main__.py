"""`python -m tipengine.embedded_db stop`: stop the embedded PostgreSQL of var/postgres (or EMBEDDED_PGDATA)."""

import os
import sys
from pathlib import Path

from tipengine.embedded_db.base import embedded_server_stop


def main(argv: list[str]) -> int:
    if argv != ["stop"]:
        print("usage: python -m tipengine.embedded_db stop", file=sys.stderr)
        return 2
    pgdata = Path(os.environ.get("EMBEDDED_PGDATA") or Path(__file__).resolve().parents[2] / "var" / "postgres")
    print(f"stopped the embedded PostgreSQL of {pgdata}" if embedded_server_stop(pgdata) else "none was running")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
