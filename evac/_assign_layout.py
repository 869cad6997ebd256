"""Candidates in and seats out: the layout around the assignment kernels.

``pack_candidates`` lays each group's candidate shelters out for the kernels, ``unpack_flow``
reads the flow back per candidate, ``hand_out_seats`` gives each resident their seat.
"""

from __future__ import annotations

from numba import njit

from evac._assign_heaps import BIAS
from evac._kernels import UNREACHED

# --- packing candidates and handing out seats -----------------------------------------------


@njit(cache=True, _nrt=False)
def pack_candidates(cand, units, shift, out_cand, out_units, order):
    """Lay (G, k) candidates out as rows of 2**shift slots by time, for ``transport``.

    Rows are sorted by an insertion sort (k is small; stable), times of ``BIAS`` or more
    dropped, and the rest padded with -1 and ``UNREACHED``. order (G, k) int64 receives the
    column each packed slot came from (-1 for none), for ``unpack_flow``.
    """
    for g in range(cand.shape[0]):
        base, n = g << shift, 0
        for j in range(cand.shape[1]):
            t = units[g, j]
            if cand[g, j] < 0 or t >= BIAS:
                continue
            i = n
            while i > 0 and out_units[base + i - 1] > t:
                out_units[base + i], out_cand[base + i] = (
                    out_units[base + i - 1],
                    out_cand[base + i - 1],
                )
                order[g, i] = order[g, i - 1]
                i -= 1
            out_units[base + i], out_cand[base + i], order[g, i] = t, cand[g, j], j
            n += 1
        for i in range(n, 1 << shift):
            out_units[base + i], out_cand[base + i] = UNREACHED, -1
        for i in range(n, cand.shape[1]):
            order[g, i] = -1


@njit(cache=True, _nrt=False)
def unpack_flow(flow, order, shift, out):
    """Return packed flow (G * 2**shift,) to the caller's columns: out (G, k) int64."""
    for g in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[g, j] = 0
        for i in range(out.shape[1]):
            if order[g, i] >= 0:
                out[g, order[g, i]] = flow[(g << shift) + i]


@njit(cache=True, _nrt=False)
def hand_out_seats(of_resident, flow, slot, used, cursor):
    """Give each resident, in index order, the next seat of its group's flow (G, k).

    slot (R,) int64 receives the candidate column, -1 once the group's seats are gone;
    used and cursor (G,) int64 are scratch: seats taken in, and the column of, the current
    candidate.
    """
    for g in range(cursor.size):
        used[g], cursor[g] = 0, 0
    k = flow.shape[1]
    for r in range(of_resident.size):
        g = of_resident[r]
        j = cursor[g]
        while j < k and used[g] >= flow[g, j]:
            j += 1
            used[g] = 0
        cursor[g] = j
        if j < k:
            slot[r] = j
            used[g] += 1
        else:
            slot[r] = -1
