"""Generation client overhead over a bare litellm Router call, against an instant fake model.

Both paths send the same rendered tip prompt to the same fake Ollama (a real HTTP server on
loopback that answers at once), interleaved call by call so machine noise hits both alike:

- bare:     litellm.Router.completion(...) built from the same alias file
- chat:     generation.gateway.chat(...)            (alias client: timeout, error mapping, logging)
- generate: generation.tip_generator.generate_tips(...)    (+ breaker in the cache, parsing, validation)

Run (embedded settings; add REDIS_URL=redis://127.0.0.1:6379/4 to put the breaker in Redis):
    DEBUG=1 .venv/bin/python bench/gateway_overhead.py --calls 300
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per path (after warm-up)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    from testsupport.llm.fake_ollama import FakeOllama, Reply, tip, tips_json

    answer = tips_json([tip("do_now", ["101"]), tip("plan", [], title="Plan the week"), tip("wellbeing", [])])
    with FakeOllama(default=Reply.text(answer)) as fake:
        os.environ["OLLAMA_URL"] = fake.url
        os.environ.setdefault("DEBUG", "1")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
        os.environ.pop("LITELLM_URL", None)  # the in-process router, not the proxy
        import django

        django.setup()
        run(args.calls, args.warmup, fake)


def run(calls: int, warmup: int, fake: object) -> None:
    import logging

    import litellm
    from django.conf import settings

    from generation import gateway
    from generation.breaker import gateway_breaker
    from generation.prompting import build_messages, load_template
    from generation.tests.utils import sample_context
    from generation.tip_generator import generate_tips, tips_response_format

    logging.disable(logging.INFO)  # the client logs one line per call; measure the work, not the console
    context = sample_context()
    messages = build_messages(load_template(), context, max_tips=settings.GENERATION_MAX_TIPS)
    response_format = tips_response_format()
    config = gateway.load_config()
    bare_router = litellm.Router(model_list=config["model_list"], num_retries=0, disable_cooldowns=True)
    gateway_breaker().reset()

    paths: dict[str, Callable[[], object]] = {
        "bare": lambda: bare_router.completion(
            model=gateway.TIP_GENERATOR, messages=messages, timeout=5, num_retries=0, response_format=response_format
        ),
        "chat": lambda: gateway.chat(
            alias=gateway.TIP_GENERATOR, messages=messages, timeout_s=5, response_format=response_format
        ),
        "generate": lambda: generate_tips(context=context, timeout_s=5),
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for i in range(warmup + calls):
        # Rotate the order: litellm finishes each call on background threads that slow whatever runs next.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            call = paths[name]
            started = time.perf_counter()
            call()
            if i >= warmup:
                samples[name].append((time.perf_counter() - started) * 1000)

    cache_backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(f"calls per path: {calls} (after {warmup} warm-up), breaker cache: {cache_backend}")
    print(f"{'path':<10}{'median ms':>12}{'p90 ms':>10}{'overhead vs bare (median) ms':>32}")
    bare_median = statistics.median(samples["bare"])
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        overhead = "" if name == "bare" else f"{median - bare_median:+.2f}"
        print(f"{name:<10}{median:>12.2f}{p90:>10.2f}{overhead:>32}")


if __name__ == "__main__":
    main()
