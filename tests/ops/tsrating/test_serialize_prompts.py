import math

import numpy as np
import pytest

from ops.tsrating.prompts import CRITERIA, load_template
from ops.tsrating.serialize import content_hash, parse_series, serialize_series


def test_llmtime_serialisation_fixed_precision_raw_values():
    assert (
        serialize_series([1.2345, -0.5, 0.0, np.nan, 12.0], prec=4)
        == "12345, -5000, 0, NaN, 120000"
    )
    assert serialize_series([1.23456], prec=2) == "123"
    x = np.array([3.14159, -2.5, np.nan, 1e3])
    back = parse_series(serialize_series(x, prec=4), prec=4)
    assert np.allclose(back[[0, 1, 3]], [3.1416, -2.5, 1000.0]) and math.isnan(back[2])


def test_content_hash_canonical_nan_and_zero():
    a = np.array([1.0, np.nan, 0.0])
    b = np.array([1.0, -np.nan, -0.0])
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(np.array([1.0, np.nan, 0.0, 0.0]))
    assert content_hash(a) != content_hash(np.array([1.0, 2.0, 0.0]))


@pytest.mark.parametrize("criterion", CRITERIA)
def test_templates_have_the_required_shape(criterion):
    t = load_template(criterion, "v1")
    assert t.version == "v1" and len(t.sha256) == 64
    text = t.render([1.0, 2.0], [3.0, np.nan])
    assert "[Option A] 10000, 20000\n" in text and "[Option B] 30000, NaN\n" in text
    assert "Answer with a single word, A or B." in text
    assert f"Criterion ({criterion})" in text
    low = text.lower()
    assert "flat" in low and "good" in low and "bad" in low
    assert "shown first" in low and "relative judgment" in low
    assert "{{" not in text


def test_template_hashes_differ_and_unknown_rejected():
    assert len({load_template(c).sha256 for c in CRITERIA}) == 4
    with pytest.raises(ValueError):
        load_template("colour")
    with pytest.raises(FileNotFoundError):
        load_template("trend", "v999")


def test_flat_is_acceptable_only_for_pattern_in_prompts():
    assert "acceptable pattern" in load_template("pattern").text
    for c in ("trend", "frequency", "amplitude"):
        assert "acceptable" not in load_template(c).text
