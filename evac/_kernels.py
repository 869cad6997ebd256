"""Numba kernels for nearest-shelter searches over CSR arrays; the Python layer is ``solver.py``.

Every kernel takes plain arrays (and scalars) and writes its results into arrays it is given,
allocating only its own scratch (a bucket ring, a heap), so that it compiles once
(``cache=True``) and never meets a Python object. The wrapper validates, quantises, allocates
the outputs and builds the reversed graph. ``_prefetch`` is a compile-time intrinsic emitting
``llvm.prefetch``: a hint with no effect on any result.

Conventions shared by all kernels:

- Times are int32 counts of a quantum (the wrapper uses 0.1 s). ``UNREACHED`` (int32 max) is
  the distance of a node no source reaches and the weight of a closed edge; sums are formed in
  int64 and anything at or above ``UNREACHED`` counts as unreachable, so nothing overflows.
- The search runs on the *reversed* graph from the sources (shelters): reversed slot ``j`` of
  row ``x`` stands for the forward edge ``rev_edge[j]`` from ``rev_indices[j]`` to ``x``, and
  ``rev_weight[j]`` is that edge's weight. A node's label then names its next hop toward the
  nearest shelter on the forward graph.
- The kernels work on ``records``, (n, 8) int32, one 32-byte record per node: columns ``DIST``,
  ``HOPS``, ``NEXT_NODE``, ``NEXT_EDGE``, ``SOURCE``, then the Dial search's queued flag and
  padding. A node's whole state then sits in one cache line, which matters because a search
  visits nodes in wavefront order, random in memory. ``publish`` copies records into the
  caller's (5, n) ``labels`` (rows in the same order) and float64 seconds.
- Seeds are (2, n) int32: row ``SEED_DIST`` a source's start offset (or ``UNREACHED``), row
  ``SEED_SOURCE`` its index in the caller's source list (or -1).

Tie-breaking is canonical, so that a repair and a full recompute agree label for label: a
node's key is the pair (distance, hops) compared lexicographically, and among the edges that
reach it with its minimal key the one with the smallest forward edge id is its next hop; a
source at its offset is its own root (hops 0 beats any path of equal time). The source follows
the next hop. Counting hops makes the order strict even across zero-weight edges, so the
next-hop pointers always form a forest.

Helpers that take several arrays are only used outside the hot loops: LLVM does not inline
them, and a call with its reference counting costs more than a relaxation.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

UNREACHED = np.iinfo(np.int32).max
DIST, HOPS, NEXT_NODE, NEXT_EDGE, SOURCE = 0, 1, 2, 3, 4
SEED_DIST, SEED_SOURCE = 0, 1
RECORD_WIDTH = 8
_QUEUED = 5  # 1 while the node has a live entry in a bucket of the Dial search, else 0
_DETACHED = -2  # SOURCE of a node cut off by a repair and not yet re-attached
_CACHED_BYTES = 1 << 20  # records up to a core's L2 cache gain nothing from prefetching


# --- records --------------------------------------------------------------------------------


@njit(cache=True)
def _seconds(units, quantum_s):
    """Return a distance in seconds (float64), inf for ``UNREACHED``."""
    if units >= UNREACHED:
        return np.inf
    return units * quantum_s


@njit(cache=True)
def _tie_wins(hops, edge, source, old_hops, old_edge, old_source):
    """Whether an offer of the same time as a label beats it: fewer hops, then a smaller edge;
    the same edge wins only to bring a changed source down the tree."""
    if hops != old_hops:
        return hops < old_hops
    if edge != old_edge:
        return edge < old_edge
    return source != old_source


@njit(cache=True)
def _beats(records, z, dist, hops, edge, source):
    """Whether the offer (dist, hops, via edge, from source) beats node z's label."""
    if dist != records[z, DIST]:
        return dist < records[z, DIST]
    return _tie_wins(
        hops, edge, source, records[z, HOPS], records[z, NEXT_EDGE], records[z, SOURCE]
    )


