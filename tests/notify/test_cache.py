"""A worker's per-alert caches stay bounded however many alerts a season brings."""

from __future__ import annotations

from notify._cache import KEEP, forget_beyond


def test_the_oldest_entries_beyond_the_bound_are_forgotten_but_never_the_batchs() -> None:
    cache = {n: str(n) for n in range(KEEP + 10)}
    needed = {0, 3}  # old, but in the batch at hand
    forget_beyond(cache, needed)
    assert len(cache) == KEEP
    assert {0, 3} <= cache.keys()
    assert not {1, 2, 4, 5, 6, 7, 8, 9, 10, 11} & cache.keys()  # the oldest others went
    assert KEEP + 9 in cache


def test_a_cache_within_the_bound_is_left_alone() -> None:
    cache = {n: n for n in range(KEEP)}
    forget_beyond(cache, set())
    assert cache == {n: n for n in range(KEEP)}
