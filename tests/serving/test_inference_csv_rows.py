"""Where a CSV request's rows and values end: RFC 4180, as the drift engine reads the same captured body."""

from __future__ import annotations

import csv
import io

import pytest

from tests.serving.conftest import SAMPLE_ROW

ROW = ",".join(map(str, SAMPLE_ROW[:-1]))  # every value but internet_service, the last column


def test_a_quoted_line_break_stays_inside_its_value_and_is_not_dropped(invoke) -> None:
    # RFC 4180 section 2.6: a field in double quotes may hold CRLF. "fiber-\r\noptic" is not "fiber-optic":
    # read line by line, the break vanished and the model scored a value the client never sent.
    status, answer = invoke(f'{ROW},"fiber-\r\noptic"', "text/csv")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_category",
        "internet_service",
    )
    assert "'fiber-\\r\\noptic'" in answer["error"]["message"]


@pytest.mark.parametrize("separator", ["\u2028", "\x1c", "\x0b", "\x85"])
def test_only_cr_and_lf_end_a_row(invoke, separator: str) -> None:
    # Python's csv module (newline="") ends a row at \r or \n only; str.splitlines also breaks at these.
    assert list(csv.reader(io.StringIO(f"a{separator}b,c", newline=""))) == [[f"a{separator}b", "c"]]
    values = list(map(str, SAMPLE_ROW))
    values[5] = f"month-to{separator}month"  # contract, a middle column: a row split there is too short
    status, answer = invoke(",".join(values), "text/csv")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_category",
        "contract",
    )


@pytest.mark.parametrize(
    "body", [f"{ROW},dsl\r{ROW},none\r\n{ROW},fiber-optic\n", f"{ROW},dsl\n\n{ROW},none\n"]
)
def test_cr_lf_and_crlf_each_end_a_row_and_blank_rows_are_skipped(invoke, body: str) -> None:
    status, answer = invoke(body, "text/csv")
    assert status == 200
    assert len(answer["predictions"]) == body.count("dsl") + body.count(",none") + body.count("fiber-optic")


@pytest.mark.parametrize("last", ['"fiber-optic', '"fiber"-optic'])
def test_an_unclosed_quote_or_text_after_a_closing_one_is_invalid_csv_not_a_guess(invoke, last: str) -> None:
    # csv docs, Dialect.strict: "When True, raise exception Error on bad CSV input"; capture reads with it too.
    status, answer = invoke(f"{ROW},{last}", "text/csv")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, "invalid_csv", "body")