@njit(cache=True)
def _assign(records, z, dist, hops, parent, edge, source):
    """Write node z's label: its key, next hop (node and forward edge) and source."""
    records[z, DIST] = dist
    records[z, HOPS] = hops
    records[z, NEXT_NODE] = parent
    records[z, NEXT_EDGE] = edge
    records[z, SOURCE] = source


@njit(cache=True)
def _reset(records):
    """Mark every node unreached, with no next hop and in no bucket."""
    for v in range(records.shape[0]):
        _assign(records, v, UNREACHED, 0, -1, -1, -1)
        records[v, _QUEUED] = 0
        records[v, 6] = 0
        records[v, 7] = 0


@njit(cache=True)
def _publish_node(records, v, quantum_s, labels, dist_s):
    """Copy node v's label into the (5, n) labels and its distance into seconds."""
    for row in range(5):
        labels[row, v] = records[v, row]
    dist_s[v] = _seconds(records[v, DIST], quantum_s)


@njit(cache=True)
def publish(records, quantum_s, labels, dist_s):
    """Copy every node's label from (n, 8) records into (5, n) int32 labels and (n,) float64
    seconds (inf where unreached)."""
    for v in range(records.shape[0]):
        _publish_node(records, v, quantum_s, labels, dist_s)


@njit(cache=True)
def publish_nodes(records, nodes, quantum_s, labels, dist_s):
    """Copy the labels of ``nodes`` (int32, repeats allowed) only: what a repair changed."""
    for v in nodes:
        _publish_node(records, v, quantum_s, labels, dist_s)


@njit(cache=True)
def _max_finite(weights):
    """Return the largest weight below ``UNREACHED`` (0 if none): the bucket ring's span."""
    top = 0
    for w in weights:
        if w < UNREACHED and w > top:
            top = w
    return top


@njit(cache=True)
def _ring_size(top):
    """Return the bucket ring size: a power of two above the longest edge, so that a time's
    bucket is ``time & (size - 1)`` rather than a division."""
    size = 1
    while size <= top:
        size *= 2
    return size


@njit(cache=True)
def _seeded_by_distance(seeds):
    """Return the seeded nodes (int64) in order of their start offset, for lazy seeding."""
    nodes = np.nonzero(seeds[SEED_DIST] < UNREACHED)[0]
    order = np.argsort(seeds[SEED_DIST][nodes], kind="mergesort")
    return nodes[order]


# --- reversed graph ------------------------------------------------------------------------


@njit(cache=True)
def quantise_reversed(weights_s, rev_slot, quantum_s, out):
    """Quantise one profile's weights and lay them out in reversed slot order, in one pass.

    weights_s (m,) float64 seconds (inf = closed), in forward edge order; rev_slot (m,) int32
    (see ``reverse_csr``); out (m,) int32 quanta in reversed slot order, rounded to nearest
    (as ``np.rint``), ``UNREACHED`` for inf. Returns (invalid, top): how many weights are NaN,
    negative or too long for int32, and the largest finite quantised weight. Reads in order and
    scatters the writes (faster than the reverse): about 2 ms per million edges.
    """
    invalid = 0
    top = 0
    for e in range(rev_slot.size):
        w = weights_s[e]
        units = np.rint(w / quantum_s)
        if not w >= 0 or (units >= UNREACHED and w != np.inf):
            invalid += 1
            out[rev_slot[e]] = UNREACHED
        elif w == np.inf:
            out[rev_slot[e]] = UNREACHED
        else:
            out[rev_slot[e]] = np.int32(units)
            top = max(top, np.int32(units))
    return invalid, top


@njit(cache=True)
def fill_seeds(nodes, offsets, seeds):
    """Fill (K, 2, n) seeds from sources: per node the smallest offset and its source's index.

    nodes (s,) int64 source nodes (repeats allowed); offsets (K, s) int32 quanta
    (``UNREACHED``: the source is disabled in that profile). Of equal offsets on one node the
    smaller source index wins. Cost O(K (n + s)), with no temporaries.
    """
    for k in range(seeds.shape[0]):
        seeds[k, SEED_DIST, :] = UNREACHED
        seeds[k, SEED_SOURCE, :] = -1
        for i in range(nodes.size):
            v = nodes[i]
            if offsets[k, i] < seeds[k, SEED_DIST, v]:
                seeds[k, SEED_DIST, v] = offsets[k, i]
                seeds[k, SEED_SOURCE, v] = i


