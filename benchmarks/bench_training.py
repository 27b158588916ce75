"""Cost of one training of the transfer pipelines on this machine.

Measures
1. the training throughput of the paper's recipe (resnet34, 256 x 256, batch 32, AdamW step) on
   ready-made tensors, and the resulting estimate for one paper training (``--epochs`` epochs
   over the 800 images of a shrunk target plus the test pass over 200 images);
2. one complete Lightning run of ``run_baseline`` at the paper's resolution on a small image folder
   (``--images`` images, one epoch): data loading, augmentation, Lightning overhead, test metrics;
3. one run of the demo grid's tiny setting (test_resnet, 32 px, 4 epochs, 100 images);
4. with ``--demo-grid``: the whole grid of the transfer demo notebook (114 trainings), wall and CPU
   seconds, and the AdamW step of the demo model with ``foreach=True`` (what the pipelines use)
   against the single-tensor loop (torch's CPU default).

    python benchmarks/bench_training.py                     # CPU, all threads
    python benchmarks/bench_training.py --threads 1 --json bench_training.json
    python benchmarks/bench_training.py --accelerator gpu --device cuda
    python benchmarks/bench_training.py --threads 1 --demo-grid

The number of epochs of the paper's runs is not stated in the paper; the estimate scales linearly.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import torch
from PIL import Image

from taskfp_lib.transfer.config import TrainConfig
from taskfp_lib.transfer.demo import write_digit_task, write_digit_tasks
from taskfp_lib.transfer.models import ClassifierModule, create_backbone
from taskfp_lib.transfer.scenarios.baseline import run_baseline


def make_folder(root: Path, count: int, size: int = 320, seed: int = 0) -> Path:
    """``count`` JPEG images (smooth random content) in two classes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        d = root / f"class_{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BILINEAR).save(d / f"{i:05d}.jpg", quality=90)
    return root


