"""The book chapter's experiment: MedUniverse on the bundled medical demo tasks, next to task
fingerprinting on the same clients.

For every repetition seed: SimMIM pretraining of the base encoder on the server's pool (the demo
tasks' source-disjoint ``pool/`` folders), the stage-wise federation in Flower's simulation
engine, then the fingerprint route with the same MIM encoder as probe (selected source ->
pretraining transfer). Every client is evaluated the same way everywhere: the stage-independent
evaluation head and fine-tuning seed of :func:`~taskfp_lib.federated.strategy.stage_head` /
:func:`~taskfp_lib.federated.strategy.finetune_seed`, accuracy on the held-out split. Each run
directory is resumable, so a killed chapter run continues where it stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .config import FedConfig

__all__ = ["CHAPTER_CONFIG", "ChapterResult", "meduniverse_chapter", "stage_summary", "paired_tests",
           "sharing_table"]

#: the chapter's default size: fits the book build on 2 CPU cores (larger settings are parameters)
CHAPTER_CONFIG = FedConfig(image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, mim_epochs=10,
                           ft_epochs=6, stages=4, clients_per_stage=2, aggregation="fedavg", selection="cycle",
                           evaluate=True, test_fraction=0.25, pool_fraction=0.0)


@dataclass
class ChapterResult:
    """Tables of one chapter run (``stages`` and ``comparison`` are the results files)."""

    stages: pd.DataFrame
    comparison: pd.DataFrame
    mim_losses: pd.DataFrame
    tasks: list[str]
    config: FedConfig
    timings: dict[str, float] = field(default_factory=dict)


def _build_tasks(work: Path, cfg: FedConfig, per_class: int, data_seed: int, pool_fraction: float):
    from ..imaging import build_demo_tasks

    paths = build_demo_tasks(work / "tasks", seed=data_seed, image_size=cfg.image_size,
                             per_class=per_class, pool_fraction=pool_fraction, overwrite=True)
    tasks = [str(p) for k, p in paths.items() if not k.startswith("pool/")]
    pools = [str(p) for k, p in paths.items() if k.startswith("pool/")]
    return tasks, pools


def _mim(work: Path, pool: np.ndarray, cfg: FedConfig) -> tuple[dict, list[float]]:
    """The seed's MIM encoder, from ``work/mim_seed<s>.safetensors`` when that file exists."""
    from .data import to_tensor
    from .mim import encoder_state, pretrain_mim
    from .weights import load_checkpoint, save_checkpoint

    path = work / f"mim_seed{cfg.seed}.safetensors"
    if path.is_file():
        state, meta = load_checkpoint(path)
        if meta.get("config_hash") == cfg.result_hash():
            return state, list(meta["losses"])
    encoder, losses = pretrain_mim(to_tensor(pool), cfg, seed=cfg.seed)
    state = encoder_state(encoder)
    save_checkpoint(path, state, {"format": "taskfp-mim-encoder", "config": cfg.to_dict(),
                                  "config_hash": cfg.result_hash(), "losses": losses})
    return state, losses


def _federate(work: Path, tasks: Sequence[str], cfg: FedConfig, initial: dict, num_cpus: int | None) -> pd.DataFrame:
    from .engines import run_simulation_engine
    from .runstate import read_summary, stage_table
    from .weights import CheckpointError

    run_dir = work / f"run_seed{cfg.seed}"
    try:
        done = read_summary(run_dir)["completed_stages"] >= cfg.stages
    except CheckpointError:
        done = False
    if not done:
        run_simulation_engine(tasks, cfg, run_dir, initial, num_cpus=num_cpus)
    table = stage_table(run_dir)
    return table[table.stage <= cfg.stages].drop(columns="stage_seconds")


