"""merged(): a turn's replies as few messages as they can be, losing nothing."""

from __future__ import annotations

import pytest

from bot.model.message import MAX_MERGED, Button, Outbound, merged

A, B = "telegram:1", "telegram:2"
YES = (Button("Yes", "yes"),)


@pytest.mark.parametrize(
    "replies, expected",
    [
        ([], []),
        ([Outbound(A, "one")], [Outbound(A, "one")]),
        ([Outbound(A, "one"), Outbound(A, "two")], [Outbound(A, "one\n\ntwo")]),
        (  # three in a row, the question last with its buttons and location request
            [Outbound(A, "a"), Outbound(A, "b"), Outbound(A, "q?", YES, request_location=True)],
            [Outbound(A, "a\n\nb\n\nq?", YES, request_location=True)],
        ),
        (  # buttons belong under their own question: what follows goes separately
            [Outbound(A, "q?", YES), Outbound(A, "after")],
            [Outbound(A, "q?", YES), Outbound(A, "after")],
        ),
        (  # a location request ends its message too
            [Outbound(A, "where?", request_location=True), Outbound(A, "after")],
            [Outbound(A, "where?", request_location=True), Outbound(A, "after")],
        ),
        (  # someone else (a sharer told of a new arrival) gets their own
            [Outbound(A, "one"), Outbound(B, "for b"), Outbound(A, "two")],
            [Outbound(A, "one"), Outbound(B, "for b"), Outbound(A, "two")],
        ),
        (  # the share message stands alone, to be forwarded as it is
            [Outbound(A, "intro"), Outbound(A, "share", alone=True), Outbound(A, "p.s.")],
            [Outbound(A, "intro"), Outbound(A, "share", alone=True), Outbound(A, "p.s.")],
        ),
        (  # a template goes as the platform approved it
            [Outbound(A, "one"), Outbound(A, "t", template="HX1")],
            [Outbound(A, "one"), Outbound(A, "t", template="HX1")],
        ),
    ],
)
def test_merged(replies: list[Outbound], expected: list[Outbound]) -> None:
    assert merged(replies) == expected


def test_a_merge_never_passes_the_smallest_platform_limit() -> None:
    half = "x" * (MAX_MERGED // 2)
    replies = [Outbound(A, half), Outbound(A, half), Outbound(A, "end")]
    out = merged(replies)
    assert [len(o.text) for o in out] == [MAX_MERGED // 2, MAX_MERGED // 2 + 2 + 3]
    assert "\n\n".join(o.text for o in out) == "\n\n".join(r.text for r in replies)
