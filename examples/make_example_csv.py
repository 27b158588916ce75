"""Write a small example distance CSV in the published layout (71 source rows x 127 target columns).

    python examples/make_example_csv.py my_distance.csv [--kind sqrt-fid|random|ensemble] [--seed 0]

``sqrt-fid``: sqrt(FID) + 1 from the published FID file (a "new" measure that is a monotone transform of a
published one, so its selections equal FID's); ``random``: the seeded random distance of the sanity floor;
``ensemble``: 0.5 bKLD(small,target) + 0.5 Manual z-scored affinities, as a distance.
"""
from __future__ import annotations

import argparse

from taskfp_lib import benchmark as bm


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path")
    p.add_argument("--kind", choices=["sqrt-fid", "random", "ensemble"], default="sqrt-fid")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.kind == "sqrt-fid":
        from taskfp_lib.upstream.readers import load_distance

        dist = load_distance("FID") ** 0.5 + 1.0
    elif args.kind == "random":
        dist = bm.random_distance(args.seed)
    else:
        dist = bm.ensemble_distance()
    bm.validate_distance(dist)
    dist.to_csv(args.path)
    print(f"{args.path}: {dist.shape[0]} sources x {dist.shape[1]} targets ({args.kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
