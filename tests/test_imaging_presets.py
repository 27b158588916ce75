"""Intensity presets: closed forms of the CT window, percentile and min-max maps, ids and dict round trips."""
from __future__ import annotations

import numpy as np
import pytest

from taskfp_lib.imaging import CT_WINDOWS, IntensityPreset, known_preset_ids, parse_preset


@pytest.mark.parametrize("name", sorted(CT_WINDOWS))
def test_ct_window_closed_form(name):
    c, w = CT_WINDOWS[name]
    lower, upper = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2  # DICOM PS3.3 C.11.2.1.2.1
    hu = np.array([[lower - 1000, lower, c, upper + 1e-6, upper + 1000]])
    out = parse_preset(f"ct:{name}").apply(hu)
    centre = int(np.rint(127.5 + 127.5 / (w - 1)))
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 0, centre, 255, 255]]
    assert centre == (129 if name == "brain" else 128)


def test_window_is_linear_inside():
    preset = parse_preset("ct:soft-tissue")  # c=40, w=400
    hu = np.linspace(-159.5, 239.5, 400)[None, :]
    expected = np.rint(((hu - 39.5) / 399 + 0.5) * 255)
    np.testing.assert_array_equal(preset.apply(hu), expected.astype(np.uint8))


def test_percentile_clips_and_scales():
    values = np.arange(101, dtype=float)[None, :]  # percentile p of 0..100 is p
    out = parse_preset("mr:p10-p90").apply(values)
    assert out[0, :11].tolist() == [0] * 11 and out[0, 90:].tolist() == [255] * 11
    assert out[0, 50] == np.rint((50 - 10) / 80 * 255)


def test_auto_keeps_8bit_and_minmax_stretches():
    grey = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    np.testing.assert_array_equal(parse_preset("auto").apply(grey), grey)
    np.testing.assert_array_equal(parse_preset("minmax").apply(grey), [[0, 85], [170, 255]])
    wide = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    np.testing.assert_array_equal(parse_preset("auto").apply(wide), [[0, 64], [128, 255]])
    assert not parse_preset("minmax").apply(np.full((3, 3), 7.0)).any()  # constant -> 0


def test_monochrome1_inverts_after_the_preset():
    hu = np.array([[-1000.0, 40.0, 1000.0]])
    for spec in ("ct:soft-tissue", "minmax", "mr:p1-p99"):
        preset = parse_preset(spec)
        np.testing.assert_array_equal(preset.apply(hu, monochrome1=True), 255 - preset.apply(hu))


def test_colour_passes_through_and_nonfinite_values_are_replaced():
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(parse_preset("ct:lung").apply(rgb), rgb)
    values = np.array([[np.nan, 0.0, 10.0, np.inf]])
    assert parse_preset("minmax").apply(values).tolist() == [[0, 0, 255, 255]]
    with pytest.raises(ValueError, match="no finite value"):
        parse_preset("minmax").apply(np.full((2, 2), np.nan))


def test_ids_round_trip_and_equality():
    for spec in known_preset_ids() + ["window:50/350", "mr:p0.5-p99.5"]:
        preset = parse_preset(spec)
        assert preset.id == spec
        assert IntensityPreset.from_dict(preset.to_dict()) == preset
        assert parse_preset(preset.to_dict()) == preset
    assert parse_preset("window:-600/1500") == parse_preset("ct:lung")
    assert parse_preset("window:-600/1500").id == "ct:lung"
    assert parse_preset("ct:lung") != parse_preset("ct:bone")
    assert parse_preset(None) == parse_preset("auto")


def test_refusals_are_one_line_value_errors():
    bad = parse_preset("ct:lung").to_dict() | {"id": "ct:bone"}
    for spec, match in ((bad, "does not match"), ("ct:liver", "unknown"), ("mr:p99-p1", "low < high"),
                        (parse_preset("auto").to_dict() | {"extra": 1}, "expected keys"),
                        ("window:40/1", "width must be > 1")):
        with pytest.raises(ValueError, match=match) as info:
            parse_preset(spec)
        assert "\n" not in str(info.value)
