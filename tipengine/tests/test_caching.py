"""Prefetching a request's cache reads, and forgetting cached rows on writes."""

from django.core.cache import cache
from django.test import TestCase

from tipengine.caching import cache_forget, cache_get, cache_get_many, cache_prefetch


class CachePrefetchTests(TestCase):
    def test_it_answers_prefetched_keys_from_one_read(self):
        cache.set_many({"a": 1, "b": 2})
        with cache_prefetch(["a", "b", "missing"]):
            cache.set_many({"a": 10, "b": 20, "missing": 30})  # changes after the read are not seen
            self.assertEqual((cache_get("a"), cache_get("missing")), (1, None))
            self.assertEqual(cache_get_many(["b", "missing"]), {"b": 2})
        self.assertEqual((cache_get("a"), cache_get("missing")), (10, 30))

    def test_it_reads_keys_it_did_not_prefetch_from_the_cache(self):
        cache.set_many({"a": 1, "other": 5})
        with cache_prefetch(["a"]):
            self.assertEqual(cache_get("other"), 5)
            self.assertEqual(cache_get_many(["a", "other"]), {"a": 1, "other": 5})

    def test_it_forgets_at_once_inside_a_transaction(self):
        cache.set("row", "old")
        cache_forget(["row"])  # TestCase holds a transaction open: the delete cannot wait for the commit
        self.assertIsNone(cache.get("row"))
