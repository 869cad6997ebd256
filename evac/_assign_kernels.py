"""Numba kernels for capacity-aware assignment; the typed layer is ``evac.assign``.

All over plain arrays and integer times (quanta, as in ``evac._kernels``):

- ``k_nearest_sources``: a multi-source label-setting search on the reversed graph in which a
  node may be settled once by each of up to k distinct sources, so each node learns its k
  nearest shelters in increasing time, in one search instead of one per shelter.
- ``egress_by_cuts`` and ``egress_by_max_flows``: the most people that can be seated and the
  least egress time that seats them, by binary search over the time with a max flow at each
  step: for a few shelters, the least of the 2**S cuts (a set of shelters and the people who
  cannot leave it); for more, Dinic's algorithm on groups and shelters.
- ``transport``: successive shortest paths (SSP), a min-cost max flow from groups (residents
  sharing a node) to shelters with capacities, on each group's candidate slots up to a limit.
- ``pack_candidates``, ``unpack_flow``, ``hand_out_seats``: the layout in and out.

``transport`` never builds the group-level network. A residual path alternates shelters and
groups (source -> g -> s -> h -> s' -> ... -> sink), so Dijkstra runs on the shelters only,
lengths reduced by shelter potentials: the source offers s the nearest group that still has
people to seat (a list per shelter sorted by time, and a pointer past emptied groups: a group
never regains people), and a full shelter s offers s' its cheapest member to move there (a
group h with people at s, key t[h, s'] - t[h, s]). Those offers sit in one binary heap per
shelter pair, with lazy deletion: an offer whose member left s is dropped when it reaches the
top. Each (member, target) has at most one offer in a heap (``present``), so a pair's heap never
holds more offers than there are groups having both shelters as candidates: that count gives
every heap a fixed segment of one array. Most paths are a group seated straight into a shelter
with room; a sweep by time takes those without a search when provably shortest.

Shapes: G groups, S shelters, k = 2**shift slots per group; cand (G * k,) int32 shelter ids
(-1 pad), units (G * k,) int64 times in quanta, sorted per group, padding last; flow (G * k,)
int64 people per slot.

Everything but the allocating entry points is compiled without Numba's reference counting
(``_nrt=False``): those functions allocate nothing and only touch arrays their caller owns.
With it, every array handed to a helper is counted in and out on each call, measured at 20
times the cost of a heap step; without it, LLVM inlines the small helpers and the loops run
as if written out. The larger per-path steps are inlined by Numba (``inline="always"``, one
call site each), which LLVM would not do.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from evac._kernels import UNREACHED

INF = np.int64(1) << 62  # larger than any sum of times; never overflows when added to once
BIAS = np.int64(1) << 30  # keys of member offers must lie in [-BIAS, BIAS)
LOW32 = (np.int64(1) << 32) - 1
K, LIMIT, N_SHELTERS, SHIFT, BOUND = 0, 1, 2, 3, 4  # entries of ``params``
START, SIZE = 0, 1  # rows of ``segs``
NEXT = 1  # row of ``sources``: START, then each shelter's first group that may have people
PI, DIST, PRED_NODE, PRED_ITEM, DONE = 0, 1, 2, 3, 4  # rows of ``labels``
MAX_RING = 1 << 20  # longest edge (quanta) for the bucket ring, as in ``evac.solver``


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


# --- transport: layout ----------------------------------------------------------------------
#
# A shelter pair's member offers are packed ``(key + BIAS) << 32 | e`` with e = slot * k + j2
# (the member's slot at s and its target's place j2 in its list), so that one integer compare
# orders by key, then offer.

DIGIT_BITS = 11  # three radix passes cover times below 2**33


@njit(cache=True, _nrt=False)
def _usable(cand, units, t, limit):
    """Whether candidate slot t exists and is within the time limit."""
    return cand[t] >= 0 and units[t] <= limit


@njit(cache=True, _nrt=False)
def _radix_pass(units, src, dst, n, shift, buckets):
    """Stable counting sort of src[:n] into dst[:n] by one digit of their times."""
    mask = buckets.size - 2
    for b in range(buckets.size):
        buckets[b] = 0
    for i in range(n):
        buckets[((units[src[i]] >> shift) & mask) + 1] += 1
    for b in range(1, buckets.size):
        buckets[b] += buckets[b - 1]
    for i in range(n):
        b = (units[src[i]] >> shift) & mask
        dst[buckets[b]] = src[i]
        buckets[b] += 1


@njit(cache=True, _nrt=False)
def _sort_sources(cand, units, limit, sources, slots, scratch, buckets):
    """Fill ``scratch`` with the usable slots by time, then slot (radix passes, stable),
    ``slots`` with them by shelter, then time, then slot, and ``sources[NEXT]`` with each
    shelter's first place. ``sources[START]`` is already laid out."""
    n = 0
    for t in range(cand.size):
        if _usable(cand, units, t, limit):
            slots[n] = t
            n += 1
    _radix_pass(units, slots, scratch, n, 0, buckets)
    _radix_pass(units, scratch, slots, n, DIGIT_BITS, buckets)
    _radix_pass(units, slots, scratch, n, 2 * DIGIT_BITS, buckets)
    for s in range(sources.shape[1]):
        sources[NEXT, s] = sources[START, s]
    for i in range(n):
        s = cand[scratch[i]]
        slots[sources[NEXT, s]] = scratch[i]
        sources[NEXT, s] += 1
    for s in range(sources.shape[1]):
        sources[NEXT, s] = sources[START, s]


