"""Which statement of the SQL editor's buffer runs: semicolons and blank lines end statements,
outside strings and comments."""

from __future__ import annotations

import pytest

from tui.sql_text import statement_at, statement_spans

BUFFER = """SELECT 'a;b' AS s, "x;y" FROM t; -- one; not two
SELECT 2
FROM u

/* a block; comment

with a blank line */
-- only comments here

WITH q AS (SELECT 3)
SELECT * FROM q;"""


def test_spans_split_at_semicolons_and_blank_lines_only_outside_quotes_and_comments() -> None:
    got = [BUFFER[a:b] for a, b in statement_spans(BUFFER)]
    assert got == [
        "SELECT 'a;b' AS s, \"x;y\" FROM t;",
        "-- one; not two\nSELECT 2\nFROM u",
        # the block comment with its blank line and the comment line are no statement
        "WITH q AS (SELECT 3)\nSELECT * FROM q;",
    ]


@pytest.mark.parametrize(
    ("offset_of", "expected"),
    [
        ("'a;b'", "SELECT 'a;b'"),        # inside the first statement
        (" -- one", "SELECT 'a;b'"),       # just after its semicolon: still it
        ("FROM u", "-- one; not two\nSELECT 2"),
        ("-- only", "-- one; not two\nSELECT 2"),  # between statements: the one before
        ("SELECT * FROM q", "WITH q"),
    ],
)
def test_statement_at_the_cursor(offset_of: str, expected: str) -> None:
    assert statement_at(BUFFER, BUFFER.index(offset_of)).startswith(expected)


def test_empty_and_comment_only_buffers_hold_no_statement() -> None:
    assert statement_at("", 0) == ""
    assert statement_at("-- nothing\n/* here */\n", 3) == ""
    assert statement_at("\n\nSELECT 1", 0) == "SELECT 1"  # before the first: the first
