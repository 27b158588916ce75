"""Cost of the MedUniverse chapter (taskfp_lib.federated) on this machine.

Measures, at the chapter's default size (``CHAPTER_CONFIG``) on the bundled medical demo tasks:
1. one client fine-tuning (wall and CPU seconds of this process, warm);
2. SimMIM pretraining on the server's pool (seconds per epoch);
3. the chapter recipe for ``--seeds`` repetitions (wall seconds per part, and the wall seconds of
   every stage as recorded in the stage checkpoints).

The load average is printed too: on a shared machine every wall time grows with it.

    python benchmarks/bench_federated.py                  # one seed
    python benchmarks/bench_federated.py --seeds 0 1 2 --json bench_federated.json
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

import torch  # noqa: E402

from _report import report  # noqa: E402
from taskfp_lib.federated.data import load_client, load_unlabelled, to_tensor  # noqa: E402
from taskfp_lib.federated.finetune import finetune  # noqa: E402
from taskfp_lib.federated.mim import create_encoder, encoder_state, pretrain_mim  # noqa: E402
from taskfp_lib.federated.recipe import CHAPTER_CONFIG, meduniverse_chapter  # noqa: E402
from taskfp_lib.federated.runstate import read_stages  # noqa: E402
from taskfp_lib.federated.weights import init_head  # noqa: E402
from taskfp_lib.imaging import build_demo_tasks  # noqa: E402


def parts(work: Path, cfg) -> dict:
    """Fine-tuning and MIM costs in this process."""
    paths = build_demo_tasks(work / "tasks", seed=0, image_size=cfg.image_size, per_class=30, pool_fraction=0.3,
                             overwrite=True)
    task = load_client(paths["ct_region"], cfg)
    state = encoder_state(create_encoder(cfg))
    head = init_head(cfg.embed_dim, task.num_classes, 0)
    finetune(state, head, task.x_train, task.y_train, task.x_test, task.y_test, cfg, seed=0)  # warm-up
    w0, c0 = time.perf_counter(), time.process_time()
    finetune(state, head, task.x_train, task.y_train, task.x_test, task.y_test, cfg, seed=0)
    out = {"finetune_wall_s": time.perf_counter() - w0, "finetune_cpu_s": time.process_time() - c0,
           "finetune_images": len(task.y_train), "finetune_epochs": cfg.ft_epochs}
    pool = to_tensor(load_unlabelled([p for k, p in paths.items() if k.startswith("pool/")], cfg.image_size))
    w0, c0 = time.perf_counter(), time.process_time()
    pretrain_mim(pool, cfg, seed=0, epochs=3)
    out.update({"mim_epoch_wall_s": (time.perf_counter() - w0) / 3, "mim_epoch_cpu_s": (time.process_time() - c0) / 3,
                "mim_pool_images": len(pool)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs for the simulated clients")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = CHAPTER_CONFIG
    out = {"load_average_1min_start": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-federated-") as tmp:
        out.update(parts(Path(tmp) / "parts", cfg))
        t0 = time.perf_counter()
        result = meduniverse_chapter(Path(tmp) / "chapter", seeds=args.seeds, cfg=cfg, num_cpus=args.cpus,
                                     progress=False)
        out["chapter_wall_s"] = time.perf_counter() - t0
        out.update({f"chapter_{k}_s": v for k, v in result.timings.items()})
        for seed in args.seeds:
            for meta in read_stages(Path(tmp) / "chapter" / f"run_seed{seed}")[1:]:
                out[f"stage_seed{seed}_{meta['stage']}_wall_s"] = meta["seconds"]
    out["load_average_1min_end"] = os.getloadavg()[0]
    report(out, args.json)


if __name__ == "__main__":
    main()