@njit(cache=True, _nrt=False)
def _count_pairs(cand, units, k, limit, n_shelters, segs):
    """Count into ``segs[START, p + 1]`` the groups having both shelters of pair p usable."""
    for t in range(cand.size):
        if _usable(cand, units, t, limit):
            base = t - (t & (k - 1))
            row = cand[t] * n_shelters + 1
            for t2 in range(base, base + k):
                if not _usable(cand, units, t2, limit):
                    break  # slots are sorted by time, padding last
                if t2 != t:
                    segs[START, row + cand[t2]] += 1


# --- transport: offers ----------------------------------------------------------------------


@njit(cache=True, _nrt=False, inline="always")
def _pair_top(arena, segs, present, p, flow, shift):
    """Return pair p's cheapest live offer (-1 if none), dropping offers of members that have
    left their shelter."""
    base = segs[START, p]
    while segs[SIZE, p] > 0:
        x = arena[base]
        e = x & LOW32
        if flow[e >> shift] > 0:
            return x
        segs[SIZE, p] -= 1
        _seg_sift_down(arena, base, 0, segs[SIZE, p], arena[base + segs[SIZE, p]])
        present[e] = 0
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _offer_moves(slot, cand, units, params, arena, segs, present):
    """Let the member at ``slot`` offer moves to each of its other usable candidates.

    Only members of full shelters offer: from a shelter with room the sink is as near as any
    move (a cheaper move would close a negative cycle through the sink), and a full shelter
    stays full (no path leaves the sink).
    """
    k, limit = params[K], params[LIMIT]
    base = slot - (slot & (k - 1))
    row = cand[slot] * params[N_SHELTERS]
    for t in range(base, base + k):
        if not _usable(cand, units, t, limit):
            break  # slots are sorted by time, padding last
        e = slot * k + (t - base)
        if t == slot or present[e]:
            continue
        present[e] = 1
        key = units[t] - units[slot]
        p = row + cand[t]
        _seg_push(arena, segs[START, p], segs[SIZE, p], ((key + BIAS) << 32) | e)
        segs[SIZE, p] += 1


# --- transport: paths -----------------------------------------------------------------------


@njit(cache=True, _nrt=False)
def _source_slot(s, rem, sources, slots, shift):
    """Return shelter s's nearest slot whose group still has people (-1: none), moving its
    pointer past emptied groups for good (a group never regains people)."""
    i, end = sources[NEXT, s], sources[START, s + 1]
    while i < end and rem[slots[i] >> shift] == 0:
        i += 1
    sources[NEXT, s] = i
    return slots[i] if i < end else -1