@njit(cache=True)
def reverse_csr(indptr, indices, rev_indptr, rev_indices, rev_edge, rev_slot):
    """Fill the reversed CSR of a forward CSR graph, with edge-id maps both ways.

    Parameters
    ----------
    indptr, indices : (n + 1,) int64 and (m,) int32, the forward graph (edge e: row -> head).
    rev_indptr, rev_indices : (n + 1,) int64 and (m,) int32 outputs: row x lists the tails of
        the forward edges into x, in increasing forward edge id (a counting sort, stable).
    rev_edge : (m,) int32 output, the forward edge id of each reversed slot.
    rev_slot : (m,) int32 output, the reversed slot of each forward edge (its inverse).
    """
    n = indptr.size - 1
    rev_indptr[:] = 0
    for e in range(indices.size):
        rev_indptr[indices[e] + 1] += 1
    for v in range(n):
        rev_indptr[v + 1] += rev_indptr[v]
    fill = rev_indptr[:n].copy()
    for u in range(n):
        for e in range(indptr[u], indptr[u + 1]):
            j = fill[indices[e]]
            fill[indices[e]] += 1
            rev_indices[j] = u
            rev_edge[j] = e
            rev_slot[e] = j


# --- bucket queue (Dial) --------------------------------------------------------------------


@intrinsic
def _prefetch(typingctx, array, index):
    """Hint the CPU to fetch ``array[index]`` (flat index) into cache; no effect on results.

    Wavefront order is random in memory; fetching the data of the next queued nodes while the
    current one is relaxed hides much of each cache miss.
    """
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def dial_search(rev_indptr, rev_indices, rev_edge, rev_weight, seeds, records):
    """Multi-source shortest times with Dial's bucket queue; return the number of pops.

    Parameters
    ----------
    rev_indptr, rev_indices, rev_edge : (n + 1,) int64, (m,) int32, (m,) int32, the reversed
        graph with forward edge ids (see ``reverse_csr``).
    rev_weight : (m,) int32 edge times in quanta, in reversed slot order; ``UNREACHED`` = closed.
    seeds : (2, n) int32 start offsets (quanta) and source indices of the source nodes.
    records : (n, 8) int32 output, see the module docstring.

    Integer times make each bucket one exact distance: a ring of more buckets than the longest
    edge holds every tentative distance at once, so a pop is O(1) instead of O(log n). See
    ``_dial`` for the loop. Its n + m bucket entries suffice unless zero-weight edges make
    nodes settle again and again; then the binary heap (same labels) takes over.
    """
    capacity = records.shape[0] + rev_indices.size
    pops = _dial(rev_indptr, rev_indices, rev_edge, rev_weight, seeds, records, capacity)
    if pops < 0:
        return heap_search(rev_indptr, rev_indices, rev_edge, rev_weight, seeds, records)
    return pops


