"""SageMaker data-capture records (docs/formats.md), written as the endpoint's capture would write them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CSV_CONTENT_TYPE = "text/csv"
JSON_CONTENT_TYPE = "application/json"
_ENCODINGS = {CSV_CONTENT_TYPE: "CSV", JSON_CONTENT_TYPE: "JSON"}


@dataclass(frozen=True)
class Exchange:
    """One request to the endpoint and its response."""

    content_type: str
    request_body: str
    response_content_type: str
    response_body: str
    inference_time: datetime


def is_sampled(index: int, sampling_percent: int) -> bool:
    """Deterministic sampling: exactly `sampling_percent` of every 100 consecutive requests, evenly spread."""
    return (index + 1) * sampling_percent // 100 > index * sampling_percent // 100


def capture_record(exchange: Exchange) -> dict[str, Any]:
    def captured(content_type: str, mode: str, data: str) -> dict[str, str]:
        return {
            "observedContentType": content_type,
            "mode": mode,
            "data": data,
            "encoding": _ENCODINGS[content_type],
        }

    return {
        "captureData": {
            "endpointInput": captured(exchange.content_type, "INPUT", exchange.request_body),
            "endpointOutput": captured(exchange.response_content_type, "OUTPUT", exchange.response_body),
        },
        "eventMetadata": {
            "eventId": str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"{exchange.inference_time}{exchange.request_body}")
            ),
            "inferenceTime": exchange.inference_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            + "Z",
        },
        "eventVersion": "0",
    }


def spread_times(count: int, start: datetime, end: datetime) -> list[datetime]:
    """`count` moments evenly spaced inside [start, end)."""
    step = (end - start) / max(count, 1)
    return [start + step * index + step / 2 for index in range(count)]


# How long one capture file collects records before it is written (SageMaker writes a file every few minutes).
FILE_MINUTES = 5


def capture_objects(exchanges: Iterable[Exchange], root: str, file_stem: str) -> dict[str, bytes]:
    """S3 key -> JSON Lines body, as SageMaker writes them: one file per few minutes, in the hour folder of
    its first record, named `<MM>-<SS>-<mmm>-<uuid>.jsonl` after that record's time."""
    files: dict[datetime, list[tuple[datetime, str]]] = {}
    for exchange in exchanges:
        moment = exchange.inference_time.astimezone(UTC)
        slot = moment.replace(minute=moment.minute - moment.minute % FILE_MINUTES, second=0, microsecond=0)
        files.setdefault(slot, []).append(
            (moment, json.dumps(capture_record(exchange), separators=(",", ":")))
        )
    objects = {}
    for slot, records in sorted(files.items()):
        opened = min(moment for moment, _ in records)
        name = uuid.uuid5(uuid.NAMESPACE_URL, f"{file_stem}-{slot.isoformat()}")
        key = f"{root}{opened:%Y/%m/%d/%H}/{opened:%M-%S}-{opened.microsecond // 1000:03d}-{name}.jsonl"
        objects[key] = ("\n".join(line for _, line in records) + "\n").encode("utf-8")
    return objects


def consecutive_windows(minutes: int, now: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """`count` back-to-back windows of `minutes`, the last ending at the last full hour before `now`."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    length = timedelta(minutes=minutes)
    return [(end - length * (count - index), end - length * (count - index - 1)) for index in range(count)]


def csv_row(values: Sequence[Any]) -> str:
    return ",".join(str(value) for value in values)
