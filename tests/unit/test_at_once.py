"""Starting several things at once: results in order, every failure named."""

from __future__ import annotations

import threading

import pytest

from harness.errors import SeveralFailed
from harness.fleet import at_once


def test_results_come_in_order_and_the_calls_overlap() -> None:
    barrier = threading.Barrier(3, timeout=5)  # only passes when all three run at the same time

    def call(value: int) -> int:
        barrier.wait()
        return value

    assert at_once([lambda: call(1), lambda: call(2), lambda: call(3)]) == [1, 2, 3]


def test_one_failure_is_raised_as_it_is_after_the_others_finish() -> None:
    finished: list[str] = []

    def ok() -> None:
        finished.append("ok")

    def bad() -> None:
        raise ValueError("no such image")

    with pytest.raises(ValueError, match="no such image"):
        at_once([bad, ok], ["web", "db"])
    assert finished == ["ok"], "the other call still ran to its end"


def test_several_failures_are_named_each() -> None:
    def fails(message: str) -> None:
        raise RuntimeError(message)

    with pytest.raises(SeveralFailed) as caught:
        at_once([lambda: fails("port taken"), lambda: None, lambda: fails("sshd died")], ["web", "db", "cache"])
    assert str(caught.value) == ("2 of 3 failed:\n  web: RuntimeError: port taken\n  cache: RuntimeError: sshd died")
    assert [name for name, _ in caught.value.failures] == ["web", "cache"]
