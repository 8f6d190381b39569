"""The Redis cache backend keeps one client per connection pool and behaves as Django's."""

from __future__ import annotations

import os
import uuid

import pytest

from dcvaas.cache import RedisCache

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs a Redis server; CI sets REDIS_URL and runs this"
)


@pytest.fixture
def redis_cache() -> RedisCache:
    return RedisCache(REDIS_URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})


def test_every_call_shares_one_client(redis_cache: RedisCache) -> None:
    client = redis_cache._cache.get_client()

    assert redis_cache._cache.get_client() is client
    assert redis_cache._cache.get_client(write=True) is client


def test_it_stores_counts_and_forgets_like_djangos_backend(redis_cache: RedisCache) -> None:
    assert redis_cache.add("hits", 0, timeout=10)
    assert not redis_cache.add("hits", 5, timeout=10)
    assert redis_cache.incr("hits") == 1
    redis_cache.set("payload", {"a": [1, 2]}, timeout=10)

    assert redis_cache.get_many(["hits", "payload"]) == {"hits": 1, "payload": {"a": [1, 2]}}
    assert redis_cache.delete("hits")
    assert redis_cache.get("hits") is None
