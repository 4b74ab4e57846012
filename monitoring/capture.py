"""Decoding of SageMaker data-capture JSON Lines (docs/formats.md, "Data capture").

Every way a line can be unusable raises MalformedRecord with a stable `reason`, so the engine can count
it and move on to the next line.
"""

from __future__ import annotations

import binascii
import csv
import io
import json
import re
from base64 import b64decode
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

BAD_JSON = "bad_json"
MISSING_FIELD = "missing_field"
BAD_INFERENCE_TIME = "bad_inference_time"
UNKNOWN_ENCODING = "unknown_encoding"
BAD_BASE64 = "bad_base64"
UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
BAD_CSV = "bad_csv"
BAD_INSTANCES = "bad_instances"
EMPTY_PAYLOAD = "empty_payload"
WRONG_FEATURE_COUNT = "wrong_feature_count"
UNKNOWN_FEATURE = "unknown_feature"
MISSING_FEATURE = "missing_feature"
BAD_VALUE = "bad_value"
BAD_OUTPUT = "bad_output"
ERROR_RESPONSE = "error_response"
ROW_COUNT_MISMATCH = "row_count_mismatch"

MALFORMED_REASONS = (
    BAD_JSON,
    MISSING_FIELD,
    BAD_INFERENCE_TIME,
    UNKNOWN_ENCODING,
    BAD_BASE64,
    UNSUPPORTED_CONTENT_TYPE,
    BAD_CSV,
    BAD_INSTANCES,
    EMPTY_PAYLOAD,
    WRONG_FEATURE_COUNT,
    UNKNOWN_FEATURE,
    MISSING_FEATURE,
    BAD_VALUE,
    BAD_OUTPUT,
    ERROR_RESPONSE,
    ROW_COUNT_MISMATCH,
)

CSV_KIND = "csv"
JSON_KIND = "json"

# The C scanner behind json.loads, called directly: json.loads' own wrapper costs as much as a small parse.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


# The response ends with `"probabilities": [[p0, p1]]}` for one row; the numbers are JSON numbers with a
# fraction, which the JSON decoder turns into floats exactly as float() does. [0-9], not \d: JSON digits are ASCII.
_PROBABILITIES_KEY = '"probabilities": '
_JSON_FRACTION = r"-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?"
_one_row_of_two = re.compile(rf"\[\[({_JSON_FRACTION}), ({_JSON_FRACTION})\]\]\}}").fullmatch
# Distinct response heads remembered; past this the fast path simply stops learning new ones.
MAX_RESPONSE_HEADS = 256
# Distinct content-type strings remembered; real endpoints send a handful, a hostile stream could send millions.
MAX_CONTENT_TYPES = 64
_PROBES = ((0.25, 0.75), (0.125, 0.875))