def _fingerprint_route(tasks, pool, cfg: FedConfig, initial: dict, stages: pd.DataFrame, draws: int) -> pd.DataFrame:
    """Per target: selected source, bKLD, and the held-out accuracy after transfer from it."""
    from .compare import MIMProbe, fingerprint_clients, fingerprint_nbytes, select_sources, source_transfer
    from .data import load_client
    from .strategy import finetune_seed, stage_head

    clients = {c.name: c for c in (load_client(t, cfg) for t in tasks)}
    fps, _ = fingerprint_clients(MIMProbe(initial, cfg), list(clients.values()), pool, n=draws, seed=cfg.seed)
    sizes = {fp.task: fingerprint_nbytes(fp) for fp in fps}
    chosen = select_sources(fps)
    acc = stages.set_index(["stage", "task"]).accuracy
    cache: dict = {}
    rows = []
    for r in chosen.itertuples():
        target, source = clients[r.target], clients[r.source]
        transferred = source_transfer(initial, source, target, cfg, stage_head(cfg, target.name, target.num_classes, 0),
                                      finetune_seed(cfg.seed, 0, target.name), finetune_seed(cfg.seed, -1, source.name),
                                      cache)
        rows.append({"seed": cfg.seed, "target": r.target, "selected_source": r.source, "bkld": r.distance,
                     "mim_accuracy": float(acc[(0, r.target)]), "fingerprint_accuracy": transferred,
                     "federated_accuracy": float(acc[(cfg.stages, r.target)]),
                     "fingerprint_bytes": sizes[r.target]})
    return pd.DataFrame(rows)


def _upload_bytes(stages: pd.DataFrame, initial: dict) -> pd.Series:
    """Bytes of encoder weights each site sent (float32 tensors, once per stage it trained in)."""
    from .weights import state_nbytes

    trained = stages[stages.trained].groupby(["seed", "task"]).size()
    return trained * state_nbytes(initial)


def _one_seed(work, tasks, pool, cfg, draws, num_cpus, timings) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    t0 = time.perf_counter()
    initial, losses = _mim(work, pool, cfg)
    t1 = time.perf_counter()
    stages = _federate(work, tasks, cfg, initial, num_cpus).assign(seed=cfg.seed)
    t2 = time.perf_counter()
    comparison = _fingerprint_route(tasks, pool, cfg, initial, stages, draws)
    uploads = _upload_bytes(stages, initial)
    comparison["federated_upload_bytes"] = [int(uploads.get((cfg.seed, t), 0)) for t in comparison.target]
    timings.update({f"mim_seed{cfg.seed}": t1 - t0, f"federation_seed{cfg.seed}": t2 - t1,
                    f"fingerprints_seed{cfg.seed}": time.perf_counter() - t2})
    return stages, comparison, losses


def meduniverse_chapter(work_dir: str | Path, seeds: Sequence[int] = (0, 1, 2), cfg: FedConfig = CHAPTER_CONFIG,
                        per_class: int = 30, data_seed: int = 0, pool_fraction: float = 0.3,
                        fingerprint_draws: int = 500, num_cpus: int | None = None,
                        progress: bool = True) -> ChapterResult:
    """Run the chapter: demo tasks, then per seed MIM -> federation -> fingerprint comparison.

    Parameters
    ----------
    work_dir : path
        Demo tasks, MIM encoders and run directories (resumed when present).
    seeds : sequence of int
        Repetitions; each seeds MIM, heads, client order and fine-tuning (the data stay fixed).
    cfg : FedConfig
        Model, MIM, fine-tuning and federation options (default :data:`CHAPTER_CONFIG`).
    per_class, data_seed, pool_fraction
        :func:`taskfp_lib.imaging.build_demo_tasks` options (``pool_fraction``: the source units
        reserved for the server's MIM pool).
    fingerprint_draws : int
        Draws per fingerprint.
    num_cpus : int, optional
        CPUs for the simulated clients.
    """
    from tqdm.auto import tqdm

    from .data import load_unlabelled

    work = Path(work_dir)
    t0 = time.perf_counter()
    tasks, pools = _build_tasks(work, cfg, per_class, data_seed, pool_fraction)
    pool = load_unlabelled(pools, cfg.image_size)
    timings: dict[str, float] = {"build_tasks": time.perf_counter() - t0}
    stages, comparison, losses = [], [], []
    for seed in tqdm(list(seeds), desc="MedUniverse repetitions", unit="seed", disable=not progress):
        s, c, lo = _one_seed(work, tasks, pool, cfg.replace(seed=int(seed)), fingerprint_draws, num_cpus, timings)
        stages.append(s)
        comparison.append(c)
        losses += [{"seed": int(seed), "epoch": i + 1, "loss": v} for i, v in enumerate(lo)]
    timings["total"] = time.perf_counter() - t0
    stage_df = pd.concat(stages, ignore_index=True)
    base = stage_df[stage_df.stage == 0].set_index(["seed", "task"]).accuracy
    stage_df["gain"] = stage_df.accuracy.to_numpy() - base.loc[list(zip(stage_df.seed, stage_df.task))].to_numpy()
    cols = ["seed", "stage", "task", "trained", "accuracy", "balanced_accuracy", "gain", "n_test"]
    return ChapterResult(stage_df[cols].sort_values(["seed", "stage", "task"], ignore_index=True),
                         pd.concat(comparison, ignore_index=True), pd.DataFrame(losses),
                         [Path(t).name for t in tasks], cfg, timings)


