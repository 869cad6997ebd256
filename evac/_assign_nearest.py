"""Each node's k nearest shelters in one search (capacity-aware assignment, ``evac.assign``).

``k_nearest_sources``: a multi-source label-setting search on the reversed graph in which a
node may be settled once by each of up to k distinct sources, so each node learns its k
nearest shelters in increasing time, in one search instead of one per shelter.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from evac._kernels import UNREACHED

MAX_RING = 1 << 20  # longest edge (quanta) for the bucket ring, as in ``evac.solver``

# --- k nearest sources ----------------------------------------------------------------------


@njit(cache=True, _nrt=False)
def _settled_by(out_source, z, count, s):
    """Whether node z is already settled by source s (k is small: a scan)."""
    for i in range(count):  # noqa: SIM110 - a plain loop compiles; a generator may not
        if out_source[z, i] == s:
            return True
    return False


@njit(cache=True, _nrt=False)
def _settle(v, s, d, out_source, out_units, count):
    """Settle node v by source s at time d unless it is full or has s; return whether it did."""
    c = count[v]
    if c == out_source.shape[1] or _settled_by(out_source, v, c, s):
        return False
    out_source[v, c], out_units[v, c] = s, d
    count[v] = c + 1
    return True


@njit(cache=True, _nrt=False)
def _wanted(z, s, nd, out_source, count):
    """Whether an offer of source s at time nd to node z is worth queueing."""
    return (
        nd < UNREACHED
        and count[z] < out_source.shape[1]
        and not _settled_by(out_source, z, count[z], s)
    )


@njit(cache=True, _nrt=False)
def _k_nearest_ring(  # noqa: PLR0913, PLR0917 - CSR, outputs and queue
    rev_indptr, rev_indices, rev_weight, out_source, out_units, count, head, pool, state
):
    """Settle entries bucket by bucket (Dial); return 0 when done, 1 when ``pool`` may be too
    small for the next settlement (the caller grows it and calls again: the state is all in
    the arrays).

    head (B,) int64 is a ring of bucket lists (B a power of two above the longest edge, so each
    bucket holds one exact time); pool (P, 3) int64 holds entries (node, source, next), free
    ones chained from ``state[2]``; state is [time, queued, free head, used, largest
    in-degree] (a settlement queues at most that many entries).
    """
    mask = head.size - 1
    d, queued, free, used, top = state[0], state[1], state[2], state[3], state[4]
    while queued > 0:
        b = d & mask
        while head[b] >= 0:
            if used + top > pool.shape[0]:
                state[0], state[1], state[2], state[3] = d, queued, free, used
                return 1
            e = head[b]
            head[b] = pool[e, 2]
            queued -= 1
            v, s = pool[e, 0], pool[e, 1]
            pool[e, 2] = free
            free = e
            if not _settle(v, s, d, out_source, out_units, count):
                continue
            for j in range(rev_indptr[v], rev_indptr[v + 1]):
                z = rev_indices[j]
                nd = d + rev_weight[j]
                if _wanted(z, s, nd, out_source, count):
                    n = free
                    if n >= 0:
                        free = pool[n, 2]
                    else:
                        n = used
                        used += 1
                    pool[n, 0], pool[n, 1], pool[n, 2] = z, s, head[nd & mask]
                    head[nd & mask] = n
                    queued += 1
        d += 1
    return 0


@njit(cache=True)
def k_nearest_sources(rev_indptr, rev_indices, rev_weight, sources, out_source, out_units):
    """Fill each node's k nearest sources and times.

    Parameters
    ----------
    rev_indptr, rev_indices : (n + 1,) int64 and (m,) int32, the reversed graph.
    rev_weight : (m,) int32 edge times in quanta in reversed slot order, below ``MAX_RING``
        or ``UNREACHED`` (closed).
    sources : (S,) int64 source nodes (repeats allowed: distinct sources on one node).
    out_source : (n, k) int32 output, source indices in increasing time, -1 where fewer reach.
    out_units : (n, k) int64 output, their times in quanta, ``UNREACHED`` where none.

    A node accepts a source once and k in all: Dijkstra run k times over, every layer settled
    in one pass of Dial's bucket ring (O(1) a step). An offer to a node already full, or
    already settled by that source (the way back along an undirected street), is never
    queued.
    """
    out_source[:] = -1
    out_units[:] = UNREACHED
    count = np.zeros(out_source.shape[0], np.int32)
    top_indegree = np.max(np.diff(rev_indptr)) if rev_indptr.size > 1 else 0
    ring = 2
    for w in rev_weight:
        while w < UNREACHED and ring <= w:
            ring *= 2
    head = np.full(ring, -1, np.int64)
    pool = np.empty((max(1024, 4 * sources.size + 4 * top_indegree), 3), np.int64)
    for s in range(sources.size):
        pool[s, 0], pool[s, 1], pool[s, 2] = sources[s], s, head[0]
        head[0] = s
    state = np.array([0, sources.size, -1, sources.size, top_indegree], np.int64)
    while _k_nearest_ring(
        rev_indptr, rev_indices, rev_weight, out_source, out_units, count, head, pool, state
    ):
        grown = np.empty((2 * pool.shape[0], 3), np.int64)
        grown[: pool.shape[0]] = pool
        pool = grown