def step_throughput(arch: str, image_size: int, batch_size: int, steps: int, device: str) -> dict:
    """Images/s of forward+backward+AdamW (training) and of forward only (testing)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(create_backbone(arch, pretrained=False), torch.nn.LazyLinear(2)).to(device)
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    y = torch.randint(0, 2, (batch_size,), device=device)
    model(x)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def train_step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    train_step()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step()
    sync()
    train_ips = steps * batch_size / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
        sync()
    test_ips = steps * batch_size / (time.perf_counter() - t0)
    return {"train_images_per_s": train_ips, "test_images_per_s": test_ips}


def adamw_step_seconds(foreach: bool, steps: int = 200) -> float:
    """Median seconds of one AdamW update of the demo model (test_resnet, 2 heads' worth of parameters)."""
    torch.manual_seed(0)
    model = ClassifierModule("test_resnet", num_classes=[3], pretrained=False)
    for q in model.parameters():
        q.grad = torch.randn_like(q)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.02, foreach=foreach)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def demo_grid(tmp: Path) -> dict:
    """Wall and CPU seconds of the transfer demo notebook's grid (its CI parameters)."""
    from taskfp_lib.transfer import GridSpec, policy_file, run_grid

    tasks = ["digits_low_high", "digits_parity", "digits_mod3", "digits_round"]
    stand_ins = {"digits_low_high": "mnist_digit_classification", "digits_parity": "svhn",
                 "digits_mod3": "emnist_digit_classification", "digits_round": "cifar10_object_classification"}
    dirs = write_digit_tasks(tmp / "grid_tasks", tasks, size=32, max_per_class=50, seed=0)
    cfg = TrainConfig(arch="test_resnet", pretrained=False, image_size=32, max_epochs=4, batch_size=8, lr=0.01,
                      lr_find=False, shrink_train=40, shrink_threshold=90, accelerator="cpu", num_threads=1,
                      cache_images=True)
    spec = GridSpec(tasks={n: str(p) for n, p in dirs.items()}, targets=["digits_parity", "digits_round"],
                    sources=tasks, architectures=["test_resnet", "test_efficientnet"], repetitions=[0, 1, 2], seed=0,
                    train=cfg, policies={s: [str(policy_file(stand_ins[s], r)) for r in range(3)] for s in tasks})
    wall, cpu = time.perf_counter(), time.process_time()
    counts = run_grid(spec, tmp / "grid_work", progress=False)
    return {"trainings": counts["ran"], "wall_seconds": time.perf_counter() - wall,
            "cpu_seconds": time.process_time() - cpu, "load_average_1min": os.getloadavg()[0]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--images", type=int, default=80, help="images of the end-to-end run (80: 64 train = 2 batches)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs assumed for one paper training")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the numbers to this JSON file")
    parser.add_argument("--demo-grid", action="store_true", help="also time the demo notebook's grid and AdamW")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    out: dict = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                             "cpu_count": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
                             "device": args.device}}

    step = step_throughput(args.arch, args.image_size, args.batch_size, args.steps, args.device)
    train_s = args.epochs * 800 / step["train_images_per_s"] + 200 / step["test_images_per_s"]
    out["recipe_step"] = {"arch": args.arch, "image_size": args.image_size, "batch_size": args.batch_size, **step,
                          "epochs_assumed": args.epochs,
                          "estimated_seconds_per_paper_training": train_s}
    print(f"{args.arch} @ {args.image_size}px, batch {args.batch_size}: "
          f"{step['train_images_per_s']:.1f} train img/s, {step['test_images_per_s']:.1f} test img/s "
          f"({threads} threads, {args.device})")
    print(f"  -> one shrunk-target training ({args.epochs} epochs x 800 images + 200 test images): "
          f"{train_s / 60:.1f} min")

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "task", args.images)
        cfg = TrainConfig(arch=args.arch, pretrained=False, image_size=args.image_size, max_epochs=1,
                          batch_size=args.batch_size, lr_find=False, accelerator=args.accelerator,
                          num_threads=args.threads)
        t0 = time.perf_counter()
        result = run_baseline(folder, cfg, seed=0)
        e2e = time.perf_counter() - t0
        trained = result.n_train // args.batch_size * args.batch_size if result.n_train > args.batch_size \
            else result.n_train  # the last incomplete batch is dropped
        out["end_to_end"] = {"images": args.images, "train_images": trained, "test_images": result.n_test,
                             "epochs": 1, "seconds": e2e, "seconds_per_train_image": e2e / trained}
        print(f"run_baseline, {trained} train + {result.n_test} test images, 1 epoch: {e2e:.1f} s "
              f"({e2e / trained:.3f} s per training image, Lightning, data loading and testing included)")

        demo = write_digit_task("digits_low_high", tmp, size=32, max_per_class=50)
        cfg = TrainConfig(arch="test_resnet", pretrained=False, image_size=32, max_epochs=4, batch_size=8, lr=1e-2,
                          lr_find=False, accelerator="cpu", num_threads=args.threads or 1, cache_images=True)
        run_baseline(demo, cfg, seed=0)  # warm-up (imports, first allocation)
        t0 = time.perf_counter()
        result = run_baseline(demo, cfg, seed=0)
        out["demo_training"] = {"arch": "test_resnet", "image_size": 32, "epochs": 4, "train_images": result.n_train,
                                "seconds": time.perf_counter() - t0}
        print(f"demo setting (test_resnet, 32 px, 4 epochs, {result.n_train} images): "
              f"{out['demo_training']['seconds']:.2f} s per training")
        if args.demo_grid:
            loop, multi = adamw_step_seconds(foreach=False), adamw_step_seconds(foreach=True)
            out["adamw_step"] = {"loop_seconds": loop, "foreach_seconds": multi, "speed_up": loop / multi}
            print(f"AdamW step of the demo model: {loop * 1e3:.2f} ms loop, {multi * 1e3:.2f} ms foreach "
                  f"({loop / multi:.2f}x)")
            out["demo_grid"] = demo_grid(Path(tmp))
            print(f"demo grid: {out['demo_grid']['trainings']} trainings in {out['demo_grid']['wall_seconds']:.0f} s "
                  f"({out['demo_grid']['cpu_seconds']:.0f} s CPU; load average {out['demo_grid']['load_average_1min']:.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
