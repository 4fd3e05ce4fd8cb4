"""``fassst-rt segment SOURCE ... --ray [ADDRESS] -o DIR``: the same
segmentation as ``fassst-rt segment``, on a Ray cluster (fassst_rt.distributed,
docs/distributed.md). Writes DIR/frames (one row per frame, Parquet or JSON
lines), DIR/coco_results.json and DIR/coco_images.json; reports each failed
frame or file on stderr and ends with the summary ``segment`` prints, exit
status 1 when any failed."""

import sys

# options of `segment` that --ray does not take, with why
_NOT_WITH_RAY = (
    ("json", "--json (the rows under -o DIR/frames hold the same instances)"),
    ("track", "--track (tracking needs a stream's frames in order, on one machine)"),
    ("jsonl", "--jsonl (use --format jsonl)"),
    ("threads", "--threads (use --cpus-per-actor: each actor's threads are its CPUs)"),
)


def run_on_ray(args, tile) -> int:
    from ..distributed import connect, run_job
    from ..models import resolve_model
    from .segment import _Tally
    given = [text for name, text in _NOT_WITH_RAY if getattr(args, name)]
    if args.mode != "throughput":
        given.append("--mode latency (a batch job reads every frame)")
    if given:
        raise ValueError("--ray does not take {}".format("; ".join(given)))
    if not args.output:
        raise ValueError("--ray needs -o DIR: the folder the result rows and the COCO results are written to")
    if args.actors is not None and args.actors < 1:
        raise ValueError("--actors must be >= 1, got {}".format(args.actors))
    model = resolve_model(args.model)
    connect(args.ray or None)
    actors = args.actors or _actors_for_cluster(args.cpus_per_actor)
    options = {"score_threshold": args.score_threshold, "nms_threshold": args.nms_threshold,
               "max_instances": args.max_instances, "tile": tile, "channel_order": "rgb" if args.rgb else "bgr"}
    result = run_job(list(args.sources), args.output, model, fmt=args.format, actors=actors,
                     cpus_per_actor=args.cpus_per_actor, gpus_per_actor=args.gpus_per_actor,
                     batch_size=args.batch_size, device=args.device, options=options, readers=args.readers)
    tally = _Tally("frame")
    tally.ok = result.ok
    for source, frame, error in result.failed:
        item = source if frame == 0 else "{} frame {}".format(source, frame)
        tally.failed.append((item, error))
        print("fassst-rt segment: error: {}".format(error), file=sys.stderr)
    print("{}; {} actors, {:.1f} s; results in {}".format(tally.summary(), actors, result.seconds, args.output))
    return tally.status()


def _actors_for_cluster(cpus_per_actor: float) -> int:
    import ray
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // cpus_per_actor))
