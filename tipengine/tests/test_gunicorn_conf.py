"""The gunicorn hooks: a web worker imports litellm before serving (then freezes its heap), and drains LLM calls."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_warms_the_gateway_before_a_worker_serves_and_drains_it_on_exit():
    code = (
        "import os, runpy, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tipengine.settings');"
        "import django; django.setup();"
        "conf = runpy.run_path('gunicorn.conf.py');"
        "assert 'litellm' not in sys.modules;"
        "conf['post_worker_init'](None);"
        "from generation import gateway;"
        "assert 'litellm' in sys.modules and gateway._router is not None;"
        "import gc; assert gc.get_freeze_count() > 100_000, gc.get_freeze_count();"
        "conf['worker_exit'](None, None);"
        "print(conf['worker_class'], conf['threads'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"DEBUG": "1", "PATH": ""}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["gthread", "2"]
