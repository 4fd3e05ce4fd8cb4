"""How a batch larger than an engine's profile runs: in chunks of at most
the profile's maximum, over consecutive rows of the same device buffers.

TensorRT requires every tensor address it is given to be a multiple of 256
bytes. Row ``start`` of a tensor lies ``start * row_nbytes`` bytes into its
buffer, which is not always such a multiple (the paper's models' ``boxes``:
36 cells x 4 x 4 bytes = 576 bytes a row, so a chunk starting at row 1-3 or
5-7 is misaligned). Such a tensor is *staged* for that chunk: the engine
reads or writes an aligned scratch buffer, and the rows are copied between
it and their place on the device.

Plain Python: the plan is computed and tested without TensorRT or a GPU.
"""

from typing import Dict, List, NamedTuple, Tuple

ALIGNMENT = 256  # bytes: TensorRT's rule for tensor addresses (setTensorAddress)


class Chunk(NamedTuple):
    start: int                # first row
    rows: int                 # how many
    staged: Tuple[str, ...]   # tensors whose row `start` is not ALIGNMENT-aligned


def plan_chunks(rows: int, max_rows: int, row_nbytes: Dict[str, int]) -> List[Chunk]:
    """The chunks that run ``rows`` rows with at most ``max_rows`` each, and
    which tensors each must stage (buffers themselves start aligned: cudaMalloc
    returns 256-byte aligned memory)."""
    if max_rows < 1:
        raise ValueError("max_rows must be >= 1, got {}".format(max_rows))
    chunks = []
    for start in range(0, max(0, rows), max_rows):
        staged = tuple(sorted(name for name, nbytes in row_nbytes.items() if (start * nbytes) % ALIGNMENT))
        chunks.append(Chunk(start, min(max_rows, rows - start), staged))
    return chunks
