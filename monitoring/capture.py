"""Decoding of SageMaker data-capture JSON Lines (docs/formats.md, "Data capture").

One decoding path: every line is parsed by msgspec's JSON decoder (a compiled parser shipped in the Lambda
zip) and then checked field by field. Every way a line can be unusable raises MalformedRecord with a
stable `reason`; a line whose inference time could be read carries that time, so the engine can place
the line in exactly one window whatever else is wrong with it.
"""

from __future__ import annotations

import binascii
import csv
import io
import re
from base64 import b64decode
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

BAD_JSON = "bad_json"
MISSING_FIELD = "missing_field"
BAD_INFERENCE_TIME = "bad_inference_time"
LATE_OR_SKEWED_TIME = "late_or_skewed_time"
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
ROW_COUNT_MISMATCH = "row_count_mismatch"
UNEXPECTED_ERROR = "unexpected_error"

MALFORMED_REASONS = (
    BAD_JSON,
    MISSING_FIELD,
    BAD_INFERENCE_TIME,
    LATE_OR_SKEWED_TIME,
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
    ROW_COUNT_MISMATCH,
    UNEXPECTED_ERROR,
)

CSV_KIND = "csv"
JSON_KIND = "json"

# Distinct content-type strings remembered; real endpoints send a handful, a hostile stream could send millions.
MAX_CONTENT_TYPES = 64
# Distinct "YYYY-MM-DDTHH" hours whose calendar validity is remembered (a window touches a few).
MAX_KNOWN_HOURS = 4096
# A refused request's error code and field are published as metric dimensions: keep them short and plain.
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9_.\-]{1,64}").fullmatch
OTHER_LABEL = "other"


# The parts of a capture line the engine reads, declared as msgspec types: the decoder validates the whole
# line's JSON but builds only these fields (eventId, mode, eventVersion are skipped in C). Every leaf is
# `Any`, so a type error can only be "expected an object" at some level; such a line is decoded again
# untyped and normalised to the same structs, so both give the engine the same view.
class Captured(msgspec.Struct, gc=False):
    observedContentType: Any = None
    data: Any = None
    encoding: Any = None


class CaptureData(msgspec.Struct, gc=False):
    endpointInput: Captured | None = None
    endpointOutput: Captured | None = None


class EventMetadata(msgspec.Struct, gc=False):
    inferenceTime: Any = None


class CaptureLine(msgspec.Struct, gc=False):
    captureData: CaptureData | None = None
    eventMetadata: EventMetadata | None = None


class Response(msgspec.Struct, gc=False):
    classes: Any = None
    probabilities: Any = None
    error: Any = msgspec.UNSET


class Request(msgspec.Struct, gc=False):
    instances: Any = msgspec.UNSET


_decode_json: Callable[[bytes | str], Any] = msgspec.json.Decoder().decode
_decode_line: Callable[[bytes | str], CaptureLine] = msgspec.json.Decoder(CaptureLine).decode
_decode_response: Callable[[bytes | str], Response] = msgspec.json.Decoder(Response).decode
_decode_request: Callable[[bytes | str], Request] = msgspec.json.Decoder(Request).decode
_JSON_ERRORS = (msgspec.DecodeError, RecursionError)


def _captured(value: object) -> Captured | None:
    if not isinstance(value, dict):
        return None
    return Captured(value.get("observedContentType"), value.get("data"), value.get("encoding"))


def _normalised(document: object) -> CaptureLine | None:
    """The typed view of an untyped decoded line; None when the line is not a JSON object."""
    if not isinstance(document, dict):
        return None
    capture = document.get("captureData")
    metadata = document.get("eventMetadata")
    return CaptureLine(
        CaptureData(_captured(capture.get("endpointInput")), _captured(capture.get("endpointOutput")))
        if isinstance(capture, dict)
        else None,
        EventMetadata(metadata.get("inferenceTime")) if isinstance(metadata, dict) else None,
    )


