"""Cloud scale on paper: an album of 100,000 photos over N Batch containers, simulated.

Nothing runs on AWS. The per-photo cost is measured here (the pipeline on the sample album, in this
process, with the local model, as the container runs it; `--photos-per-s` to give it instead), and
the rest is a discrete-event simulation of the array job: shards wait for one of N containers,
every task pays Fargate's start-up, the container's rate is the lower of its CPU rate and its paced
share of the Rekognition quota (95 % of quota / containers, as submit sets it), Spot reclaims tasks at
random (the retry resumes after the last finished photo, paying another start-up), and the finalize
job streams every output into one zip. Prices are list prices (us-east-1, Linux/x86, 2026) and the
assumptions are flags; the figures are estimates to compare options with, not a bill.

    python -m bench.cloud_scale [--photos 100000] [--measure] [--photos-per-s 1.8] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Fargate, us-east-1, Linux/x86, on demand (per hour).
VCPU_HOUR, GB_HOUR = 0.04048, 0.004445
REKOGNITION_PER_IMAGE = 0.001  # DetectFaces, first million images a month
S3_PUT, S3_GET = 0.005 / 1000, 0.0004 / 1000  # per request, S3 Standard
EGRESS_PER_GB = 0.09  # downloading the zip to the internet (first 10 TB a month)
MAX_ARRAY = 10_000


@dataclass(frozen=True)
class Option:
    shard_size: int = 200
    containers: int = 16
    spot: bool = True
    detector: str = "rekognition"
    quota_tps: float = 50.0


@dataclass(frozen=True)
class World:
    photos: int
    photos_per_s: float  # one 2-vCPU container, CPU-bound (measured)
    start_s: tuple[float, float] = (40.0, 90.0)  # Fargate task start + image pull, uniform (assumption)
    shard_fixed_s: float = 3.0  # input manifest, shard CSVs
    spot_discount: float = 0.70  # Fargate Spot is "up to 70 %" cheaper; the real discount varies
    reclaims_per_task_hour: float = 0.05  # Spot interruptions (AWS publishes no figure; assumption)
    photo_mb: float = 3.5  # an output photo (12 MP JPEG)
    zip_mb_per_s: float = 80.0  # the finalize job streaming S3 -> zip -> S3 (1 vCPU; assumption)
    shard_vcpu: float = 2.0
    shard_gb: float = 8.0
    final_vcpu: float = 1.0
    final_gb: float = 2.0


@dataclass
class Outcome:
    option: Option
    wall_h: float
    final_h: float
    cost: float
    compute: float
    rekognition: float
    egress: float
    reclaims: int
    feasible: str = ""


def simulate(world: World, option: Option, seed: int) -> Outcome:
    rng = random.Random(seed)
    shards = math.ceil(world.photos / option.shard_size)
    if shards > MAX_ARRAY:
        return Outcome(
            option, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, f"{shards} shards > {MAX_ARRAY}"
        )
    running = min(option.containers, shards)
    rate = world.photos_per_s
    if option.detector == "rekognition":
        rate = min(rate, 0.95 * option.quota_tps / running)
    free = [0.0] * running  # when each container slot is free again
    heapq.heapify(free)
    task_seconds, reclaims = 0.0, 0
    for index in range(shards):
        start = heapq.heappop(free)
        todo = min(option.shard_size, world.photos - index * option.shard_size)
        t = start
        while todo > 0:
            t += rng.uniform(*world.start_s) + world.shard_fixed_s
            need = todo / rate
            if option.spot:
                # Time to the next reclaim of this task: exponential.
                until = rng.expovariate(world.reclaims_per_task_hour / 3600.0)
                if until < need:
                    reclaims += 1
                    done = int(until * rate)  # finished photos have records: the retry skips them
                    todo -= done
                    t += until
                    continue
            t += need
            todo = 0
        task_seconds += t - start
        heapq.heappush(free, t)
    shards_end = max(free)
    final_s = rng.uniform(*world.start_s) + world.photos * world.photo_mb / world.zip_mb_per_s
    wall = shards_end + final_s
    per_hour = world.shard_vcpu * VCPU_HOUR + world.shard_gb * GB_HOUR
    compute = task_seconds / 3600 * per_hour * ((1 - world.spot_discount) if option.spot else 1.0)
    compute += final_s / 3600 * (world.final_vcpu * VCPU_HOUR + world.final_gb * GB_HOUR)
    rekognition = world.photos * REKOGNITION_PER_IMAGE if option.detector == "rekognition" else 0.0
    requests = world.photos * (3 * S3_PUT + 3 * S3_GET)  # upload, output, record; and their reads
    egress = world.photos * world.photo_mb / 1024 * EGRESS_PER_GB
    cost = compute + rekognition + requests
    return Outcome(option, wall / 3600, final_s / 3600, cost, compute, rekognition, egress, reclaims)


def measure_photos_per_s(limit: int = 7) -> float:
    """The pipeline on the sample album (one process, local model), scaled to a 2-vCPU container."""
    from batch_job.detect.local import LocalDetector
    from batch_job.pipeline import Context, process_photo
    from batch_job.settings import Settings
    from masks.catalog import load_catalog

    album = ROOT / "examples" / "choshi_trip"
    photos = sorted(p for p in album.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".heic"))[:limit]
    ctx = Context(Settings(seed=1), LocalDetector(), load_catalog().masks)
    process_photo(photos[0].name, photos[0].read_bytes(), ctx)  # warm up the models and mask caches
    started = time.perf_counter()
    for p in photos:
        process_photo(p.name, p.read_bytes(), ctx)
    per_photo = (time.perf_counter() - started) / len(photos)
    return 2.0 / per_photo  # two worker processes on 2 vCPUs


def table(rows: list[Outcome], title: str) -> str:
    lines = [
        f"**{title}**",
        "",
        "| shard size | containers | Spot | detector | quota TPS | wall h | of which finalize | cost $ | "
        "compute $ | Rekognition $ | reclaims |",
        "|---:|---:|:-:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o = r.option
        if r.feasible:
            lines.append(
                f"| {o.shard_size} | {o.containers} | {'yes' if o.spot else 'no'} | {o.detector} | "
                f"{o.quota_tps:g} | – | – | – | – | – | {r.feasible} |"
            )
            continue
        lines.append(
            f"| {o.shard_size} | {o.containers} | {'yes' if o.spot else 'no'} | {o.detector} | {o.quota_tps:g} | "
            f"{r.wall_h:.1f} | {r.final_h:.1f} | {r.cost:.0f} | {r.compute:.1f} | {r.rekognition:.0f} | {r.reclaims} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--photos-per-s", type=float, default=0.0, help="one 2-vCPU container (default: measure)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rate = args.photos_per_s or measure_photos_per_s()
    world = World(photos=args.photos, photos_per_s=rate)
    how = "given" if args.photos_per_s else "measured on the sample album, this machine"
    print(f"{args.photos:,} photos; one 2-vCPU container: {rate:.2f} photos/s ({how}); seed {args.seed}\n")
    base = Option()
    groups = {
        "shard size (16 containers, Spot, Rekognition at 50 TPS)": [
            replace(base, shard_size=s) for s in (5, 25, 50, 200, 1000, 5000)
        ],
        "containers (shards of 200)": [replace(base, containers=c) for c in (4, 16, 64, 256)],
        "Rekognition quota (the lowest regional default is 5 TPS)": [
            replace(base, quota_tps=q, containers=c) for q, c in ((5, 4), (5, 16), (20, 16), (50, 64), (100, 64))
        ],
        "Spot or on demand, Rekognition or the local model only": [
            replace(base, spot=s, detector=d) for s in (True, False) for d in ("rekognition", "local")
        ],
    }
    for title, options in groups.items():
        print(table([simulate(world, o, args.seed) for o in options], title))
        print()
    egress = simulate(world, base, args.seed).egress
    print(f"Not in the costs above: downloading the zip ({args.photos * world.photo_mb / 1024:,.0f} GB) "
          f"to the internet, about ${egress:,.0f}; S3 storage for the retention days.")  # fmt: skip


if __name__ == "__main__":
    main()
