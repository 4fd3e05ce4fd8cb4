"""Several callables timed side by side in one process."""

import time
from typing import Callable, Dict

from .stats import summary

SWITCH_BLOCK = 4  # runs per callable before switching to the next (the first of each is discarded)


def time_models(pipe_runs: Dict[str, Callable[[], object]], n: int,
                block: int = SWITCH_BLOCK) -> Dict[str, Dict[str, float]]:
    """Runs the callables of ``pipe_runs`` side by side, ``n`` recorded runs each: in rounds,
    each callable ``block`` times in a row, the first run after a switch discarded. ONNX Runtime's
    idle worker threads keep spinning for a while after a run; strict run-by-run alternation
    would charge one session's spinning to the next session's run."""
    for fn in pipe_runs.values():
        fn()
        fn()
    times = {k: [] for k in pipe_runs}  # type: Dict[str, list]
    per_round = max(block - 1, 1)
    rounds = (n + per_round - 1) // per_round
    for _ in range(rounds):
        for k, fn in pipe_runs.items():
            for j in range(block if block > 1 else 1):
                t0 = time.perf_counter()
                fn()
                dt = (time.perf_counter() - t0) * 1e3
                if j > 0 or block <= 1:
                    times[k].append(dt)
    return {k: summary(v[:n]) for k, v in times.items()}