@njit(cache=True, _nrt=False)
def _direct_is_shortest(t, units, params, rem, room, sources, slots, labels):
    """Whether seating a group at time t in a shelter with room is a shortest path.

    A shelter with room keeps the sink's potential (its edge to the sink has reduced cost 0
    and Dijkstra settles them together), so the seat's reduced length is t - pi[sink]; any
    path through a full shelter is at least that shelter's reduced source offer, and one
    through another shelter with room is no shorter, the sweep going by time. When it holds,
    seating is a shortest augmenting path and leaves every reduced cost non-negative with the
    potentials as they are (a move offered from there is never shorter than the seat was).

    ``params[BOUND]`` keeps the least of those offers between calls: it can only grow while
    the potentials stand (offers move past emptied groups), so it is a safe test until
    Dijkstra moves the potentials (then it is reset) or a shelter fills (then it is lowered).
    """
    n_shelters, shift = params[N_SHELTERS], params[SHIFT]
    if t - labels[PI, n_shelters] <= params[BOUND]:
        return True
    bound = INF
    for s in range(n_shelters):
        if room[s] == 0:
            slot = _source_slot(s, rem, sources, slots, shift)
            if slot >= 0:
                bound = min(bound, units[slot] - labels[PI, s])
    params[BOUND] = bound
    return t - labels[PI, n_shelters] <= bound