@njit(cache=True)
def _dial(rev_indptr, rev_indices, rev_edge, rev_weight, seeds, records, capacity):  # noqa: C901, PLR0912, PLR0915 - one hot loop, written out
    """Dial's search with at most ``capacity`` bucket entries; return the pops, or -1 if the
    entries ran out (the records are then incomplete).

    Buckets are stacks of entries (node, next entry) with lazy deletion: a node whose time
    falls gets a new entry, and the old one is skipped when its bucket comes, its time no
    longer matching (or the node having no live entry, ``_QUEUED``). A node popped earlier in
    a bucket is queued again if an equal-time offer has fewer hops or a smaller edge (only
    zero-weight edges can do that), which keeps the labels canonical; distances are final, so
    this never reopens an earlier bucket. Seeds enter when the scan reaches their offset;
    between buckets a tight loop skips the empty ones (most buckets of a sparse road wavefront
    are).

    The loop is written out, with no helper that takes an array, and the entry arrays are
    never replaced: Numba then counts references in the loop and LLVM keeps such calls, which
    made the search 1.5 to 3 times slower. When the records overflow the cache, each pop
    prefetches the tails' records of the next entry, the edges of the one after and the record
    of the third; that makes a large search about 20 % faster and a small one slower, hence
    ``deep``.
    """
    _reset(records)
    order = _seeded_by_distance(seeds)
    head = np.full(_ring_size(_max_finite(rev_weight)), -1, np.int32)
    mask = head.size - 1
    entry_node = np.empty(capacity, np.int32)
    entry_next = np.empty(capacity, np.int32)
    deep = records.nbytes > _CACHED_BYTES
    used = live = next_seed = pops = 0
    d = np.int64(seeds[SEED_DIST, order[0]]) if order.size else np.int64(0)
    while live > 0 or next_seed < order.size:
        while next_seed < order.size and seeds[SEED_DIST, order[next_seed]] <= d:
            v = order[next_seed]
            next_seed += 1
            s = seeds[SEED_SOURCE, v]
            if not _beats(records, v, d, 0, -1, s):
                continue
            if records[v, DIST] != d or records[v, _QUEUED] == 0:
                if used == capacity:
                    return -1
                entry_node[used], entry_next[used], head[d & mask] = v, head[d & mask], used
                used += 1
                live += 1
                records[v, _QUEUED] = 1
            _assign(records, v, d, 0, -1, -1, s)
        b = d & mask
        while head[b] != -1:
            entry = head[b]
            head[b] = entry_next[entry]
            live -= 1
            v = entry_node[entry]
            if records[v, DIST] != d or records[v, _QUEUED] == 0:
                continue
            records[v, _QUEUED] = 0
            pops += 1
            if deep and head[b] != -1:
                after = head[b]
                n1 = entry_node[after]
                for j in range(rev_indptr[n1], rev_indptr[n1 + 1]):
                    _prefetch(records, rev_indices[j] * RECORD_WIDTH)
                after = entry_next[after]
                if after != -1:
                    n2 = entry_node[after]
                    _prefetch(rev_indices, rev_indptr[n2])
                    _prefetch(rev_weight, rev_indptr[n2])
                    after = entry_next[after]
                    if after != -1:
                        _prefetch(rev_indptr, entry_node[after])
                        _prefetch(records, entry_node[after] * RECORD_WIDTH)
            hv, sv = records[v, HOPS] + 1, records[v, SOURCE]
            for j in range(rev_indptr[v], rev_indptr[v + 1]):
                nd = d + rev_weight[j]
                z = rev_indices[j]
                dz = records[z, DIST]
                if nd > dz or nd >= UNREACHED:
                    continue
                e = rev_edge[j]
                if nd == dz and not _tie_wins(
                    hv, e, sv, records[z, HOPS], records[z, NEXT_EDGE], records[z, SOURCE]
                ):
                    continue
                records[z, DIST] = nd
                records[z, HOPS] = hv
                records[z, NEXT_NODE] = v
                records[z, NEXT_EDGE] = e
                records[z, SOURCE] = sv
                if nd != dz or records[z, _QUEUED] == 0:
                    if used == capacity:
                        return -1
                    entry_node[used], entry_next[used], head[nd & mask] = z, head[nd & mask], used
                    used += 1
                    live += 1
                    records[z, _QUEUED] = 1
        limit = np.int64(UNREACHED)
        if next_seed < order.size:
            limit = np.int64(seeds[SEED_DIST, order[next_seed]])
        if live == 0:
            d = limit
            continue
        d += 1
        while head[d & mask] == -1 and d < limit:
            d += 1
    return pops


# --- binary heap ----------------------------------------------------------------------------


@njit(cache=True)
def _key(records, v):
    """Return node v's (distance, hops) as one int64 that orders the same way."""
    return (np.int64(records[v, DIST]) << 32) | np.int64(records[v, HOPS])


