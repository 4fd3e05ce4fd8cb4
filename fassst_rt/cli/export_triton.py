"""``fassst-rt export-triton MODEL OUT_DIR``: a Triton Inference Server model
repository entry (Python backend wrapping the Segmenter, dynamic batching, the
model files copied), written atomically (docs/triton.md)."""


def add_arguments(parser) -> None:
    parser.add_argument("model", metavar="MODEL", help="NAME.onnx (with NAME.tail.onnx) or NAME.plan (with "
                                                       "NAME.tail.plan and NAME.plan.json)")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="the model repository (created if missing); the "
                                                           "entry is OUT_DIR/NAME")
    parser.add_argument("--name", default=None, help="Triton model name (default: MODEL's file stem)")
    parser.add_argument("--max-batch-size", type=int, default=8, help="frames per Triton batch (default 8)")
    parser.add_argument("--queue-delay-us", type=int, default=2000,
                        help="dynamic batching: the longest a request waits for others (default 2000)")
    parser.add_argument("--instances", type=int, default=1, help="model instances (Segmenters) (default 1)")
    parser.add_argument("--gpu", dest="gpu", action="store_true", default=None,
                        help="KIND_GPU instances (default for a .plan model)")
    parser.add_argument("--cpu", dest="gpu", action="store_false", help="KIND_CPU instances (default for .onnx)")
    parser.add_argument("--score-threshold", type=float, default=None)
    parser.add_argument("--nms-threshold", type=float, default=None)
    parser.add_argument("--max-instances", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of each instance's backend")
    parser.add_argument("--rgb", action="store_true", help="clients send RGB frames (default: BGR)")


def run(args) -> int:
    from ..triton.export import export_repository
    options = {"score_threshold": args.score_threshold, "nms_threshold": args.nms_threshold,
               "max_instances": args.max_instances, "num_threads": args.threads,
               "channel_order": "rgb" if args.rgb else None}
    path = export_repository(args.model, args.out_dir, name=args.name, max_batch_size=args.max_batch_size,
                             queue_delay_us=args.queue_delay_us, instances=args.instances, gpu=args.gpu,
                             options=options)
    print("Triton model repository entry written to {} (serve with: tritonserver --model-repository {})".format(
        path, args.out_dir))
    return 0
