"""Shared setup for the serving tests: a user reading the sample tasks, and a fresh LLM pool."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from generation.candidates import TipCandidate
from generation.models import CandidatePool, candidate_to_dict
from integrations.services.tokens import integration_connect_sample, integration_connect_token
from integrations.tests.support import fast_todoist_settings
from recommender.cache_keys import GLOBAL_ARMS_KEY, serving_state_forget
from recommender.models import ArmStat
from recommender.pipeline import shutdown_llm_executor
from recommender.tests.factories import llm_tip
from testsupport.todoist.fake_todoist import FakeTodoist

MODEL = "ollama_chat/qwen2.5:7b"


def connect_sample(user: User) -> None:
    """The user's tasks are the bundled sample set (ids sample-01 .. sample-14)."""
    integration_connect_sample(user=user)


def store_pool(user: User, candidates: list[TipCandidate], *, fresh: bool = True) -> None:
    """Store `candidates` as the user's generated pool, as generation would have."""
    now = timezone.now()
    CandidatePool.objects.update_or_create(
        user=user,
        defaults={
            "candidates": [candidate_to_dict(c) for c in candidates],
            "llm_model": MODEL,
            "prompt_version": "tips-v1",
            "context_fingerprint": "test",
            "generated_at": now,
            "expires_at": now + timedelta(hours=1 if fresh else -1),
        },
    )


def sample_pool(size: int = 3) -> list[TipCandidate]:
    """LLM candidates about sample tasks (and one without a task), `size` of them."""
    kinds = ["do_now", "break_down", "batch", "plan", "reschedule", "wellbeing"]
    out = [llm_tip("wellbeing", (), title="Take a walk before lunch")]
    for i in range(size - 1):
        out.append(llm_tip(kinds[i % len(kinds)], (f"sample-{(i % 14) + 1:02d}",), title=f"LLM tip {i}"))
    return out


def set_arm(arm: str, count: int, reward_sum: float, user: User | None = None) -> None:
    """Set one arm's statistics directly, and forget their cached copy as arm_stats_add does."""
    ArmStat.objects.update_or_create(user=user, arm=arm, defaults={"count": count, "reward_sum": reward_sum})
    if user is None:
        cache.delete(GLOBAL_ARMS_KEY)
    else:
        serving_state_forget(user_id=user.pk)


class ConnectedWithoutPoolMixin:
    """Alice reads her tasks from the fake Todoist (`self.todoist`, account `todoist_token`) and has no LLM pool,
    so each serve takes the request-time LLM path. For TransactionTestCase: that call runs on a worker thread.
    """

    todoist_token = "tok-no-pool"
    todoist: FakeTodoist

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.todoist = FakeTodoist().start()
        cls.addClassCleanup(cls.todoist.stop)
        cls.enterClassContext(override_settings(**fast_todoist_settings(cls.todoist)))
        cls.todoist.add_account(cls.todoist_token)

    def setUp(self) -> None:
        super().setUp()
        integration_connect_token(user=self.alice, token=self.todoist_token)
        # Connecting generated a pool at once (pools follow the task source): these tests start without one.
        CandidatePool.objects.filter(user=self.alice).delete()

    def tearDown(self) -> None:
        shutdown_llm_executor(wait=True)  # late LLM calls and the refreshes they queue finish here
        super().tearDown()