def stage_summary(stages: pd.DataFrame) -> pd.DataFrame:
    """Accuracy gain over the MIM baseline per stage: mean over tasks and seeds, and the spread over seeds.

    Columns: stage, mean_gain, sd_over_seeds (sample sd of the per-seed task means), n_seeds, n_tasks.
    """
    per_seed = stages.groupby(["stage", "seed"]).gain.mean().reset_index()
    out = per_seed.groupby("stage").gain.agg(mean_gain="mean", sd_over_seeds="std", n_seeds="count").reset_index()
    out["n_tasks"] = stages.groupby("stage").task.nunique().to_numpy()
    return out


def paired_tests(stages: pd.DataFrame, comparison: pd.DataFrame) -> pd.DataFrame:
    """Paired tests across tasks (one value per task: the mean over seeds).

    Rows: final-stage federated accuracy vs. the MIM baseline, and federated vs. fingerprint
    transfer. Wilcoxon signed-rank (two-sided, exact null distribution for n <= 25, zero differences
    dropped) and the paired t-test; ``n`` is the number of tasks.
    """
    from scipy import stats

    last = int(stages.stage.max())
    final = stages[stages.stage == last].groupby("task").accuracy.mean()
    base = stages[stages.stage == 0].groupby("task").accuracy.mean()
    per_task = comparison.groupby("target")[["fingerprint_accuracy", "federated_accuracy"]].mean()
    pairs = {f"federated (stage {last}) vs MIM baseline": (final, base.loc[final.index]),
             "federated vs fingerprint-selected transfer": (per_task.federated_accuracy,
                                                            per_task.fingerprint_accuracy)}
    rows = []
    for name, (a, b) in pairs.items():
        diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        nonzero = diff[diff != 0]
        w = stats.wilcoxon(nonzero, method="exact") if len(nonzero) else None
        t = stats.ttest_rel(np.asarray(a, float), np.asarray(b, float))
        rows.append({"comparison": name, "n": len(diff), "n_nonzero": len(nonzero), "mean_difference": diff.mean(),
                     "wilcoxon_W": float(w.statistic) if w else np.nan, "wilcoxon_p": float(w.pvalue) if w else 1.0,
                     "t": float(t.statistic), "t_p": float(t.pvalue)})
    return pd.DataFrame(rows)


def sharing_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """What leaves a site in each approach, how many bytes (mean per site and run), what it reveals."""
    fed = comparison.federated_upload_bytes
    return pd.DataFrame([
        {"approach": "MedUniverse (federated)",
         "leaves the site": "fine-tuned encoder weights (float32) per stage the site trains in; task name, class "
                            "count, split sizes; accuracy and loss",
         "bytes per site": float(fed.mean()),
         "what can be inferred": "the update (returned minus received weights) is an aggregate of a few gradient "
                                 "steps on the site's images: open to membership inference and gradient-inversion "
                                 "reconstruction, strongest for small sites; the head stays local"},
        {"approach": "task fingerprinting",
         "leaves the site": "one fingerprint: per-feature histograms (100 and 1000 bins), mean and covariance of "
                            "probe features over >= 100 draws of >= 10 images; task name and sizes",
         "bytes per site": float(comparison.fingerprint_bytes.mean()),
         "what can be inferred": "the distribution of probe features (domain, modality, intensity statistics); no "
                                 "per-image feature, no weights; labels only through the class count"},
    ])
