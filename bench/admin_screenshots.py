"""Screenshots of every operators' admin page in a real browser (headless Chromium, JavaScript off), 1,400 px wide.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_admin_bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/admin_screenshots.py [--seed --tips 20000]

Serves the admin from this process on loopback (Django's threaded development server, static files
included) on the database as it is, or seeded first like bench/admin_pages.py with `--seed`. Chromium
runs once per page (`--headless --screenshot`); it cannot send a cookie from its command line, so the
server hands every request the session of a staff user logged in here, and it forbids scripts
(Content-Security-Policy), so what is drawn is the page without JavaScript. PNGs go to bench/out/ (git-ignored),
one per page of bench/admin_pages.py's list. Needs Debian's `chromium` (or `chromium-headless-shell`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_pages import admin_pages, operator_client, seed_admin
from bench.seed import setup_django

OUT = Path(__file__).resolve().parent / "out"
BROWSERS = ("chromium", "chromium-headless-shell")


def as_operator_without_scripts(app: Callable, cookie: str) -> Callable:
    """The WSGI app, every request of which carries `cookie` (the browser is started without one), every answer
    of which forbids scripts: the browser renders the pages as with JavaScript off.

    (Chromium's own switch for that, --blink-settings=scriptEnabled=false, leaves --screenshot without a file.)
    """

    def wrapped(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        environ["HTTP_COOKIE"] = cookie

        def no_scripts(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            return start_response(status, [*headers, ("Content-Security-Policy", "script-src 'none'")], *rest)

        return app(environ, no_scripts)

    return wrapped


def serve(app: Callable) -> tuple[Any, int]:
    """Start Django's threaded development server for `app` on a free loopback port; returns it and the port."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def screenshot(browser: str, url: str, path: Path, *, width: int, height: int) -> None:
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", action="store_true", help="seed first, as bench/admin_pages.py --seed does")
    parser.add_argument("--tips", type=int, default=20_000, help="tip_scores rows to seed (with --seed)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args()
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        parser.error("no chromium on PATH: apt-get install chromium")
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    os.environ.setdefault("TIPS_POLICY", "contextual")  # the seeded world: the contextual policy serves
    setup_django()
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    if args.seed:
        seed_admin(tips=args.tips, users=args.users)
    session = operator_client().cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"
    server, port = serve(StaticFilesHandler(as_operator_without_scripts(get_wsgi_application(), cookie)))
    OUT.mkdir(exist_ok=True)
    try:
        for name, url in admin_pages().items():
            path = OUT / f"admin-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
            screenshot(browser, f"http://127.0.0.1:{port}{url}", path, width=args.width, height=args.height)
            print(f"{name}: {path}")
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