def read_line(line: bytes | str) -> CaptureLine:
    """The typed view of one capture line; MalformedRecord(bad_json) if it is not a JSON object."""
    try:
        return _decode_line(line)
    except msgspec.ValidationError:
        pass  # some level is not an object: decode untyped to see which
    except _JSON_ERRORS as error:
        raise MalformedRecord(BAD_JSON, f"line is not valid JSON ({error})") from None
    try:
        typed = _normalised(_decode_json(line))
    except _JSON_ERRORS as error:
        raise MalformedRecord(BAD_JSON, f"line is not valid JSON ({error})") from None
    if typed is None:
        raise MalformedRecord(BAD_JSON, "line: expected a JSON object")
    return typed


# ASCII digits only ([0-9], not \d); minutes and seconds in range; up to nanoseconds; Z or a +hh:mm offset.
# SageMaker's own form (UTC, "Z"): checked by one match, its hour's calendar validity remembered.
_UTC_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z"
).fullmatch
_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}):([0-5][0-9]):([0-5][0-9])(?:\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
).fullmatch


class MalformedRecord(ValueError):
    """A capture line that cannot be measured; `reason` is one of MALFORMED_REASONS.

    `time_key` is the line's inference time key when it could be read (None otherwise).
    """

    def __init__(self, reason: str, message: str, time_key: str | None = None):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.time_key = time_key


class RefusedRequest(ValueError):
    """A captured exchange the endpoint answered with an error body ({"error": {"code", "field"}})."""

    def __init__(self, code: str, field: str):
        super().__init__(f"the endpoint refused the request ({code} on {field})")
        self.code = code
        self.field = field


def time_key(moment: datetime) -> str:
    """The sortable UTC key ("YYYY-MM-DDTHH:MM:SS") that capture times are compared with."""
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


_known_hours: dict[str, bool] = {}


def _valid_hour(hour: str) -> bool:
    valid = _known_hours.get(hour)
    if valid is None:
        try:
            datetime.strptime(hour, "%Y-%m-%dT%H")
            valid = True
        except ValueError:
            valid = False
        if len(_known_hours) >= MAX_KNOWN_HOURS:
            _known_hours.clear()
        _known_hours[hour] = valid
    return valid


def inference_time_key(value: object) -> str:
    """The sortable UTC key of an eventMetadata.inferenceTime value (seconds, truncated)."""
    if isinstance(value, str) and _UTC_TIME(value) is not None:
        valid = _known_hours.get(value[:13])
        if valid or (valid is None and _valid_hour(value[:13])):
            return value[:19]
    # A Z time with a valid hour has returned above (_TIME with a Z is _UTC_TIME): what is left has an offset.
    match = _TIME(value) if isinstance(value, str) else None
    if match is not None and _valid_hour(match[1]):
        try:
            moment = datetime.fromisoformat(f"{match[1]}:{match[2]}:{match[3]}{match[4]}")
            # Near year 1 or 9999 an offset moves the time out of datetime's range: OverflowError.
            return time_key(moment)
        except (ValueError, OverflowError):
            pass
    raise MalformedRecord(
        BAD_INFERENCE_TIME,
        f"eventMetadata.inferenceTime: expected an ISO 8601 time like 2026-11-28T03:15:42Z, got {value!r:.80}",
    )


def content_kind(content_type: object) -> str | None:
    """csv or json for a content type SageMaker captures as such (parameters ignored), else None."""
    if not isinstance(content_type, str):
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "text/csv":
        return CSV_KIND
    if media_type == "application/json" or media_type.endswith("+json"):
        return JSON_KIND
    return None


def _request_type(feature_names: tuple[str, ...]) -> type[msgspec.Struct]:
    """The typed view of a JSON request: instances as lists, or as objects holding exactly the features.

    Fields are named f0, f1, ... and renamed to the feature names, so any name a schema allows works; any
    other shape (a missing or unknown feature, a scalar instance, no instances) fails validation and the
    request is decoded again untyped, which names what is wrong.
    """
    fields = [(f"f{position}", Any) for position in range(len(feature_names))]
    rename = {f"f{position}": name for position, name in enumerate(feature_names)}
    instance = msgspec.defstruct("Instance", fields, rename=rename, forbid_unknown_fields=True, gc=False)
    return msgspec.defstruct("TypedRequest", [("instances", list[instance | list[Any]])], gc=False)  # type: ignore[valid-type]


