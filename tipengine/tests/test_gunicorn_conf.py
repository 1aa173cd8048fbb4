"""The gunicorn hooks: the arbiter loads the app and litellm once before forking (workers share it), workers freeze
their heap before serving and drain LLM calls on exit; the worker count follows the cores."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_conf(code: str, **env: str) -> list[str]:
    """Run `code` in a fresh interpreter where `conf` is gunicorn.conf.py's namespace; return what it printed."""
    prelude = "import gc, os, runpy, sys; conf = runpy.run_path('gunicorn.conf.py');"
    result = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        env={"DEBUG": "1", "PATH": "", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_arbiter_loads_the_app_and_litellm_before_any_worker_forks():
    code = (
        "assert 'django' not in sys.modules and 'litellm' not in sys.modules;"
        "conf['on_starting'](None);"
        "from generation import gateway; from prometheus_client import values;"
        "assert 'litellm' in sys.modules and gateway._router is not None;"
        "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count();"
        # the metrics directory was there before prometheus_client loaded: values are shared between workers
        "print(values.ValueClass.__name__, os.path.isdir(os.environ['PROMETHEUS_MULTIPROC_DIR']));"
        "conf['on_exit'](None)"
    )
    assert run_conf(code) == ["MmapedValue", "True"]


def test_a_worker_has_the_gateway_warm_and_its_heap_frozen_before_it_serves_and_drains_it_on_exit():
    code = (
        "conf['post_worker_init'](None);"
        "from generation import gateway;"
        "assert 'litellm' in sys.modules and gateway._router is not None;"
        "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count();"
        "conf['worker_exit'](None, None);"
        "print(conf['worker_class'], conf['threads'])"
    )
    assert run_conf(code) == ["gthread", "2"]


def test_one_worker_per_core_within_two_and_eight_unless_gunicorn_workers_says_otherwise():
    cores = len(os.sched_getaffinity(0))
    assert run_conf("print(conf['workers'])") == [str(max(2, min(cores, 8)))]
    assert run_conf("print(conf['workers'])", GUNICORN_WORKERS="5") == ["5"]
