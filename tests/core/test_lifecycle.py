"""The one status rule: the chain's records move a project on, never back."""

from __future__ import annotations

import pytest

from ledger.core.lifecycle import Progress, stage, stage_name


@pytest.mark.parametrize(
    ("anchored", "progress", "expected"),
    [
        ("published", Progress(), "published"),
        ("published", Progress(matched=True), "matched"),
        ("published", Progress(matched=True, commitments=2, fulfilled=1), "in_progress"),
        ("published", Progress(commitments=1), "in_progress"),
        ("published", Progress(matched=True, commitments=2, fulfilled=2), "completed"),
        ("completed", Progress(), "completed"),
        ("in_progress", Progress(matched=True), "in_progress"),
        ("closed", Progress(commitments=3, fulfilled=3), "closed"),
        ("draft", Progress(), "draft"),
    ],
)
def test_stage(anchored: str, progress: Progress, expected: str) -> None:
    assert stage(anchored, progress) == expected


def test_stage_names_are_bilingual() -> None:
    assert stage_name("in_progress") == "执行中 in progress"
