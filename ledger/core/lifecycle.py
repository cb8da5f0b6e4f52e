"""Where a project stands, from what the chain shows: the one rule behind the status that the
portal, the API, the workspaces and the reports print.

The owner's signed ProjectAnchor status says draft, published or closed; the records about
the project move it further: a match makes it 已对接, a commitment 执行中, and every
commitment delivered and confirmed in full 已完成. A project never reads as less advanced
than its owner's own anchor says (a county may mark a need completed), and a closed project
stays closed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STAGES", "STAGE_NAMES", "Progress", "stage", "stage_name"]

#: Statuses in lifecycle order; "closed" stands outside the order.
STAGES = ("draft", "published", "matched", "in_progress", "completed")
STAGE_NAMES: dict[str, tuple[str, str]] = {
    "draft": ("草稿", "draft"),
    "published": ("已发布", "published"),
    "matched": ("已对接", "matched"),
    "in_progress": ("执行中", "in progress"),
    "completed": ("已完成", "completed"),
    "closed": ("已关闭", "closed"),
}


@dataclass(frozen=True)
class Progress:
    """What the chain shows about one project."""

    matched: bool = False  # a match with the project is on chain
    commitments: int = 0  # commitments citing it
    fulfilled: int = 0  # of those, delivered in full and confirmed in full by the county


def stage(anchored: str, progress: Progress) -> str:
    """The status a reader sees: the owner's anchored status, moved on by the chain's records."""
    if anchored == "closed" or anchored not in STAGES:
        return anchored
    derived = "published"
    if progress.matched:
        derived = "matched"
    if progress.commitments:
        derived = "in_progress"
        if progress.fulfilled >= progress.commitments:
            derived = "completed"
    return max(anchored, derived, key=STAGES.index) if anchored != "draft" else "draft"


def stage_name(status: str) -> str:
    """The status in both languages, `执行中 in progress`."""
    zh, en = STAGE_NAMES.get(status, (status, status))
    return f"{zh} {en}"
