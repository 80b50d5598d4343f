"""full_collections_later: the collector held back during long work, and always given back."""

from __future__ import annotations

import gc

import pytest

from bot.store.db import full_collections_later


def test_the_collector_is_held_back_inside_and_runs_again_after() -> None:
    assert gc.isenabled()
    with full_collections_later():
        assert not gc.isenabled()
        with full_collections_later():  # nested (the tick, an assessment at once)
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer work still wants it held
    assert gc.isenabled()


def test_the_collector_comes_back_when_the_work_fails() -> None:
    with pytest.raises(RuntimeError), full_collections_later():
        raise RuntimeError("the tick failed")
    assert gc.isenabled()


def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    try:
        with full_collections_later():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
