"""The parser of distance-variant names and the variant list of the development comparison."""
import pytest

from taskfp_lib.paper.variants import (DEVELOPMENT_FAMILY_COUNTS, N_DEVELOPMENT_VARIANTS, VariantName,
                                       development_variants, family_counts, hyperparameters, is_bin_sweep_only,
                                       parse_variant, representation, variant_file_stem)


@pytest.mark.parametrize("name, fields", [
    ("KLD-PP:NS-W:TS-100-BINS", dict(base="KLD", target_pp="N", source_pp="S", weight_by="T", weight_pp="S", bins=100)),
    ("KLD-C-I-PP:NN-W:BW-5-BINS", dict(base="KLD", clip=True, inverted=True, target_pp="N", source_pp="N",
                                       weight_by="B", weight_pp="W", bins=5)),
    ("KLD-PP:UU-A:0.001-W:SU", dict(base="KLD", target_pp="U", source_pp="U", alpha="0.001", weight_by="S",
                                    weight_pp="U")),
    ("L-3-NORM-PP:SS-W:TN-5-BINS", dict(base="L-NORM", norm_p=3, target_pp="S", source_pp="S", weight_by="T",
                                        weight_pp="N", bins=5)),
    ("LOG-S:0-T:4", dict(base="LOG", source_exponent=0, target_exponent=4)),
    ("EXP-S:3-T:1", dict(base="EXP", source_exponent=3, target_exponent=1)),
    ("MMD-geo-sinkhorn-0.01", dict(base="MMD", kernel="geo-sinkhorn", blur="0.01")),
    ("MMD-gaussian-0.3-10000-SAMPLES", dict(base="MMD", kernel="gaussian", blur="0.3", samples=10000)),
    ("MMD-10000-SAMPLES", dict(base="MMD", samples=10000)),
    ("KLD-PP:NS-1000-BINS-10-SAMPLES-0-SEED", dict(base="KLD", target_pp="N", source_pp="S", bins=1000, samples=10,
                                                   seed=0)),
    ("VDNA-PP:NN-1000-BINS-3_2_1", dict(base="VDNA", target_pp="N", source_pp="N", bins=1000, probe="3_2_1")),
    ("FID-CLIP", dict(base="FID", probe="CLIP")),
    ("EMD-AVG-PP:SS-W:BN", dict(base="EMD-AVG", target_pp="S", source_pp="S", weight_by="B", weight_pp="N")),
    ("SEMANTIC", dict(base="SEMANTIC")),
    ("OPTIMAL-Co-Training<br>Data-first-BA", dict(base="OPTIMAL", optimal_scenario="Co-Training<br>Data",
                                                  optimal_aggregate="first", optimal_metric="BA")),
])
def test_parse_fields_and_round_trip(name, fields):
    v = parse_variant(name)
    assert v == VariantName(**fields)
    assert v.name == name and str(v) == name
    assert parse_variant(v.name) == v


def test_derived_properties():
    v = parse_variant("KLD-PP:NS-W:SN-1000-BINS-100-SAMPLES-3-SEED")
    assert (v.family, v.preprocessing, v.weighting, v.stem) == ("KLD", "NS", "SN", "KLD-PP:NS-W:SN-1000-BINS")
    assert parse_variant("L-2-NORM").family == "L-p"
    assert parse_variant("KLD-PP:NN").weighting is None and representation(parse_variant("KLD-PP:NN")) == "averaged"
    assert representation(v) == "binned" and representation(parse_variant("MMD-coral-0.1")) == "full features"
    hp = hyperparameters(parse_variant("KLD-PP:UU-A:0.1-W:TW-100-BINS"))
    assert hp["alpha"] == "0.1" and hp["weighting"] == "TW" and hp["bins"] == 100 and hp["preprocessing"] == "UU"
    assert v.replace(samples=None, seed=None).name == "KLD-PP:NS-W:SN-1000-BINS"


