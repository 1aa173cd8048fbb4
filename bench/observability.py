"""What the request id, the request metrics and the access line cost per request, in one process.

Calls the middleware chain (django-guid's, then RequestMetricsMiddleware) around a view that answers at once,
with the JSON access line written to /dev/null, against the same view called bare; --multiprocess counts into a
PROMETHEUS_MULTIPROC_DIR as gunicorn's workers do (a file write per sample instead of a memory add).

    .venv/bin/python bench/observability.py --requests 20000
    .venv/bin/python bench/observability.py --requests 20000 --multiprocess
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--multiprocess", action="store_true")
    args = parser.parse_args()
    if args.multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_FORMAT", "json")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    sys.path.insert(0, str(ROOT))
    import logging

    import django

    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve
    from django_guid.middleware import guid_middleware

    from tipengine.monitoring import RequestMetricsMiddleware

    for handler in logging.getLogger().handlers:
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  (the benchmark's lifetime)

    def view(request):
        return HttpResponse(b"ok")

    chain = guid_middleware(RequestMetricsMiddleware(view))
    request = RequestFactory().get("/api/v1/tips/history/")
    request.resolver_match = resolve("/api/v1/tips/history/")

    def per_request_us(call) -> float:
        started = time.perf_counter()
        for _ in range(args.requests):
            call(request)
        return (time.perf_counter() - started) / args.requests * 1e6

    bare, observed = [], []
    for _ in range(args.rounds):  # interleaved, so drift in the machine's load hits both alike
        bare.append(per_request_us(view))
        observed.append(per_request_us(chain))
    mode = "multiprocess" if args.multiprocess else "single process"
    print(f"{mode}: bare view {statistics.median(bare):.1f} us, with the chain {statistics.median(observed):.1f} us")
    added = statistics.median(observed) - statistics.median(bare)
    print(f"added per request: {added:.1f} us (median of {args.rounds})")


if __name__ == "__main__":
    main()
