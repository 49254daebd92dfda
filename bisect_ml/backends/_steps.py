"""The batches of the step-by-step check, the same in both frameworks."""

from __future__ import annotations

__all__ = ["batch_ranges"]


def batch_ranges(
    rows: int, size: int, steps: int, *, drop_last: bool = False
) -> list[tuple[int, int]]:
    """The first ``steps`` (start, stop) row ranges of unshuffled epochs.

    The training rows cut at ``size`` in their own order, epoch after epoch,
    as both frameworks cut them with ``train.shuffle = "off"``; the last
    partial batch is kept unless ``drop_last``.

    >>> batch_ranges(10, 4, 5)
    [(0, 4), (4, 8), (8, 10), (0, 4), (4, 8)]
    >>> batch_ranges(10, 4, 3, drop_last=True)
    [(0, 4), (4, 8), (0, 4)]
    """
    epoch = [
        (start, min(start + size, rows))
        for start in range(0, rows, size)
        if not (drop_last and start + size > rows)
    ]
    return [epoch[i % len(epoch)] for i in range(steps)] if epoch else []