@njit(cache=True)
def _heap_push(keys, nodes, size, key, node):
    """Sift (key, node) up into a binary min-heap of ``size`` entries with room for one more."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        nodes[i] = nodes[parent]
        i = parent
    keys[i] = key
    nodes[i] = node


@njit(cache=True)
def _heap_pop(keys, nodes, size):
    """Remove the root of a heap of ``size`` > 0 entries; return its (key, node)."""
    top_key, top_node = keys[0], nodes[0]
    last_key, last_node = keys[size - 1], nodes[size - 1]
    size -= 1
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= last_key:
            break
        keys[i] = keys[child]
        nodes[i] = nodes[child]
        i = child
    keys[i] = last_key
    nodes[i] = last_node
    return top_key, top_node


@njit(cache=True)
def _grow(keys, nodes, need):
    """Return copies of the heap arrays with room for at least ``need`` entries."""
    cap = max(need, 2 * keys.size)
    new_keys = np.empty(cap, np.int64)
    new_nodes = np.empty(cap, np.int32)
    new_keys[: keys.size] = keys
    new_nodes[: nodes.size] = nodes
    return new_keys, new_nodes


@njit(cache=True)
def _run_heap(  # noqa: PLR0913, PLR0917 - CSR, records, heap and log
    rev_indptr, rev_indices, rev_edge, rev_weight, records, keys, nodes, size, log
):
    """Run Dijkstra on lexicographic keys until the heap is empty; return the live pops.

    keys (int64) and nodes (int32) hold a heap of ``size`` entries. An entry whose key no longer
    matches its node's label is stale and skipped (lazy deletion: no position array, so a
    repair costs what it touches). Every update is pushed, also an equal-key one (a smaller
    edge, a new source): a repair starts from a settled tree, where such a node may be in no
    heap. The first ``log.size`` live pops are written to ``log``.
    """
    pops = 0
    while size > 0:
        key, v = _heap_pop(keys, nodes, size)
        size -= 1
        if key != _key(records, v):
            continue
        if pops < log.size:
            log[pops] = v
        pops += 1
        start, stop = rev_indptr[v], rev_indptr[v + 1]
        if size + stop - start > keys.size:
            keys, nodes = _grow(keys, nodes, size + stop - start)
        dv, hv, sv = np.int64(records[v, DIST]), records[v, HOPS] + 1, records[v, SOURCE]
        for j in range(start, stop):
            nd = dv + rev_weight[j]
            z = rev_indices[j]
            if nd < UNREACHED and _beats(records, z, nd, hv, rev_edge[j], sv):
                _assign(records, z, nd, hv, v, rev_edge[j], sv)
                _heap_push(keys, nodes, size, _key(records, z), z)
                size += 1
    return pops


@njit(cache=True)
def heap_search(rev_indptr, rev_indices, rev_edge, rev_weight, seeds, records):
    """Multi-source shortest times with a binary heap; same contract as ``dial_search``.

    The reference kernel, and the fallback when one edge is too long for a bucket ring.
    """
    _reset(records)
    n = records.shape[0]
    keys = np.empty(n + 1, np.int64)
    nodes = np.empty(n + 1, np.int32)
    size = 0
    for v in _seeded_by_distance(seeds):
        _assign(records, v, seeds[SEED_DIST, v], 0, -1, -1, seeds[SEED_SOURCE, v])
        _heap_push(keys, nodes, size, _key(records, v), v)
        size += 1
    no_log = np.empty(0, np.int32)
    return _run_heap(
        rev_indptr, rev_indices, rev_edge, rev_weight, records, keys, nodes, size, no_log
    )


# --- one profile, several profiles at once ------------------------------------------------

QUEUE_AUTO, QUEUE_BUCKET, QUEUE_HEAP = 0, 1, 2


@njit(cache=True)
def solve_profile(topology, weights_s, seeds, outputs, options):
    """Quantise one profile's weights, search and publish, in one call; return how many
    weights were invalid (then nothing was searched, and the caller raises).

    topology (rev_indptr, rev_indices, rev_edge, rev_slot), see ``reverse_csr``; weights_s
    (m,) float64 seconds in forward order; seeds (2, n) int32; outputs (units (m,) int32 in
    reversed slot order, records (n, 8), labels (5, n) int32, dist_s (n,) float64); options
    (quantum_s, queue, max_span, prepared): queue one of ``QUEUE_AUTO`` (buckets unless an
    edge is longer than ``max_span`` quanta), ``QUEUE_BUCKET`` or ``QUEUE_HEAP``; with
    ``prepared``, units already hold the quantised weights and weights_s is not read. One call
    rather than three: on a city of a few thousand edges, each call from Python costs about as
    much as quantising.
    """
    rev_indptr, rev_indices, rev_edge, rev_slot = topology
    units, records, labels, dist_s = outputs
    quantum_s, queue, max_span, prepared = options
    if prepared:
        top = _max_finite(units)
    else:
        invalid, top = quantise_reversed(weights_s, rev_slot, quantum_s, units)
        if invalid:
            return invalid
    if queue == QUEUE_HEAP or (queue == QUEUE_AUTO and top > max_span):
        heap_search(rev_indptr, rev_indices, rev_edge, units, seeds, records)
    else:
        dial_search(rev_indptr, rev_indices, rev_edge, units, seeds, records)
    publish(records, quantum_s, labels, dist_s)
    return 0


@njit(cache=True, parallel=True)
def search_profiles(topology, weights_s, seeds, outputs, options):
    """``solve_profile`` for K profiles over one topology, one profile per thread; return the
    invalid weights in all.

    weights_s (K, m) float64 and seeds (K, 2, n) int32; outputs as ``solve_profile``'s with a
    leading K (units (K, m), records (K, n, 8), labels (K, 5, n), dist_s (K, n)). Profiles
    share only read-only topology, so they run in parallel without locks; quantising runs in
    the threads too.
    """
    units, records, labels, dist_s = outputs
    invalid = np.zeros(units.shape[0], np.int64)
    for k in prange(units.shape[0]):
        mine = (units[k], records[k], labels[k], dist_s[k])
        invalid[k] = solve_profile(topology, weights_s[k], seeds[k], mine, options)
    return invalid.sum()


# --- routes -----------------------------------------------------------------------------------


@njit(cache=True)
def follow_next(next_node, next_edge, start, nodes_out, edges_out):
    """Walk next hops from ``start`` to its source; return the number of edges taken.

    nodes_out (h + 1,) int32 and edges_out (h,) int32 receive the node and forward edge
    sequences, h being the start's hop count; the walk stops there even if the labels were
    damaged, so it cannot loop.
    """
    v = start
    nodes_out[0] = v
    taken = 0
    while taken < edges_out.size and next_node[v] >= 0:
        edges_out[taken] = next_edge[v]
        v = next_node[v]
        taken += 1
        nodes_out[taken] = v
    return taken


# --- repairs ----------------------------------------------------------------------------------


@njit(cache=True)
def _detach_subtree(y, rev_indptr, rev_indices, rev_edge, seeds, records, touched, count):
    """Detach y and every node whose next-hop path runs through y; return the new count.

    A detached node keeps only what it owns, its seed if it is a source, and is marked
    ``_DETACHED``. touched (n,) int32 doubles as the BFS queue. A child z of v is found in v's
    reversed row by its next edge being that slot's edge; each node has one next edge, so
    no visited marks are needed.
    """
    _assign(records, y, seeds[SEED_DIST, y], 0, -1, -1, _DETACHED)
    touched[count] = y
    end = count + 1
    while count < end:
        v = touched[count]
        count += 1
        for j in range(rev_indptr[v], rev_indptr[v + 1]):
            z = rev_indices[j]
            if records[z, NEXT_EDGE] == rev_edge[j]:
                _assign(records, z, seeds[SEED_DIST, z], 0, -1, -1, _DETACHED)
                touched[end] = z
                end += 1
    return end


@njit(cache=True)
def _reattach(v, indptr, indices, rev_slot, rev_weight, records):
    """Give detached node v its best offer from attached neighbours, its source left open.

    Reads only nodes with a real source (attached, hence final), so the order in which
    detached nodes are visited does not matter.
    """
    for e in range(indptr[v], indptr[v + 1]):
        x = indices[e]
        nd = np.int64(records[x, DIST]) + rev_weight[rev_slot[e]]
        sx = records[x, SOURCE]
        if sx >= 0 and nd < UNREACHED and _beats(records, v, nd, records[x, HOPS] + 1, e, sx):
            _assign(records, v, nd, records[x, HOPS] + 1, x, e, _DETACHED)


@njit(cache=True)
def _settle_source(v, seeds, records):
    """Close a re-attached node's source: its next hop's, its own as a root, or none."""
    parent = records[v, NEXT_NODE]
    if parent >= 0:
        records[v, SOURCE] = records[parent, SOURCE]
    elif records[v, DIST] < UNREACHED:
        records[v, SOURCE] = seeds[SEED_SOURCE, v]
    else:
        records[v, SOURCE] = -1


@njit(cache=True)
def repair_raised(  # noqa: PLR0913, PLR0917 - both CSR directions, state and work list
    indptr,
    indices,
    rev_indptr,
    rev_indices,
    rev_edge,
    rev_slot,
    rev_weight,
    seeds,
    records,
    edges,
    touched,
):
    """Repair records after the weights of ``edges`` went up (a closure sets ``UNREACHED``).

    Only nodes whose next-hop path used a raised edge can change: they are detached (their
    subtree in the shortest-path forest), re-seeded from their attached neighbours (the
    boundary) and their own seed, then settled by Dijkstra on the same canonical keys, so the
    records equal a full recompute. Weights must already hold the new values.

    edges (r,) int64 forward edge ids; touched (n,) int32 receives the detached nodes.
    Returns how many nodes were detached and recomputed (the first entries of ``touched``).
    """
    count = 0
    for e in edges:
        y = np.searchsorted(indptr, e, side="right") - 1
        if records[y, NEXT_EDGE] == e:
            count = _detach_subtree(
                y, rev_indptr, rev_indices, rev_edge, seeds, records, touched, count
            )
    keys = np.empty(count + 1, np.int64)
    nodes = np.empty(count + 1, np.int32)
    size = 0
    for i in range(count):
        _reattach(touched[i], indptr, indices, rev_slot, rev_weight, records)
    for i in range(count):
        _settle_source(touched[i], seeds, records)
        if records[touched[i], DIST] < UNREACHED:
            _heap_push(keys, nodes, size, _key(records, touched[i]), touched[i])
            size += 1
    no_log = np.empty(0, np.int32)
    _run_heap(rev_indptr, rev_indices, rev_edge, rev_weight, records, keys, nodes, size, no_log)
    return count


@njit(cache=True)
def repair_lowered(  # noqa: PLR0913, PLR0917 - both CSR directions, state and work list
    indptr,
    indices,
    rev_indptr,
    rev_indices,
    rev_edge,
    rev_slot,
    rev_weight,
    records,
    edges,
    touched,
):
    """Repair records after the weights of ``edges`` went down (a reopening, a faster road).

    A decrease can only improve labels downstream of a lowered edge, so each lowered edge
    offers its head's label to its tail and a Dijkstra from those offers settles whatever
    improves; equal-key changes (a smaller edge, a new source) travel the same way, keeping the
    records equal to a full recompute. Weights must already hold the new values.

    edges (r,) int64 forward edge ids; touched (n,) int32 receives the settled nodes (repeats
    possible). Returns how many were settled; more than n means touched holds only the first n.
    """
    keys = np.empty(edges.size + 1, np.int64)
    nodes = np.empty(edges.size + 1, np.int32)
    size = 0
    for e in edges:
        y = np.searchsorted(indptr, e, side="right") - 1
        x = indices[e]
        nd = np.int64(records[x, DIST]) + rev_weight[rev_slot[e]]
        hops, sx = records[x, HOPS] + 1, records[x, SOURCE]
        if nd < UNREACHED and _beats(records, y, nd, hops, e, sx):
            _assign(records, y, nd, hops, x, e, sx)
            _heap_push(keys, nodes, size, _key(records, y), y)
            size += 1
    return _run_heap(
        rev_indptr, rev_indices, rev_edge, rev_weight, records, keys, nodes, size, touched
    )
