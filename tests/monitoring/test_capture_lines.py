"""monitoring/capture.py line by line: each field SageMaker writes, each reason and message, the caches.

Capture line fields (captureData.endpointInput/endpointOutput with observedContentType, mode, data and
encoding CSV, JSON or BASE64; eventMetadata.inferenceTime in UTC with a Z):
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html
"""

from __future__ import annotations

import pytest

from monitoring.capture import (
    Captured,
    CaptureDecoder,
    MalformedRecord,
)

FEATURES = ("a", "b", "c")


def test_a_first_response_without_classes_is_bad_output_not_a_crash() -> None:
    # Before the fix, the remembered classes (None) matched the missing classes and len(None) raised
    # TypeError, which the engine's safety net counted as unexpected_error.
    decoder = CaptureDecoder(FEATURES)
    with pytest.raises(MalformedRecord) as raised:
        decoder.positive_probabilities(Captured("application/json", '{"probabilities": [[0.5]]}', "JSON"))
    assert str(raised.value) == (
        'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}'
    )