_astuple = msgspec.structs.astuple


class CaptureDecoder:
    """Decodes capture lines for a model whose payload columns are `feature_names` (schema order)."""

    def __init__(self, feature_names: Sequence[str], positive_class: int = 1):
        if not feature_names:
            raise ValueError("feature_names: expected at least one feature")
        self.feature_names = tuple(feature_names)
        self.positive_class = positive_class
        self._feature_count = len(self.feature_names)
        self._feature_set = frozenset(self.feature_names)
        # (encoding, observedContentType) -> (kind, base64?) of the pairs seen that are usable.
        self._formats: dict[tuple[object, object], tuple[str, bool]] = {}
        self._positive_index: dict[tuple[object, ...], int] = {}
        # The classes list of the last response and its positive position: one list comparison per record.
        self._classes: list[Any] | None = None
        self._position = 0
        self._decode_typed_request: Callable[[str], Any] = msgspec.json.Decoder(
            _request_type(self.feature_names)
        ).decode

    def envelope(self, line: bytes | str) -> tuple[str, Captured, Captured]:
        """(inference time key, captureData.endpointInput, captureData.endpointOutput) of one line.

        The time is read first, so any later problem is raised with the time attached.
        """
        try:
            record = _decode_line(line)
        except (msgspec.ValidationError, *_JSON_ERRORS):
            record = read_line(line)  # raises bad_json, or returns the untyped decoding's view
        metadata = record.eventMetadata
        if metadata is None or metadata.inferenceTime is None:
            raise MalformedRecord(MISSING_FIELD, "expected eventMetadata.inferenceTime")
        when = metadata.inferenceTime
        # SageMaker's own form, in an hour already known valid: inference_time_key's first case, inline.
        if when.__class__ is str and _UTC_TIME(when) is not None and _known_hours.get(when[:13]):
            key = when[:19]
        else:
            key = inference_time_key(when)
        capture = record.captureData
        if capture is None or capture.endpointInput is None or capture.endpointOutput is None:
            raise MalformedRecord(
                MISSING_FIELD,
                "expected objects captureData.endpointInput and captureData.endpointOutput",
                key,
            )
        return key, capture.endpointInput, capture.endpointOutput

    def rows_and_probabilities(
        self, captured_input: Captured, captured_output: Captured
    ) -> tuple[list[Sequence[Any]], list[Any]]:
        """Feature rows and their P(positive class), checked to pair one to one.

        Raises RefusedRequest when the response is the endpoint's error body, MalformedRecord otherwise.
        """
        probabilities = self.positive_probabilities(captured_output)
        kind, text = self._payload(captured_input, "endpointInput")
        rows = self._csv_rows(text) if kind == CSV_KIND else self._json_rows(text)
        if not rows:
            raise MalformedRecord(EMPTY_PAYLOAD, "endpointInput: no rows")
        if len(rows) != len(probabilities):
            raise MalformedRecord(
                ROW_COUNT_MISMATCH,
                f"endpointInput has {len(rows)} rows but endpointOutput {len(probabilities)}",
            )
        return rows, probabilities

    def _format(self, encoding: object, content_type: object, where: str) -> tuple[str, bool]:
        """(kind, base64?) of a payload's encoding and content type; MalformedRecord if unusable."""
        kind = content_kind(content_type)
        if encoding == "CSV" or encoding == "JSON":
            # Without a recognised content type, a textual encoding still says what the bytes are.
            found = (kind or (CSV_KIND if encoding == "CSV" else JSON_KIND), False)
        elif encoding != "BASE64":
            raise MalformedRecord(
                UNKNOWN_ENCODING, f"{where}.encoding: expected CSV, JSON or BASE64, got {encoding!r:.80}"
            )
        elif kind is None:
            # Bytes of an unknown type are unsupported whatever they hold: the type is checked before decoding.
            raise MalformedRecord(
                UNSUPPORTED_CONTENT_TYPE,
                f"{where}.observedContentType: expected text/csv or JSON, got {content_type!r:.80}",
            )
        else:
            found = (kind, True)
        if isinstance(content_type, str) and len(self._formats) < MAX_CONTENT_TYPES:
            self._formats[encoding, content_type] = found
        return found

    def _payload(self, captured: Captured, where: str) -> tuple[str, str]:
        data = captured.data
        if data.__class__ is not str:
            raise MalformedRecord(MISSING_FIELD, f"{where}.data: expected a string, got {data!r:.80}")
        try:
            kind, base64 = self._formats[captured.encoding, captured.observedContentType]
        except (KeyError, TypeError):  # TypeError: an unhashable (list or object) encoding or type
            kind, base64 = self._format(captured.encoding, captured.observedContentType, where)
        if not base64:
            return kind, data
        try:
            return kind, b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as error:
            raise MalformedRecord(
                BAD_BASE64, f"{where}.data: invalid base64 UTF-8 payload ({error})"
            ) from None

    def input_rows(self, captured_input: Captured) -> list[Sequence[Any]]:
        """Feature rows of endpointInput, each in schema order."""
        kind, text = self._payload(captured_input, "endpointInput")
        rows = self._csv_rows(text) if kind == CSV_KIND else self._json_rows(text)
        if not rows:
            raise MalformedRecord(EMPTY_PAYLOAD, "endpointInput: no rows")
        return rows

    def _csv_rows(self, text: str) -> list[Sequence[Any]]:
        count = self._feature_count
        rows: list[Sequence[Any]]
        if '"' in text or "\r" in text:
            rows = list(_quoted_csv_rows(text))
        elif "\n" not in text[:-1]:
            # One row, with or without the trailing newline AWS's own samples carry: the common case.
            line = text[:-1] if text[-1:] == "\n" else text
            if not line or line.isspace():
                return []
            row = line.split(",")
            if len(row) == count:
                return [row]
            rows = [row]
        else:
            rows = [line.split(",") for line in text.split("\n") if line and not line.isspace()]
        for number, found in enumerate(rows):
            if len(found) != count:
                raise MalformedRecord(
                    WRONG_FEATURE_COUNT,
                    f"endpointInput row {number}: expected {count} values, got {len(found)}",
                )
        return rows

    def _json_rows(self, text: str) -> list[Sequence[Any]]:
        try:
            instances = self._decode_typed_request(text).instances
        except msgspec.ValidationError:
            return self._untyped_json_rows(text)  # a shape the typed view does not hold: find out which
        except _JSON_ERRORS as error:
            raise MalformedRecord(BAD_INSTANCES, f"endpointInput is not valid JSON ({error})") from None
        count = self._feature_count
        rows: list[Sequence[Any]] = []
        for number, instance in enumerate(instances):
            if instance.__class__ is not list:
                rows.append(_astuple(instance))
            elif len(instance) == count:
                rows.append(instance)
            else:
                raise MalformedRecord(
                    WRONG_FEATURE_COUNT,
                    f"endpointInput instance {number}: expected {count} values, got {len(instance)}",
                )
        return rows

    def _untyped_json_rows(self, text: str) -> list[Sequence[Any]]:
        try:
            instances = _decode_request(text).instances
        except msgspec.ValidationError:
            instances = None  # not an object
        except _JSON_ERRORS as error:
            raise MalformedRecord(BAD_INSTANCES, f"endpointInput is not valid JSON ({error})") from None
        if instances.__class__ is not list:
            raise MalformedRecord(BAD_INSTANCES, 'endpointInput: expected {"instances": [...]}')
        rows: list[Sequence[Any]] = []
        for number, instance in enumerate(instances):
            if instance.__class__ is list:
                if len(instance) != self._feature_count:
                    raise MalformedRecord(
                        WRONG_FEATURE_COUNT,
                        f"endpointInput instance {number}: expected {self._feature_count} values, "
                        f"got {len(instance)}",
                    )
                rows.append(instance)
            elif instance.__class__ is dict:
                rows.append(self._row_from_object(instance, number))
            else:
                raise MalformedRecord(
                    BAD_INSTANCES,
                    f"endpointInput instance {number}: expected a list or an object, got {instance!r:.80}",
                )
        return rows

    def _row_from_object(self, instance: dict[str, Any], number: int) -> list[Any]:
        missing = [name for name in self.feature_names if name not in instance]
        if missing:
            raise MalformedRecord(
                MISSING_FEATURE, f"endpointInput instance {number}: missing feature {missing[0]!r}"
            )
        unknown = sorted(set(instance) - self._feature_set)
        if not unknown:
            return [instance[name] for name in self.feature_names]
        raise MalformedRecord(
            UNKNOWN_FEATURE,
            f"endpointInput instance {number}: unknown features {unknown}; expected {list(self.feature_names)}",
        )

    def positive_probabilities(self, captured_output: Captured) -> list[Any]:
        """P(positive class) per row of endpointOutput ({"classes": [...], "probabilities": [[...], ...]})."""
        kind, text = self._payload(captured_output, "endpointOutput")
        if kind != JSON_KIND:
            raise MalformedRecord(BAD_OUTPUT, f"endpointOutput: expected a JSON response, got {kind}")
        try:
            document = _decode_response(text)
        except msgspec.ValidationError:
            raise MalformedRecord(BAD_OUTPUT, "endpointOutput: expected a JSON object") from None
        except _JSON_ERRORS as error:
            raise MalformedRecord(BAD_OUTPUT, f"endpointOutput is not valid JSON ({error})") from None
        probabilities = document.probabilities
        # Before any classes are known, _classes is None and must not match a response without classes.
        if (
            probabilities.__class__ is list
            and self._classes is not None
            and document.classes == self._classes
        ):
            position = self._position
        else:
            position = self._response_position(document)
        width = len(document.classes)
        positives = []
        for row in probabilities:
            if row.__class__ is not list or len(row) != width:
                raise MalformedRecord(
                    BAD_OUTPUT,
                    f"endpointOutput.probabilities: expected rows of {width} numbers, got {row!r:.80}",
                )
            positives.append(row[position])
        return positives

    def _response_position(self, document: Response) -> int:
        """The positive class's position in a response's classes (remembered), or why there is none."""
        probabilities = document.probabilities
        if probabilities is None and document.error is not msgspec.UNSET:
            body = document.error
            code = body.get("code") if isinstance(body, dict) else body
            field = body.get("field") if isinstance(body, dict) else None
            raise RefusedRequest(_label(code), _label(field))
        classes = document.classes
        if classes.__class__ is not list or probabilities.__class__ is not list:
            raise MalformedRecord(
                BAD_OUTPUT, 'endpointOutput: expected {"classes": [...], "probabilities": [...]}'
            )
        try:
            class_key = tuple(classes)
            position = self._positive_index.get(class_key)
        except TypeError:
            raise MalformedRecord(
                BAD_OUTPUT, f"endpointOutput.classes: expected labels, got {classes!r:.80}"
            ) from None
        if position is None:
            position = self._find_positive(classes)
            if len(self._positive_index) < MAX_CONTENT_TYPES:
                self._positive_index[class_key] = position
        self._classes, self._position = list(classes), position
        return position

    def _find_positive(self, classes: list[Any]) -> int:
        for position, label in enumerate(classes):
            if label.__class__ is not bool and (
                label == self.positive_class or label == str(self.positive_class)
            ):
                return position
        raise MalformedRecord(
            BAD_OUTPUT,
            f"endpointOutput.classes: expected to contain {self.positive_class!r}, got {classes!r:.80}",
        )


def _quoted_csv_rows(text: str) -> list[list[str]]:
    """Rows of a CSV payload that quotes values or ends lines with CRLF (blank lines skipped)."""
    try:
        return [
            row
            for row in csv.reader(io.StringIO(text, newline=""), strict=True)
            if row and not (len(row) == 1 and row[0].isspace())
        ]
    except csv.Error as error:
        raise MalformedRecord(BAD_CSV, f"endpointInput: invalid CSV ({error})") from None


def _label(value: object) -> str:
    """An error code or field as a metric dimension value: itself when short and plain, else "other"."""
    if value is None:
        return "none"
    return value if isinstance(value, str) and _PLAIN_LABEL(value) else OTHER_LABEL
