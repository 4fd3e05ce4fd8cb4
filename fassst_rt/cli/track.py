"""``fassst-rt track SOURCE``: a video file, a camera, a URL or a GStreamer
pipeline segmented as a stream with identities across frames: an annotated
video (``-o``), one JSON line per frame (``--jsonl``), the MOT Challenge text
format (``--mot``). ``fassst-rt segment SOURCE --track`` with the tracking
outputs; docs/streams.md."""

from . import segment


def add_arguments(parser) -> None:
    segment.add_arguments(parser)
    parser.add_argument("--mot", default=None, metavar="PATH",
                        help="the tracks in the MOT Challenge text format "
                             "(frame,id,left,top,width,height,score,-1,-1,-1)")
    parser.set_defaults(track=True)


def run(args) -> int:
    args.track = True
    sources = list(args.sources)
    if len(sources) != 1 or not segment.is_stream_source(sources[0]):
        raise ValueError("track needs one video file, camera, URL or gst: pipeline, got {}".format(" ".join(sources)))
    return segment.run(args)
