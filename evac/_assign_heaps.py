"""Heaps and constants shared by the assignment kernels (``evac._assign_*``).

All over plain arrays and integer times (quanta, as in ``evac._kernels``). Everything here is
compiled without Numba's reference counting (``_nrt=False``): these functions allocate nothing
and only touch arrays their caller owns. With it, every array handed to a helper is counted in
and out on each call, measured at 20 times the cost of a heap step; without it, LLVM inlines
the small helpers and the loops run as if written out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.int64(1) << 62  # larger than any sum of times; never overflows when added to once
BIAS = np.int64(1) << 30  # keys of member offers must lie in [-BIAS, BIAS)
LOW32 = (np.int64(1) << 32) - 1
K, LIMIT, N_SHELTERS, SHIFT, BOUND = 0, 1, 2, 3, 4  # entries of ``params``
START, SIZE = 0, 1  # rows of ``segs``
NEXT = 1  # row of ``sources``: START, then each shelter's first group that may have people
PI, DIST, PRED_NODE, PRED_ITEM, DONE = 0, 1, 2, 3, 4  # rows of ``labels``


# --- heaps ----------------------------------------------------------------------------------
#
# A two-row heap is (2, H) int64, keys in row 0 and values in row 1, ordered by (key, value)
# and indexed in place (heap[0, i]). A segment heap is packed integers at arr[base : base +
# size], one array holding many.


@njit(cache=True, _nrt=False)
def _h_before(heap, i, key, val):
    """Whether entry i orders before (key, val)."""
    return heap[0, i] < key or (heap[0, i] == key and heap[1, i] <= val)


@njit(cache=True, _nrt=False)
def _h_sift_up(heap, i, key, val):
    """Place (key, val) at position i or above."""
    while i > 0:
        parent = (i - 1) >> 1
        if _h_before(heap, parent, key, val):
            break
        heap[0, i], heap[1, i] = heap[0, parent], heap[1, parent]
        i = parent
    heap[0, i], heap[1, i] = key, val


@njit(cache=True, _nrt=False)
def _h_sift_down(heap, i, size, key, val):
    """Place (key, val) at position i or below in a heap of ``size`` entries."""
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and not _h_before(heap, child, heap[0, child + 1], heap[1, child + 1]):
            child += 1
        if not _h_before(heap, child, key, val):
            break
        heap[0, i], heap[1, i] = heap[0, child], heap[1, child]
        i = child
    heap[0, i], heap[1, i] = key, val


@njit(cache=True, _nrt=False)
def _h_pop(heap, size):
    """Remove the root of a heap of ``size`` > 0 entries; return its (key, val)."""
    key, val = heap[0, 0], heap[1, 0]
    if size > 1:
        _h_sift_down(heap, 0, size - 1, heap[0, size - 1], heap[1, size - 1])
    return key, val


@njit(cache=True, _nrt=False)
def _seg_push(arr, base, size, x):
    """Sift x up into the segment heap of ``size`` entries at ``arr[base:]``."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if arr[base + parent] <= x:
            break
        arr[base + i] = arr[base + parent]
        i = parent
    arr[base + i] = x


@njit(cache=True, _nrt=False)
def _seg_sift_down(arr, base, i, size, x):
    """Place x at position i or below in the segment heap of ``size`` entries."""
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and arr[base + child + 1] < arr[base + child]:
            child += 1
        if x <= arr[base + child]:
            break
        arr[base + i] = arr[base + child]
        i = child
    arr[base + i] = x