@pytest.mark.parametrize("bad", [
    "KLD-PP:NS-0100-BINS",  # non-canonical number
    "KLD-W:TS-PP:NS",  # wrong order
    "MMD-geo-sinkhorn-.01", "KLD-PP:NX", "KLD-PP:UU",  # U without alpha
    "KLD-A:0.1",  # alpha without U
    "KLD-PP:NS-3-SEED", "kld", "", "L-0-NORM", "OPTIMAL-x-best-BA", "FID-RESNET", "KLD--C",
])
def test_invalid_names_raise(bad):
    with pytest.raises(ValueError, match="distance variant"):
        parse_variant(bad)


def test_inconsistent_records_raise():
    with pytest.raises(ValueError, match="norm_p"):
        VariantName("KLD", norm_p=2)
    with pytest.raises(ValueError, match="SEED needs SAMPLES"):
        VariantName("KLD", seed=1)
    with pytest.raises(ValueError, match="OPTIMAL"):
        VariantName("OPTIMAL", optimal_scenario="a", optimal_aggregate="mean", optimal_metric="BA", bins=5)
    with pytest.raises(ValueError, match="kernel"):
        VariantName("KLD", kernel="gaussian", blur="0.1")


def test_variant_list_rules_on_synthetic_stems():
    stems = ["KLD-PP:NS-1000-BINS", "KLD-PP:NS-25-BINS", "KLD-PP:NS-W:TS-750-BINS", "KLD-PP:NN-25-BINS",
             "FED", "FID", "FID-DINO", "KLD-PP:NS-1000-BINS-10-SAMPLES-0-SEED", "MMD-10000-SAMPLES",
             "MMD-cauchy-0.1", "MMD-cauchy-0.1-10000-SAMPLES", "MMD-coral-0.2-10000-SAMPLES",
             "MMD-coral-0.3-500-SAMPLES", "OPTIMAL-Model<br>Architecture-mean-BA"]
    names = [v.name for v in development_variants(stems)]
    # bin-sweep-only files, FED, probes, resampled files, OPTIMAL and the bare MMD stand-in are out;
    # an MMD variant published only as -10000-SAMPLES is in under its plain name
    assert names == ["FID", "KLD-PP:NN-25-BINS", "KLD-PP:NS-1000-BINS", "MMD-cauchy-0.1", "MMD-coral-0.2"]
    assert is_bin_sweep_only(parse_variant("KLD-PP:NS-W:SN-50-BINS"))
    assert not is_bin_sweep_only(parse_variant("KLD-PP:NS-W:SN-100-BINS"))
    assert variant_file_stem(parse_variant("MMD-coral-0.2"), stems) == "MMD-coral-0.2-10000-SAMPLES"
    assert variant_file_stem(parse_variant("MMD-cauchy-0.1"), stems) == "MMD-cauchy-0.1"
    with pytest.raises(ValueError, match="no published distance file"):
        variant_file_stem(parse_variant("MMD-coral-0.3"), stems)


def test_every_published_name_round_trips(published):
    from taskfp_lib.paper.distance_arrays import published_distance_stems

    stems = published_distance_stems() + published_distance_stems("MSD_cache")
    assert len(stems) > 900
    for stem in stems:
        assert parse_variant(stem).name == stem


def test_the_798_variants_and_their_families(published):
    from taskfp_lib.paper.distance_arrays import published_distance_stems

    stems = published_distance_stems()
    variants = development_variants(stems)
    assert len(variants) == N_DEVELOPMENT_VARIANTS == 798
    assert family_counts(variants) == DEVELOPMENT_FAMILY_COUNTS
    assert list(DEVELOPMENT_FAMILY_COUNTS.values()) == [476, 105, 52, 49, 42, 25, 25, 14, 8, 1, 1]
    substitutes = [v.name for v in variants if variant_file_stem(v, stems) != v.name]
    assert len(substitutes) == 39 and all(n.startswith("MMD-") for n in substitutes)
    assert all(parse_variant(v.name) == v for v in variants)
