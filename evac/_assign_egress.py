"""The least egress time that seats the most people (kernels for ``evac.assign``).

``egress_by_cuts`` and ``egress_by_max_flows``: binary search over the time with a max flow at
each step: for a few shelters, the least of the 2**S cuts (a set of shelters and the people who
cannot leave it); for more, Dinic's algorithm on groups and shelters. Shapes as in
``evac._assign_transport``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from evac._assign_heaps import INF, NEXT, START
from evac._assign_transport import _usable

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


# --- egress by max flows (Dinic), for many shelters -----------------------------------------
#
# Nodes are groups (their slots are the edges out, forward and uncapacitated) and shelters
# (the slots pointing at them with people in are the edges back). The levels count from the
# sink: the shelters with room are level 1, so a search starts from those few and not from
# every group still holding people, which with places short are thousands, most of them
# hopeless (measured on the 30-shelter town: a max flow 2.2 to 0.45 ms from a near flow).
# ``levels`` holds group levels then shelter levels, -1 for unreached or dead.


@njit(cache=True, _nrt=False)
def _level_groups(x, units, shift, limit, rem, sources, slots, levels, queue, tail):  # noqa: PLR0913, PLR0917 - flat state
    """Put the unreached groups that may go to the shelter at node x on the next level;
    return the queue's tail, negated (less one) if one of them still has people."""
    n_groups = rem.size
    s = x - n_groups
    found = False
    for i in range(sources[START, s], sources[START, s + 1]):
        t = slots[i]
        if units[t] > limit:
            continue
        g = t >> shift
        if levels[g] < 0:
            levels[g] = levels[x] + 1
            queue[tail] = g
            tail += 1
            found |= rem[g] > 0
    return -tail - 1 if found else tail


@njit(cache=True, _nrt=False)
def _level_seats(g, cand, shift, flow, levels, queue, tail):
    """Put the unreached shelters where group g has people on the next level; return the
    tail."""
    n_groups = cand.size >> shift
    for t in range(g << shift, (g + 1) << shift):
        if cand[t] < 0:
            break  # padding last
        s = n_groups + cand[t]
        if flow[t] > 0 and levels[s] < 0:
            levels[s] = levels[g] + 1
            queue[tail] = s
            tail += 1
    return tail


@njit(cache=True, _nrt=False)
def _bfs_levels(cand, units, shift, limit, rem, room, flow, sources, slots, levels, queue):  # noqa: PLR0913, PLR0917 - flat state
    """Level the residual graph by distance to the sink; return the level of the source
    (-1: unreachable). Stops at the first level with a group that still has people."""
    n_groups = rem.size
    tail = 0
    for x in range(levels.size):
        levels[x] = -1
    for s in range(room.size):
        if room[s] > 0:
            levels[n_groups + s] = 1
            queue[tail] = n_groups + s
            tail += 1
    source_level, head = INF, 0
    while head < tail:
        x = queue[head]
        head += 1
        if levels[x] + 1 >= source_level:
            continue
        if x >= n_groups:
            tail = _level_groups(x, units, shift, limit, rem, sources, slots, levels, queue, tail)
            if tail < 0:
                tail = -tail - 1
                source_level = levels[x] + 2
        else:  # a group with nobody left to seat: it may move from where it has people
            tail = _level_seats(x, cand, shift, flow, levels, queue, tail)
    return source_level if source_level < INF else -1