class MalformedRecord(ValueError):
    """A capture line that cannot be measured; `reason` is one of MALFORMED_REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def parse_json_object(text: str, what: str, reason: str) -> dict[str, Any]:
    """Parse `text` as one JSON object, raising MalformedRecord(reason) otherwise."""
    try:
        if text[:1] == "{":
            document, end = _scan_json(text, 0)
            if end != len(text) and not text[end:].isspace():
                raise ValueError(f"extra data at character {end}")
        else:
            document = json.loads(text)
    except (ValueError, StopIteration, RecursionError) as error:
        raise MalformedRecord(reason, f"{what} is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise MalformedRecord(reason, f"{what}: expected a JSON object, got {type(document).__name__}")
    return document


def time_key(moment: datetime) -> str:
    """The sortable UTC key ("YYYY-MM-DDTHH:MM:SS") that capture times are compared with."""
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def inference_time_key(value: object) -> str:
    """The sortable UTC key of an eventMetadata.inferenceTime value."""
    if not isinstance(value, str):
        raise MalformedRecord(
            BAD_INFERENCE_TIME, f"eventMetadata.inferenceTime: expected a string, got {value!r}"
        )
    # SageMaker writes "2026-11-28T03:15:42Z" (sometimes with fractional seconds): already a sortable UTC key.
    if (
        len(value) >= 20
        and value[-1] == "Z"
        and value[4] == "-"
        and value[7] == "-"
        and value[10] == "T"
        and value[13] == ":"
        and value[16] == ":"
        and (len(value) == 20 or value[19] == ".")
    ):
        return value[:19]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise MalformedRecord(
            BAD_INFERENCE_TIME,
            f"eventMetadata.inferenceTime: "
            f"expected an ISO 8601 UTC time like 2026-11-28T03:15:42Z, got {value!r}",
        )
    return time_key(moment)


def _content_kind(content_type: object) -> str | None:
    if not isinstance(content_type, str):
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "text/csv":
        return CSV_KIND
    if media_type == "application/json" or media_type.endswith("+json"):
        return JSON_KIND
    return None


class CaptureDecoder:
    """Decodes capture lines for a model whose payload columns are `feature_names` (schema order)."""

    def __init__(self, feature_names: Sequence[str], positive_class: int = 1):
        if not feature_names:
            raise ValueError("feature_names: expected at least one feature")
        self.feature_names = tuple(feature_names)
        self.positive_class = positive_class
        self._feature_count = len(self.feature_names)
        self._feature_set = frozenset(self.feature_names)
        # An instance object's values in schema order; KeyError for a missing feature, as instance[name] raises.
        self._values_in_order: Callable[[dict[str, Any]], Any] = (
            itemgetter(*self.feature_names)
            if self._feature_count > 1
            else lambda instance: (instance[self.feature_names[0]],)
        )
        self._kinds: dict[object, str | None] = {}
        self._positive_index: dict[tuple[object, ...], int] = {}
        # Response text up to its last `"probabilities": ` -> position of P(positive) in a row, or -1.
        self._response_heads: dict[str, int] = {}

    def decode_in_window(
        self, line: bytes | str, start_key: str, end_key: str
    ) -> tuple[list[list[Any]], list[Any]] | None:
        """(rows, probabilities) of a line whose inference time key is in [start_key, end_key), else None.

        Handles the common shapes inline; anything else goes through the careful path, which is also the
        one that names what is wrong, so both paths accept and reject exactly the same lines.
        """
        try:
            text = line.decode("utf-8") if isinstance(line, bytes) else line
            if text[:1] != "{":
                return self.decode_carefully(line, start_key, end_key)
            record, end = _scan_json(text, 0)
            if end != len(text) and not text[end:].isspace():
                return self.decode_carefully(line, start_key, end_key)
            moment = record["eventMetadata"]["inferenceTime"]
            # Every third character from index 4 of "2026-11-28T03:15:42Z" is a separator.
            if len(moment) == 20 and moment[4::3] == "--T::Z":
                key = moment[:19]
            else:
                return self.decode_carefully(line, start_key, end_key)
            if key < start_key or key >= end_key:
                return None
            capture = record["captureData"]
            captured_input = capture["endpointInput"]
            data = captured_input["data"]
            encoding = captured_input["encoding"]
            content_type = captured_input["observedContentType"]
            rows = None
            # The commonest requests, one CSV row or one JSON instance, without the general payload handling.
            if data.__class__ is not str:
                pass
            elif content_type == "text/csv":
                if encoding == "CSV" and '"' not in data and "\n" not in data and "\r" not in data:
                    row = data.split(",")
                    if len(row) == self._feature_count:
                        rows = [row]
            elif content_type == "application/json" and (encoding == "JSON" or encoding == "BASE64"):
                if encoding == "BASE64":
                    data = b64decode(data, validate=True).decode("utf-8")
                if data[:1] == "{":
                    document, end = _scan_json(data, 0)
                    instances = document["instances"] if end == len(data) else None
                    if instances.__class__ is list and len(instances) == 1:
                        instance = instances[0]
                        if len(instance) == self._feature_count:
                            if instance.__class__ is list:
                                rows = instances
                            elif instance.__class__ is dict:
                                rows = [list(self._values_in_order(instance))]
            if rows is None:
                rows = self._rows_inline(captured_input)
            captured_output = capture["endpointOutput"]
            probabilities = None
            # The commonest response, one row of two classes: only its head is decoded, once, then remembered.
            if (
                captured_output["encoding"] == "JSON"
                and captured_output["observedContentType"] == "application/json"
            ):
                response = captured_output["data"]
                split = response.rfind(_PROBABILITIES_KEY) + len(_PROBABILITIES_KEY)
                match = _one_row_of_two(response, split)
                if match is not None:
                    head = response[:split]
                    position = self._response_heads.get(head)
                    if position is None:
                        position = self._learn_response_head(head)
                    if position >= 0:
                        probabilities = [float(match[position + 1])]
            if probabilities is None:
                probabilities = self._probabilities_inline(captured_output)
            if rows is None or probabilities is None or len(rows) != len(probabilities):
                return self.decode_carefully(line, start_key, end_key)
            return rows, probabilities
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, StopIteration, RecursionError):
            return self.decode_carefully(line, start_key, end_key)

    def _learn_response_head(self, head: str) -> int:
        """Where the careful path finds P(positive) in `head + "[[p0, p1]]}"`: 0 or 1, or -1 if not like that.

        The careful path must read the probe row back for two disjoint probes: then the row is the
        response's "probabilities", and the rest of the response, which it reads too, does not depend on it.
        """
        if len(self._response_heads) >= MAX_RESPONSE_HEADS:
            return -1
        positions = set()
        for probe in _PROBES:
            response = {
                "observedContentType": "application/json",
                "encoding": "JSON",
                "data": f"{head}[[{probe[0]!r}, {probe[1]!r}]]}}",
            }
            try:
                positives = self.positive_probabilities(response)
            except MalformedRecord:
                positives = []
            found = len(positives) == 1 and positives[0] in probe
            positions.add(probe.index(positives[0]) if found else -1)
        position = positions.pop() if len(positions) == 1 else -1
        self._response_heads[head] = position
        return position

    def _text_inline(self, captured: dict[str, Any]) -> tuple[str | None, str]:
        encoding = captured["encoding"]
        data = captured["data"]
        if data.__class__ is not str:
            return None, ""
        if encoding == "BASE64":
            data = b64decode(data, validate=True).decode("utf-8")
        elif encoding != "CSV" and encoding != "JSON":
            return None, ""
        return self._kind_of(captured["observedContentType"]), data

    def _kind_of(self, content_type: object) -> str | None:
        try:
            return self._kinds[content_type]
        except (KeyError, TypeError):
            kind = _content_kind(content_type)
            if isinstance(content_type, str) and len(self._kinds) < MAX_CONTENT_TYPES:
                self._kinds[content_type] = kind
            return kind

    def _rows_inline(self, captured_input: dict[str, Any]) -> list[list[Any]] | None:
        kind, text = self._text_inline(captured_input)
        count = self._feature_count
        if kind == CSV_KIND:
            if '"' in text or "\n" in text or "\r" in text:
                return None
            row = text.split(",")
            return [row] if len(row) == count else None
        if kind == JSON_KIND:
            if text[:1] != "{":
                return None
            document, end = _scan_json(text, 0)
            if end != len(text) and not text[end:].isspace():
                return None
            instances = document["instances"]
            if instances.__class__ is not list or not instances:
                return None
            names = self.feature_names
            rows = []
            for instance in instances:
                if instance.__class__ is dict and len(instance) == count:
                    rows.append([instance[name] for name in names])
                elif instance.__class__ is list and len(instance) == count:
                    rows.append(instance)
                else:
                    return None
            return rows
        return None

    def _probabilities_inline(self, captured_output: dict[str, Any]) -> list[Any] | None:
        kind, text = self._text_inline(captured_output)
        if kind != JSON_KIND or text[:1] != "{":
            return None
        document, end = _scan_json(text, 0)
        if end != len(text) and not text[end:].isspace():
            return None
        position = self._positive_index.get(tuple(document["classes"]))
        if position is None:
            return None
        width = len(document["classes"])
        positives = []
        for row in document["probabilities"]:
            if row.__class__ is not list or len(row) != width:
                return None
            positives.append(row[position])
        return positives

    def decode_carefully(
        self, line: bytes | str, start_key: str, end_key: str
    ) -> tuple[list[list[Any]], list[Any]] | None:
        """decode_in_window without the inline shortcuts: the reference behaviour, and the error messages."""
        key, captured_input, captured_output = self.envelope(line)
        if key < start_key or key >= end_key:
            return None
        return self.rows_and_probabilities(captured_input, captured_output)

    def envelope(self, line: bytes | str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(inference time key, captureData.endpointInput, captureData.endpointOutput) of one line."""
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise MalformedRecord(BAD_JSON, f"line is not UTF-8 ({error})") from None
        record = parse_json_object(line, "line", BAD_JSON)
        try:
            capture = record["captureData"]
            captured_input = capture["endpointInput"]
            captured_output = capture["endpointOutput"]
            inference_time = record["eventMetadata"]["inferenceTime"]
        except (KeyError, TypeError):
            raise MalformedRecord(
                MISSING_FIELD,
                "expected captureData.endpointInput/endpointOutput and eventMetadata.inferenceTime",
            ) from None
        if not isinstance(captured_input, dict) or not isinstance(captured_output, dict):
            raise MalformedRecord(MISSING_FIELD, "captureData.endpointInput/endpointOutput: expected objects")
        return inference_time_key(inference_time), captured_input, captured_output

    def _payload(self, captured: dict[str, Any], where: str) -> tuple[str, str]:
        data = captured.get("data")
        if not isinstance(data, str):
            raise MalformedRecord(MISSING_FIELD, f"{where}.data: expected a string, got {data!r}")
        encoding = captured.get("encoding")
        if encoding == "CSV" or encoding == "JSON":
            text = data
        elif encoding == "BASE64":
            try:
                text = b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as error:
                raise MalformedRecord(
                    BAD_BASE64, f"{where}.data: invalid base64 UTF-8 payload ({error})"
                ) from None
        else:
            raise MalformedRecord(
                UNKNOWN_ENCODING, f"{where}.encoding: expected CSV, JSON or BASE64, got {encoding!r}"
            )
        content_type = captured.get("observedContentType")
        kind = self._kind_of(content_type)
        if kind is None:
            # Without a recognised content type, a textual encoding still says what the bytes are.
            if encoding == "CSV":
                kind = CSV_KIND
            elif encoding == "JSON":
                kind = JSON_KIND
            else:
                raise MalformedRecord(
                    UNSUPPORTED_CONTENT_TYPE,
                    f"{where}.observedContentType: expected text/csv or JSON, got {content_type!r}",
                )
        return kind, text

    def input_rows(self, captured_input: dict[str, Any]) -> list[list[Any]]:
        """Feature rows of endpointInput, each in schema order."""
        kind, text = self._payload(captured_input, "endpointInput")
        rows = self._csv_rows(text) if kind == CSV_KIND else self._json_rows(text)
        if not rows:
            raise MalformedRecord(EMPTY_PAYLOAD, "endpointInput: no rows")
        return rows

    def _csv_rows(self, text: str) -> list[list[Any]]:
        if '"' in text:
            try:
                rows = [row for row in csv.reader(io.StringIO(text), strict=True) if row]
            except csv.Error as error:
                raise MalformedRecord(BAD_CSV, f"endpointInput: invalid CSV ({error})") from None
        else:
            rows = [line.rstrip("\r").split(",") for line in text.split("\n") if line and not line.isspace()]
        count = self._feature_count
        for number, row in enumerate(rows):
            if len(row) != count:
                raise MalformedRecord(
                    WRONG_FEATURE_COUNT,
                    f"endpointInput row {number}: expected {count} values, got {len(row)}",
                )
        return rows

    def _json_rows(self, text: str) -> list[list[Any]]:
        document = parse_json_object(text, "endpointInput", BAD_INSTANCES)
        instances = document.get("instances")
        if not isinstance(instances, list):
            raise MalformedRecord(BAD_INSTANCES, 'endpointInput: expected {"instances": [...]}')
        count = self._feature_count
        rows = []
        for number, instance in enumerate(instances):
            if isinstance(instance, list):
                if len(instance) != count:
                    raise MalformedRecord(
                        WRONG_FEATURE_COUNT,
                        f"endpointInput instance {number}: expected {count} values, got {len(instance)}",
                    )
                rows.append(instance)
            elif isinstance(instance, dict):
                rows.append(self._row_from_object(instance, number))
            else:
                raise MalformedRecord(
                    BAD_INSTANCES,
                    f"endpointInput instance {number}: expected a list or an object, got {instance!r}",
                )
        return rows

    def _row_from_object(self, instance: dict[str, Any], number: int) -> list[Any]:
        try:
            row = [instance[name] for name in self.feature_names]
        except KeyError as error:
            raise MalformedRecord(
                MISSING_FEATURE, f"endpointInput instance {number}: missing feature {error.args[0]!r}"
            ) from None
        if len(instance) != self._feature_count:
            unknown = sorted(set(instance) - self._feature_set)
            raise MalformedRecord(
                UNKNOWN_FEATURE,
                f"endpointInput instance {number}: unknown features {unknown}; "
                f"expected {list(self.feature_names)}",
            )
        return row

    def rows_and_probabilities(
        self, captured_input: dict[str, Any], captured_output: dict[str, Any]
    ) -> tuple[list[list[Any]], list[Any]]:
        """Feature rows and their P(positive class), checked to pair one to one."""
        rows = self.input_rows(captured_input)
        probabilities = self.positive_probabilities(captured_output)
        if len(rows) != len(probabilities):
            raise MalformedRecord(
                ROW_COUNT_MISMATCH,
                f"endpointInput has {len(rows)} rows but endpointOutput {len(probabilities)}",
            )
        return rows, probabilities

    def positive_probabilities(self, captured_output: dict[str, Any]) -> list[Any]:
        """P(positive class) per row of endpointOutput ({"classes": [...], "probabilities": [[...], ...]})."""
        kind, text = self._payload(captured_output, "endpointOutput")
        if kind != JSON_KIND:
            raise MalformedRecord(BAD_OUTPUT, f"endpointOutput: expected a JSON response, got {kind}")
        document = parse_json_object(text, "endpointOutput", BAD_OUTPUT)
        classes = document.get("classes")
        probabilities = document.get("probabilities")
        if "error" in document and probabilities is None:
            error = document["error"]
            code = error.get("code") if isinstance(error, dict) else error
            raise MalformedRecord(
                ERROR_RESPONSE, f"endpointOutput: the endpoint answered an error ({code!r})"
            )
        if not isinstance(classes, list) or not isinstance(probabilities, list):
            raise MalformedRecord(
                BAD_OUTPUT, 'endpointOutput: expected {"classes": [...], "probabilities": [...]}'
            )
        try:
            class_key = tuple(classes)
            position = self._positive_index.get(class_key)
        except TypeError:
            raise MalformedRecord(
                BAD_OUTPUT, f"endpointOutput.classes: expected labels, got {classes!r}"
            ) from None
        if position is None:
            position = self._find_positive(classes)
            self._positive_index[class_key] = position
        width = len(classes)
        positives = []
        for row in probabilities:
            if not isinstance(row, list) or len(row) != width:
                raise MalformedRecord(
                    BAD_OUTPUT, f"endpointOutput.probabilities: expected rows of {width} numbers, got {row!r}"
                )
            positives.append(row[position])
        return positives

    def _find_positive(self, classes: list[Any]) -> int:
        for position, label in enumerate(classes):
            if label == self.positive_class or label == str(self.positive_class):
                return position
        raise MalformedRecord(
            BAD_OUTPUT,
            f"endpointOutput.classes: expected to contain {self.positive_class!r}, got {classes!r}",
        )
