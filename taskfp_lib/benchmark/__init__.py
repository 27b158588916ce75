"""Benchmark a new task distance against the paper's selectors on the published transfer outcomes.

The published outcomes (71 tasks, four transfer scenarios, three repetitions, two metrics) are a
ground truth: a new task-similarity measure becomes one more selector of the evaluation table
(:func:`taskfp_lib.evaluation.evaluate`) and receives the paper's full analysis, computed by the
paper's own recipes (:mod:`taskfp_lib.paper.recipes`), next to the paper's selectors.

Modules
-------
validation   the input checks, one small named check each (:data:`~.validation.CHECKS`) -> published layout
direction    distance or similarity? (self entries, image-sharing siblings, scores below chance)
measures     worked examples: the random floor, an ensemble of published distances, a Python callable
chance       exact expected scores of a uniformly random selection
paired       paired comparisons of two measures over the same setups; each selector's place per scenario
development  the measure's place among the 798 variants of the development comparison (issue 12)
verdict      the plain-language verdict per scenario (plain text for the CSV, escaped HTML for the report)
report       :func:`benchmark` -> :class:`BenchmarkResult` (tables, notes, selection overlaps, CSV writer)
render       the report's HTML pieces, every user string escaped

Public API
----------
validate_distance, read_distance, evaluated_pairs, DistanceValidationError, similarity_evidence,
random_distance, ensemble_distance, distance_from_callable, chance_scores, expected_best_of_k,
paired_comparison, compare_distances, scenario_positions, verdicts, development_position,
random_floor, benchmark, BenchmarkResult,
evaluate_measure, reference_evaluations, meta_metric_table, gain_curves, selection_overlap.
"""
from __future__ import annotations

from .chance import CHANCE_LABEL, chance_scores, expected_best_of_k, random_floor, write_random_floor
from .development import DevelopmentPosition, development_position, development_targets
from .direction import SIMILARITY_FLAG, DirectionEvidence, similarity_evidence
from .measures import DEFAULT_ENSEMBLE, distance_from_callable, ensemble_distance, random_distance
from .paired import compare_distances, holm, paired_comparison, scenario_positions
from .report import (CURVE_REFERENCES, BenchmarkResult, benchmark, check_measure_name, evaluate_measure, gain_curves,
                     meta_metric_table, overlap_note, reference_evaluations, selection_overlap)
from .validation import (CHECKS, DISTANCE_FLAG, TRANSPOSE_FLAG, DistanceValidationError, evaluated_pairs,
                         read_distance, validate_distance)
from .verdict import place, verdicts

__all__ = ["BenchmarkResult", "CHANCE_LABEL", "CHECKS", "CURVE_REFERENCES", "DEFAULT_ENSEMBLE", "DISTANCE_FLAG",
           "DevelopmentPosition", "DirectionEvidence", "development_position", "development_targets", "DistanceValidationError", "SIMILARITY_FLAG", "TRANSPOSE_FLAG", "benchmark",
           "chance_scores", "check_measure_name", "compare_distances", "distance_from_callable", "ensemble_distance",
           "evaluate_measure", "evaluated_pairs", "expected_best_of_k", "gain_curves", "holm", "meta_metric_table",
           "overlap_note", "paired_comparison", "place", "random_distance", "random_floor", "read_distance",
           "reference_evaluations", "scenario_positions", "selection_overlap", "similarity_evidence",
           "validate_distance", "verdicts", "write_random_floor"]