@njit(cache=True, _nrt=False, inline="always")
def _seed_sources(units, params, rem, sources, slots, labels, heap):
    """Label every shelter with its nearest group that still has people; return the heap
    size."""
    n_shelters, shift = params[N_SHELTERS], params[SHIFT]
    size = 0
    for s in range(n_shelters + 1):
        labels[DIST, s], labels[PRED_NODE, s], labels[DONE, s] = INF, -1, 0
    for s in range(n_shelters):
        slot = _source_slot(s, rem, sources, slots, shift)
        if slot >= 0:
            d = units[slot] - labels[PI, s]
            labels[DIST, s], labels[PRED_ITEM, s] = d, slot
            heap[0, size], heap[1, size] = d, s
            size += 1
    for i in range(size // 2 - 1, -1, -1):
        _h_sift_down(heap, i, size, heap[0, i], heap[1, i])
    return size


@njit(cache=True, _nrt=False, inline="always")
def _offer(labels, heap, size, v, d, u, item):
    """Offer node v the label d from u via ``item``; return the heap size."""
    if d >= labels[DIST, v]:
        return size
    labels[DIST, v], labels[PRED_NODE, v], labels[PRED_ITEM, v] = d, u, item
    _h_sift_up(heap, size, d, v)
    return size + 1


@njit(cache=True, _nrt=False, inline="always")
def _shortest_path(params, room, flow, nbr_ptr, nbr, arena, segs, present, labels, heap, size):  # noqa: PLR0913, PLR0917 - flat state (see the module docstring)
    """Run Dijkstra from the seeded heap over shelters and the sink; return the sink's label
    (``INF``: no path).

    Labels are lengths reduced by the shelters' potentials, so every edge counts non-negative.
    The search stops as soon as the sink's label can no longer be beaten. ``PRED_NODE`` -1
    marks a start from the source, ``PRED_ITEM`` then holding the group's slot; otherwise it
    holds the offer e of the member that moves.
    """
    sink, shift = params[N_SHELTERS], params[SHIFT]
    while size > 0:
        d, v = _h_pop(heap, size)
        size -= 1
        if labels[DONE, v] or d != labels[DIST, v]:
            continue
        labels[DONE, v] = 1
        if v == sink:
            return d
        pi_v = labels[PI, v]
        if room[v] > 0:  # only full shelters offer moves (see ``_offer_moves``)
            size = _offer(labels, heap, size, sink, d + pi_v - labels[PI, sink], v, -1)
            if labels[DIST, sink] <= d:
                return labels[DIST, sink]  # nothing left in the heap can beat it
            continue
        for i in range(nbr_ptr[v], nbr_ptr[v + 1]):
            s2 = nbr[i]
            if labels[DONE, s2]:
                continue
            x = _pair_top(arena, segs, present, v * sink + s2, flow, shift)
            if x >= 0:
                nd = d + (x >> 32) - BIAS + pi_v - labels[PI, s2]
                size = _offer(labels, heap, size, s2, nd, v, x & LOW32)
    return INF


@njit(cache=True, _nrt=False, inline="always")
def _members_offer_moves(s, cand, units, params, flow, sources, slots, arena, segs, present):  # noqa: PLR0913, PLR0917 - flat state (see the module docstring)
    """Let every member of shelter s, which has just filled, offer its moves."""
    for i in range(sources[START, s], sources[START, s + 1]):
        if flow[slots[i]] > 0:
            _offer_moves(slots[i], cand, units, params, arena, segs, present)


@njit(cache=True, _nrt=False, inline="always")
def _augment(cand, units, params, rem, room, flow, arena, segs, present, labels, sources, slots):  # noqa: PLR0913, PLR0917 - flat state (see the module docstring)
    """Push as many people as the path found allows along it; members arriving at a full
    shelter, or all of the last shelter's when it fills, offer their moves."""
    sink, shift, k = params[N_SHELTERS], params[SHIFT], params[K]
    last = labels[PRED_NODE, sink]
    delta = room[last]
    v = last
    while labels[PRED_NODE, v] >= 0:
        delta = min(delta, flow[labels[PRED_ITEM, v] >> shift])
        v = labels[PRED_NODE, v]
    first = labels[PRED_ITEM, v]
    delta = min(delta, rem[first >> shift])
    rem[first >> shift] -= delta
    v = last
    while v >= 0:
        e = labels[PRED_ITEM, v]
        if labels[PRED_NODE, v] >= 0:
            slot = e >> shift
            flow[slot] -= delta
            e = slot - (slot & (k - 1)) + (e & (k - 1))
        flow[e] += delta
        if flow[e] == delta and room[v] == 0:
            _offer_moves(e, cand, units, params, arena, segs, present)
        v = labels[PRED_NODE, v]
    room[last] -= delta
    if room[last] == 0:
        _members_offer_moves(last, cand, units, params, flow, sources, slots, arena, segs, present)


@njit(cache=True, _nrt=False, inline="always")
def _next_path(  # noqa: PLR0913, PLR0917 - flat state (see the module docstring)
    cand,
    units,
    params,
    rem,
    room,
    flow,
    sources,
    slots,
    nbr_ptr,
    nbr,
    arena,
    segs,
    present,
    labels,
    heap,
):
    """Find and take one shortest augmenting path; return False when there is none."""
    size = _seed_sources(units, params, rem, sources, slots, labels, heap)
    d_sink = _shortest_path(
        params, room, flow, nbr_ptr, nbr, arena, segs, present, labels, heap, size
    )
    if d_sink >= INF:
        return False
    _augment(cand, units, params, rem, room, flow, arena, segs, present, labels, sources, slots)
    for v in range(params[N_SHELTERS] + 1):  # potentials: Johnson's update
        labels[PI, v] += min(labels[DIST, v], d_sink)
    params[BOUND] = -INF  # stale: recomputed when next needed
    return True


@njit(cache=True, _nrt=False)
def _augment_all(  # noqa: PLR0913, PLR0917 - flat state (see the module docstring)
    cand,
    units,
    params,
    rem,
    room,
    flow,
    sources,
    slots,
    by_time,
    nbr_ptr,
    nbr,
    arena,
    segs,
    present,
    labels,
    heap,
):
    """Augment along shortest paths until none is left; return how many were taken.

    Source offers to shelters with room are swept in order of time (``by_time``), so that
    the common path, a group seated straight into a shelter with room, is taken without a
    search whenever ``_direct_is_shortest``; otherwise, and once the sweep is done, Dijkstra
    finds the path.
    """
    paths, i, shift = 0, 0, params[SHIFT]
    while True:
        while i < by_time.size and (rem[by_time[i] >> shift] == 0 or room[cand[by_time[i]]] == 0):
            i += 1
        if i < by_time.size:
            slot = by_time[i]
            g, s = slot >> shift, cand[slot]
            if _direct_is_shortest(units[slot], units, params, rem, room, sources, slots, labels):
                delta = min(rem[g], room[s])
                rem[g] -= delta
                room[s] -= delta
                flow[slot] += delta
                if room[s] == 0:
                    _members_offer_moves(
                        s, cand, units, params, flow, sources, slots, arena, segs, present
                    )
                    first = _source_slot(s, rem, sources, slots, shift)
                    if first >= 0:
                        params[BOUND] = min(params[BOUND], units[first] - labels[PI, s])
                paths += 1
                continue
        if not _next_path(
            cand,
            units,
            params,
            rem,
            room,
            flow,
            sources,
            slots,
            nbr_ptr,
            nbr,
            arena,
            segs,
            present,
            labels,
            heap,
        ):
            return paths
        paths += 1


@njit(cache=True)
def transport(cand, units, shift, count, capacity, limit, flow):
    """Seat as many people as possible using slots no longer than ``limit``, at the least
    total time; fill ``flow``.

    Parameters
    ----------
    cand, units : (G * k,) int32 shelter ids and int64 times in quanta (below 2**30), k =
        2**shift slots per group (a power of two: slot arithmetic is shifts and masks),
        sorted by time within each group, padding last.
    count : (G,) int64 people per group. capacity : (S,) int64 places per shelter.
    limit : int64, the longest usable time.
    flow : (G * k,) int64 output, people per slot.

    Returns the number of augmenting paths. Memory: 16 bytes per shelter pair, 8 per
    (group, usable candidate, other usable candidate) and 1 per (group, slot, slot).
    """
    n_shelters = capacity.size
    k = 1 << shift
    params = np.array([k, limit, n_shelters, shift, -INF], np.int64)
    flow[:] = 0
    usable = (cand >= 0) & (units <= limit)
    sources = np.zeros((2, n_shelters + 1), np.int64)
    sources[START, 1:] = np.cumsum(np.bincount(cand[usable], minlength=n_shelters))
    slots = np.empty(sources[START, -1], np.int64)
    scratch = np.empty_like(slots)
    buckets = np.empty((1 << DIGIT_BITS) + 1, np.int64)
    _sort_sources(cand, units, limit, sources, slots, scratch, buckets)
    segs = np.zeros((2, n_shelters * n_shelters + 1), np.int64)
    _count_pairs(cand, units, k, limit, n_shelters, segs)
    paired = np.flatnonzero(segs[START, 1:])
    segs[START] = np.cumsum(segs[START])
    nbr_ptr = np.zeros(n_shelters + 1, np.int64)
    nbr_ptr[1:] = np.cumsum(np.bincount(paired // n_shelters, minlength=n_shelters))
    nbr = (paired % n_shelters).astype(np.int32)
    arena = np.empty(segs[START, -1], np.int64)
    present = np.zeros(cand.size * k, np.uint8)
    labels = np.zeros((5, n_shelters + 1), np.int64)
    heap = np.empty((2, 2 * (n_shelters + 1) + nbr.size), np.int64)
    return _augment_all(
        cand,
        units,
        params,
        count.copy(),
        capacity.copy(),
        flow,
        sources,
        slots,
        scratch,
        nbr_ptr,
        nbr,
        arena,
        segs,
        present,
        labels,
        heap,
    )


# --- egress by cuts, for few shelters -------------------------------------------------------


@njit(cache=True, _nrt=False)
def _max_flow_by_cuts(cand, units, shift, count, limit, cut_room, reach):
    """Return how many can be seated using slots no longer than ``limit`` (max-flow min-cut).

    A cut keeps a set A of shelters on the source side: it costs their places, plus the
    people of every group with a usable shelter outside A. ``reach[mask]`` first sums the
    people whose usable shelters are exactly ``mask``; summing over subsets (one pass per
    shelter) turns it into the people who cannot leave A = mask, so the flow is the least of
    cut_room[A] + everyone - reach[A]. cut_room (2**S,) holds each set's places.
    """
    k = 1 << shift
    for a in range(reach.size):
        reach[a] = 0
    everyone = 0
    for g in range(count.size):
        mask = 0
        for t in range(g * k, g * k + k):
            if not _usable(cand, units, t, limit):
                break  # slots are sorted by time, padding last
            mask |= 1 << cand[t]
        reach[mask] += count[g]
        everyone += count[g]
    bit = 1
    while bit < reach.size:
        for a in range(reach.size):
            if a & bit:
                reach[a] += reach[a ^ bit]
        bit <<= 1
    best = everyone
    for a in range(reach.size):
        best = min(best, cut_room[a] + everyone - reach[a])
    return best


@njit(cache=True)
def egress_by_cuts(cand, units, shift, count, capacity):
    """Return (most seated, least egress in quanta) by binary search over the times, each step
    a max flow by ``_max_flow_by_cuts``: O(log(T) (G k + 2**S S)), for S up to about 12.
    """
    n_shelters = capacity.size
    cut_room = np.zeros(1 << n_shelters, np.int64)
    for i in range(n_shelters):
        for a in range(1 << i):
            cut_room[a | (1 << i)] = cut_room[a] + capacity[i]
    reach = np.empty_like(cut_room)
    lo, hi = INF, -1
    for t in range(cand.size):
        if cand[t] >= 0:
            lo, hi = min(lo, units[t]), max(hi, units[t])
    if hi < 0:
        return 0, 0
    most = _max_flow_by_cuts(cand, units, shift, count, hi, cut_room, reach)
    if most == 0:
        return 0, 0
    while lo < hi:  # over integer times: the least that seats ``most`` is a slot's time
        mid = (lo + hi) // 2
        if _max_flow_by_cuts(cand, units, shift, count, mid, cut_room, reach) == most:
            hi = mid
        else:
            lo = mid + 1
    return most, lo


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


# --- egress by max flows (Dinic), for many shelters -----------------------------------------
#
# Nodes are groups (their slots are the edges out, forward and uncapacitated) and shelters
# (the slots pointing at them with people in are the edges back). ``levels`` holds group
# levels then shelter levels, -1 for unreached or dead; ``work`` is scratch of G + S.


@njit(cache=True, _nrt=False)
def _level_shelters(g, cand, units, shift, limit, room, levels, queue, tail):  # noqa: PLR0913, PLR0917 - flat state
    """Put group g's unreached usable shelters on the next level; return the queue's tail,
    negated (less one) if one of them has room."""
    n_groups = levels.size - room.size
    found = False
    for t in range(g << shift, (g + 1) << shift):
        if not _usable(cand, units, t, limit):
            break
        s = n_groups + cand[t]
        if levels[s] < 0:
            levels[s] = levels[g] + 1
            queue[tail] = s
            tail += 1
            found |= room[cand[t]] > 0
    return -tail - 1 if found else tail


@njit(cache=True, _nrt=False)
def _level_members(s, shift, flow, sources, slots, levels, queue, tail):
    """Put the unreached groups with people at shelter s on the next level; return the tail."""
    n_groups = levels.size - sources.shape[1] + 1
    for i in range(sources[START, s - n_groups], sources[START, s - n_groups + 1]):
        h = slots[i] >> shift
        if flow[slots[i]] > 0 and levels[h] < 0:
            levels[h] = levels[s] + 1
            queue[tail] = h
            tail += 1
    return tail


@njit(cache=True, _nrt=False)
def _bfs_levels(cand, units, shift, limit, rem, room, flow, sources, slots, levels, queue):  # noqa: PLR0913, PLR0917 - flat state
    """Level the residual graph from the groups with people left; return the level of the
    sink (-1: unreachable). Stops at the first level with a shelter that has room."""
    n_groups = rem.size
    tail = 0
    for x in range(levels.size):
        levels[x] = -1
    for g in range(n_groups):
        if rem[g] > 0:
            levels[g] = 1
            queue[tail] = g
            tail += 1
    sink_level, head = INF, 0
    while head < tail:
        x = queue[head]
        head += 1
        if levels[x] + 1 >= sink_level:
            continue
        if x < n_groups:
            tail = _level_shelters(x, cand, units, shift, limit, room, levels, queue, tail)
            if tail < 0:
                tail = -tail - 1
                sink_level = levels[x] + 2
        elif room[x - n_groups] == 0:
            tail = _level_members(x, shift, flow, sources, slots, levels, queue, tail)
    return sink_level if sink_level < INF else -1


@njit(cache=True, _nrt=False)
def _next_arc(x, cand, units, shift, limit, flow, sources, slots, levels, arcs):  # noqa: PLR0913, PLR0917 - flat state
    """Move node x's current arc to the first edge into the next level; return the slot
    taken (-1: none left, and x is marked dead)."""
    n_groups = levels.size - sources.shape[1] + 1
    want = levels[x] + 1
    if x < n_groups:
        end = (x + 1) << shift
        while arcs[x] < end and _usable(cand, units, arcs[x], limit):
            if levels[n_groups + cand[arcs[x]]] == want:
                return arcs[x]
            arcs[x] += 1
    else:
        end = sources[START, x - n_groups + 1]
        while arcs[x] < end:
            t = slots[arcs[x]]
            if flow[t] > 0 and levels[t >> shift] == want:
                return t
            arcs[x] += 1
    levels[x] = -1
    return -1


@njit(cache=True, _nrt=False)
def _blocking_flow(cand, units, shift, limit, rem, room, flow, sources, slots, levels, arcs, path):  # noqa: PLR0913, PLR0917 - flat state
    """Push flow along level-increasing paths until none is left (Dinic's blocking flow).

    path (2, G + S) holds the depth-first stack: node, and the slot taken out of it.
    """
    n_groups = rem.size
    for g in range(n_groups):
        arcs[g] = g << shift
    for s in range(sources.shape[1] - 1):
        arcs[n_groups + s] = sources[START, s]
    for g0 in range(n_groups):
        while rem[g0] > 0 and levels[g0] == 1:
            depth = 0
            path[0, 0] = g0
            while depth >= 0:
                x = path[0, depth]
                if x >= n_groups and room[x - n_groups] > 0:
                    break
                t = _next_arc(x, cand, units, shift, limit, flow, sources, slots, levels, arcs)
                if t < 0:
                    depth -= 1
                    if depth >= 0:
                        arcs[path[0, depth]] += 1
                    continue
                path[1, depth] = t
                path[0, depth + 1] = n_groups + cand[t] if x < n_groups else t >> shift
                depth += 1
            if depth < 0:
                break
            delta = min(rem[g0], room[path[0, depth] - n_groups])
            for i in range(1, depth, 2):
                delta = min(delta, flow[path[1, i]])
            rem[g0] -= delta
            room[path[0, depth] - n_groups] -= delta
            for i in range(depth):
                flow[path[1, i]] += delta if i % 2 == 0 else -delta


@njit(cache=True, _nrt=False)
def _max_flow_dinic(cand, units, shift, count, capacity, limit, flow, state):
    """Return the most people seated using slots up to ``limit`` (Dinic's algorithm), growing
    the feasible ``flow`` it is given (on such slots only) into a maximum one.

    state is scratch: rem (G) and room (S), levels, queue and arcs over G + S, the stack
    (2, G + S), and the shelters' slot lists (``sources``, ``slots``).
    """
    rem, room, levels, queue, arcs, path, sources, slots = state
    n_groups = count.size
    for g in range(n_groups):
        rem[g] = count[g]
    for s in range(capacity.size):
        room[s] = capacity[s]
    for t in range(flow.size):
        rem[t >> shift] -= flow[t]
        if flow[t] > 0:
            room[cand[t]] -= flow[t]
    while (
        _bfs_levels(cand, units, shift, limit, rem, room, flow, sources, slots, levels, queue) > 0
    ):
        _blocking_flow(
            cand, units, shift, limit, rem, room, flow, sources, slots, levels, arcs, path
        )
    seated = 0
    for g in range(n_groups):
        seated += count[g] - rem[g]
    return seated


@njit(cache=True)
def _least_egress_bound(cand, units, shift, count, most):
    """Return a time below which fewer than ``most`` people have any usable shelter at all,
    so no egress can be earlier: a cheap lower end for the binary search."""
    nearest = units[:: 1 << shift].copy()
    nearest[cand[:: 1 << shift] < 0] = INF
    order = np.argsort(nearest)
    reached = np.cumsum(count[order])
    return nearest[order[np.searchsorted(reached, most)]]


@njit(cache=True)
def egress_by_max_flows(cand, units, shift, count, capacity):
    """Return (most seated, least egress in quanta) by binary search over the times, each step
    a max flow by Dinic's algorithm on groups and shelters: for any number of shelters. The
    search runs between ``_least_egress_bound`` and the latest time the first max flow used,
    and each step starts from the max flow of the latest time found too early (still a flow
    at any later time), so the later steps have little left to push.
    """
    n_groups, n_shelters = count.size, capacity.size
    usable = cand >= 0
    sources = np.zeros((2, n_shelters + 1), np.int64)
    sources[START, 1:] = np.cumsum(np.bincount(cand[usable], minlength=n_shelters))
    slots = np.flatnonzero(usable)[np.argsort(cand[usable], kind="mergesort")]
    nodes = n_groups + n_shelters
    state = (
        np.empty(n_groups, np.int64),
        np.empty(n_shelters, np.int64),
        np.empty(nodes, np.int64),
        np.empty(nodes, np.int64),
        np.empty(nodes, np.int64),
        np.empty((2, nodes + 1), np.int64),
        sources,
        slots,
    )
    flow = np.zeros(cand.size, np.int64)
    if not usable.any():
        return 0, 0
    most = _max_flow_dinic(cand, units, shift, count, capacity, units[usable].max(), flow, state)
    if most == 0:
        return 0, 0
    lo, hi = _least_egress_bound(cand, units, shift, count, most), units[flow > 0].max()
    below = np.zeros(cand.size, np.int64)  # a max flow under the largest time found too early
    while lo < hi:  # over integer times: the least that seats ``most`` is a slot's time
        mid = (lo + hi) // 2
        flow[:] = below
        if _max_flow_dinic(cand, units, shift, count, capacity, mid, flow, state) == most:
            hi = mid
        else:
            lo = mid + 1
            below[:] = flow
    return most, lo
