"""The drift baseline as shipped in the model artifact (model.tar.gz: baseline.json beside schema.json)."""

from __future__ import annotations

import json
import posixpath
import tarfile
import threading
from dataclasses import dataclass
from typing import IO, Any

from monitoring.drift import (
    Baseline,
    BaselineError,
    CategoricalBaseline,
    parse_baseline,
    parse_schema_feature_names,
)

BASELINE_MEMBER = "baseline.json"
SCHEMA_MEMBER = "schema.json"


@dataclass(frozen=True)
class ModelBaseline:
    baseline: Baseline
    columns: tuple[str, ...]
    """Feature names in payload column order (schema.json), which baseline.json does not promise."""
    source: str
    etag: str


def parse_s3_url(url: str, field: str) -> tuple[str, str]:
    """(bucket, key) of an s3://bucket/key URL; the error names `field`."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ValueError(f"{field}: expected an s3://bucket/key URL, got {url!r}")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{field}: expected an s3://bucket/key URL with a bucket, got {url!r}")
    return bucket, key


def read_model_baseline(archive: IO[bytes], source: str, etag: str = "") -> ModelBaseline:
    """Stream a model.tar.gz, pulling out only baseline.json and schema.json."""
    wanted = {BASELINE_MEMBER, SCHEMA_MEMBER}
    found: dict[str, Any] = {}
    try:
        # "r|gz" reads the archive front to back without seeking, so the S3 body is streamed, never held.
        with tarfile.open(fileobj=archive, mode="r|gz") as tar:
            for member in tar:
                name = posixpath.normpath(member.name)
                if name not in wanted or not member.isfile():
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                try:
                    found[name] = json.loads(extracted.read())
                except ValueError as error:
                    raise BaselineError(f"{source}: {name} is not valid JSON ({error})") from error
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError) as error:
        raise BaselineError(f"{source}: not a readable model.tar.gz ({error})") from error
    missing = sorted(wanted - set(found))
    if missing:
        raise BaselineError(f"{source}: model artifact has no {', '.join(missing)}")
    baseline = parse_baseline(found[BASELINE_MEMBER])
    columns = parse_schema_feature_names(found[SCHEMA_MEMBER])
    if sorted(columns) != sorted(baseline.feature_names):
        raise BaselineError(
            f"{source}: baseline.features {sorted(baseline.feature_names)} do not match "
            f"schema.features {sorted(columns)}"
        )
    check_baseline_against_schema(baseline, found[SCHEMA_MEMBER], source)
    return ModelBaseline(baseline, columns, source, etag)


def check_baseline_against_schema(baseline: Baseline, schema: dict[str, Any], source: str) -> None:
    """Each baseline feature has the schema's type and, if categorical, exactly the schema's categories.

    Serving refuses categories outside the schema, so a baseline built on other spellings would show
    every live value in its "other" bin: a false drift alarm, and a retraining, caused by a broken artifact.
    """
    by_name = {f.get("name"): f for f in schema["features"] if isinstance(f, dict)}
    for feature in baseline.features:
        spec = by_name[feature.name]
        kind = "categorical" if isinstance(feature, CategoricalBaseline) else "numeric"
        if spec.get("type") != kind:
            raise BaselineError(
                f"{source}: baseline feature {feature.name!r} is {kind} but schema.json says {spec.get('type')!r}"
            )
        if isinstance(feature, CategoricalBaseline):
            expected = spec.get("categories")
            if not isinstance(expected, list) or sorted(map(str, expected)) != sorted(
                map(str, feature.categories)
            ):
                raise BaselineError(
                    f"{source}: baseline categories of {feature.name!r} {sorted(map(str, feature.categories))} "
                    f"do not match schema.json's {expected!r}"
                )


_cache: dict[str, ModelBaseline] = {}
_cache_lock = threading.Lock()


def load_model_baseline(s3: Any, model_data_url: str) -> ModelBaseline:
    """The baseline of the model at `model_data_url`, re-read only when the object's ETag changes.

    The cache lives as long as the Lambda container, so warm invocations cost one HeadObject.
    """
    bucket, key = parse_s3_url(model_data_url, "MODEL_DATA_URL")
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    with _cache_lock:
        cached = _cache.get(model_data_url)
    if cached is not None and cached.etag == etag:
        return cached
    # IfMatch makes a replacement between the HEAD and the GET fail loudly instead of mixing versions.
    body = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    try:
        loaded = read_model_baseline(body, model_data_url, etag)
    finally:
        body.close()
    with _cache_lock:
        _cache[model_data_url] = loaded
    return loaded


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