@njit(cache=True, _nrt=False)
def _next_arc(x, cand, units, shift, limit, flow, sources, slots, levels, arcs):  # noqa: PLR0913, PLR0917 - flat state
    """Move node x's current arc to the first edge into the level nearer the sink; return the
    slot taken (-1: none left, and x is marked dead)."""
    n_groups = levels.size - sources.shape[1] + 1
    want = levels[x] - 1
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
def _blocking_flow(  # noqa: PLR0913, PLR0917 - flat state
    cand, units, shift, limit, rem, room, flow, sources, slots, levels, arcs, path, top
):
    """Push flow along level-decreasing paths from the groups next to the source (level
    ``top``) until none is left (Dinic's blocking flow).

    path (2, G + S) holds the depth-first stack: node, and the slot taken out of it.
    """
    n_groups = rem.size
    for g in range(n_groups):
        arcs[g] = g << shift
    for s in range(sources.shape[1] - 1):
        arcs[n_groups + s] = sources[START, s]
    for g0 in range(n_groups):
        while rem[g0] > 0 and levels[g0] == top:
            depth = 0
            path[0, 0] = g0
            while depth >= 0:
                x = path[0, depth]
                if levels[x] == 1:  # a shelter with room
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
            last = path[0, depth] - n_groups
            delta = min(rem[g0], room[last])
            for i in range(1, depth, 2):
                delta = min(delta, flow[path[1, i]])
            rem[g0] -= delta
            room[last] -= delta
            for i in range(depth):
                flow[path[1, i]] += delta if i % 2 == 0 else -delta
            if room[last] == 0:
                levels[n_groups + last] = -1  # full: no longer next to the sink


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
    while True:
        source_level = _bfs_levels(
            cand, units, shift, limit, rem, room, flow, sources, slots, levels, queue
        )
        if source_level < 0:
            break
        _blocking_flow(
            cand, units, shift, limit, rem, room, flow, sources, slots, levels, arcs, path,
            source_level - 1,
        )  # fmt: skip
    seated = 0
    for g in range(n_groups):
        seated += count[g] - rem[g]
    return seated


@njit(cache=True, _nrt=False)
def _cut_bound(cand, units, shift, limit, levels):
    """Return the earliest time of a slot longer than ``limit`` that crosses the final cut
    (INF: none), after a max flow at ``limit`` has levelled the residual graph for the last
    time.

    The groups and shelters that can still reach the sink then form a cut of the flow's
    value, and only a slot from a group that cannot to a shelter that can crosses it: below
    that slot's time the cut stands, so no max flow there seats more, and the binary search
    may start from it.
    """
    n_groups = cand.size >> shift
    bound = INF
    for g in range(n_groups):
        if levels[g] >= 0:
            continue
        for t in range(g << shift, (g + 1) << shift):
            if cand[t] < 0 or units[t] >= bound:
                break  # slots are sorted by time, padding last
            if units[t] > limit and levels[n_groups + cand[t]] >= 0:
                bound = units[t]
                break
    return bound


@njit(cache=True, _nrt=False)
def _slots_by_shelter(cand, sources, slots):
    """Fill ``slots`` with the candidate slots grouped by shelter, in slot order within each
    (a counting sort: numba's stable argsort took 10 ms for the 30-shelter town's 126,000)."""
    fill = sources[NEXT]
    for s in range(fill.size):
        fill[s] = sources[START, s]
    for t in range(cand.size):
        if cand[t] >= 0:
            slots[fill[cand[t]]] = t
            fill[cand[t]] += 1


@njit(cache=True, _nrt=False)
def _latest_used(units, flow):
    """Return the longest time of a slot the flow uses."""
    latest = 0
    for t in range(flow.size):
        if flow[t] > 0 and units[t] > latest:
            latest = units[t]
    return latest


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
    at any later time), so the later steps have little left to push. Each step also narrows
    the search past its middle: one too early to the earliest slot crossing its final cut
    (``_cut_bound``), one early enough to the latest time its flow uses.
    """
    n_groups, n_shelters = count.size, capacity.size
    usable = cand >= 0
    sources = np.zeros((2, n_shelters + 1), np.int64)
    sources[START, 1:] = np.cumsum(np.bincount(cand[usable], minlength=n_shelters))
    slots = np.empty(sources[START, -1], np.int64)
    _slots_by_shelter(cand, sources, slots)
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
    lo, hi = _least_egress_bound(cand, units, shift, count, most), _latest_used(units, flow)
    below = np.zeros(cand.size, np.int64)  # a max flow under the largest time found too early
    levels = state[2]
    while lo < hi:  # over integer times: the least that seats ``most`` is a slot's time
        mid = (lo + hi) // 2
        flow[:] = below
        if _max_flow_dinic(cand, units, shift, count, capacity, mid, flow, state) == most:
            hi = _latest_used(units, flow)
        else:
            lo = max(mid + 1, _cut_bound(cand, units, shift, mid, levels))
            below[:] = flow
    return most, lo
