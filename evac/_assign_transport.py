"""The least total time that seats everyone: ``transport`` (kernels for ``evac.assign``).

Successive shortest paths (SSP), a min-cost max flow from groups (residents sharing a node) to
shelters with capacities, on each group's candidate slots up to a limit.

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

The helpers are compiled without reference counting (see ``evac._assign_heaps``); the larger
per-path steps are inlined by Numba (``inline="always"``, one call site each), which LLVM
would not do.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from evac._assign_heaps import (
    BIAS,
    BOUND,
    DIST,
    DONE,
    INF,
    LIMIT,
    LOW32,
    N_SHELTERS,
    NEXT,
    PI,
    PRED_ITEM,
    PRED_NODE,
    SHIFT,
    SIZE,
    START,
    K,
    _h_pop,
    _h_sift_down,
    _h_sift_up,
    _seg_push,
    _seg_sift_down,
)

# --- transport: layout ----------------------------------------------------------------------
#
# A shelter pair's member offers are packed ``(key + BIAS) << 32 | e`` with e = slot * k + j2
# (the member's slot at s and its target's place j2 in its list), so that one integer compare
# orders by key, then offer.

DIGIT_BITS = 11  # at most this many bits a radix pass: three cover times below 2**33


@njit(cache=True, _nrt=False)
def _usable(cand, units, t, limit):
    """Whether candidate slot t exists and is within the time limit."""
    return cand[t] >= 0 and units[t] <= limit


@njit(cache=True, _nrt=False)
def _radix_pass(units, src, dst, n, shift, bits, buckets):
    """Stable counting sort of src[:n] into dst[:n] by the ``bits`` of their times from
    ``shift`` up."""
    mask, size = (1 << bits) - 1, (1 << bits) + 1
    for b in range(size):
        buckets[b] = 0
    for i in range(n):
        buckets[((units[src[i]] >> shift) & mask) + 1] += 1
    for b in range(1, size):
        buckets[b] += buckets[b - 1]
    for i in range(n):
        b = (units[src[i]] >> shift) & mask
        dst[buckets[b]] = src[i]
        buckets[b] += 1


@njit(cache=True, _nrt=False)
def _sort_sources(cand, units, limit, sources, slots, scratch, buckets):
    """Fill ``scratch`` with the usable slots by time, then slot (radix passes, stable),
    ``slots`` with them by shelter, then time, then slot, and ``sources[NEXT]`` with each
    shelter's first place. ``sources[START]`` is already laid out.

    The passes split the bits of ``limit`` evenly (times up to it need no more): a town's
    times take two passes of 256 buckets rather than three of 2,048 (31 to 19 us measured).
    """
    bits = 1
    while limit >> bits:
        bits += 1
    passes = (bits + DIGIT_BITS - 1) // DIGIT_BITS
    digit = (bits + passes - 1) // passes
    src, dst = (slots, scratch) if passes % 2 else (scratch, slots)  # to end in scratch
    n = 0
    for t in range(cand.size):
        if _usable(cand, units, t, limit):
            src[n] = t
            n += 1
    for p in range(passes):
        _radix_pass(units, src, dst, n, p * digit, digit, buckets)
        src, dst = dst, src
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
