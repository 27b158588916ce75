"""Evaluation of task selectors on measured transfer outcomes.

:mod:`.affinity` turns a distance matrix into affinities, :mod:`.selection` picks the top-k sources,
:mod:`.meta_metrics` scores them, :mod:`.table` builds the long evaluation table (one row per
selector, scenario, metric, repetition, target and meta metric) and :mod:`.ranking` aggregates it
(win rates, setup stability, bootstrap rankings, rank then mean, scenario similarity).
"""
from .affinity import affinity_from_distance, load_affinities
from .meta_metrics import percentile_ranks, top_k_scores, weightedtau_score
from .outcomes import Outcomes, load_outcomes
from .ranking import (bootstrap_ranking, bootstrap_rankings, rank_then_mean, ranking_summary, scenario_similarity,
                      setup_stability_score, stability_scores, win_rates)
from .selection import SelectionTieError, top_k_indices, top_k_sources
from .table import COLUMNS, evaluate, evaluate_budgets, valid_mask

__all__ = ["affinity_from_distance", "load_affinities", "percentile_ranks", "top_k_scores", "weightedtau_score",
           "Outcomes", "load_outcomes", "bootstrap_ranking", "bootstrap_rankings", "rank_then_mean",
           "ranking_summary", "scenario_similarity", "setup_stability_score", "stability_scores", "win_rates",
           "SelectionTieError", "top_k_indices", "top_k_sources", "COLUMNS", "evaluate", "evaluate_budgets",
           "valid_mask"]
