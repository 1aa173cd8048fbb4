"""`make run`'s demo user: the curl line it prints works as pasted, at the address the server listens on."""

import shlex
import subprocess
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.test import TestCase


def printed_curl(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    (line,) = [line for line in out.getvalue().splitlines() if line.startswith("Try: ")]
    return line.removeprefix("Try: ")


class SeedDemoTests(TestCase):
    def test_the_curl_line_quotes_its_url_so_zsh_takes_the_question_mark_literally(self):
        line = printed_curl("--base-url", "http://0.0.0.0:8123")
        self.assertTrue(line.endswith(' "http://0.0.0.0:8123/api/v1/tips/?limit=3"'), line)
        curl, header, token_line, url = shlex.split(line)  # as a POSIX shell (bash, zsh) reads it
        self.assertEqual((curl, header, url), ("curl", "-H", "http://0.0.0.0:8123/api/v1/tips/?limit=3"))
        self.assertRegex(token_line, r"^Authorization: Token [0-9a-f]{40}$")

    def test_make_run_serves_and_prints_the_address_in_run_addr(self):
        for run_addr, url in (("0.0.0.0:9000", "http://0.0.0.0:9000"), ("9000", "http://127.0.0.1:9000")):
            plan = subprocess.run(
                ["make", "-n", "run", f"RUN_ADDR={run_addr}"],
                cwd=settings.BASE_DIR,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            self.assertIn(f"seed_demo --base-url {url}\n", plan)
            self.assertIn(f"runserver {run_addr}\n", plan)
