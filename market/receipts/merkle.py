"""The log side of the receipts Merkle tree (RFC 9162 §2.1): roots, stored nodes and proofs.

Storage-agnostic: the tree is kept as its *nodes*, addressed ``(level, index)``. Level 0 holds
the leaf hashes; node ``(l, i)`` is the root of the perfect subtree over leaves
``[i·2^l, (i+1)·2^l)``. A node is written once, when its last leaf is appended, and never
changes, so the stored nodes of a tree of size N serve proofs for every size up to N.

The *frontier* of a tree of size n is the hashes of the perfect subtrees covering ``[0, n)``,
largest first (its compact range, ``range_nodes(0, n)``); it is all that is needed to append.

Proofs are built in two steps so that a caller reads storage once: ``inclusion_paths`` /
``consistency_paths`` name every stored node a proof needs (including those that make up a
subtree that is not perfect, on the right edge of the tree), then ``inclusion_proof`` /
``consistency_proof`` assemble the RFC 9162 proof from those nodes. The proofs are checked by
``market.receipts.verifier``, which holds the hashing rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from market.receipts.verifier import Hash, empty_root, node_hash

NodeId = tuple[int, int]
"""A stored node's address: ``(level, index)``."""

Nodes = Mapping[NodeId, bytes]
"""Stored node hashes by address."""


def root(h: Hash, leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of the tree over ``leaf_hashes``, built level by level.

    Pairing each level left to right and carrying an odd last node up unchanged gives the
    RFC 9162 tree: its split at the largest power of two below n is exactly that carry.
    """
    level = list(leaf_hashes)
    if not level:
        return empty_root(h)
    while len(level) > 1:
        paired = [node_hash(h, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def range_nodes(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees that cover leaves ``[start, end)``, left to right, each as large
    as its alignment allows (the compact range). ``range_nodes(0, n)`` is the frontier."""
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    out: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return out


def new_nodes(
    h: Hash, frontier: Sequence[bytes], start_size: int, leaf_hashes: Iterable[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """Append ``leaf_hashes`` to the tree of ``start_size`` leaves whose frontier is
    ``frontier``.

    Returns every node completed by the append, as ``(level, index, hash)`` (the leaves
    themselves included, parents after their children), and the new frontier.

    Raises:
        ValueError: the frontier does not have one hash per perfect subtree of
            ``start_size`` leaves.
    """
    if start_size < 0 or len(frontier) != start_size.bit_count():
        raise ValueError(f"a frontier of {len(frontier)} hashes cannot cover {start_size} leaves")
    stack = list(frontier)
    out: list[tuple[int, int, bytes]] = []
    append = out.append
    n = start_size
    for node in leaf_hashes:
        append((0, n, node))
        level, index = 0, n
        while index & 1:  # a right child: its left sibling is the frontier's smallest subtree
            node = node_hash(h, stack.pop(), node)
            level += 1
            index >>= 1
            append((level, index, node))
        stack.append(node)
        n += 1
    return out, stack


def root_from_frontier(h: Hash, frontier: Sequence[bytes], size: int) -> bytes:
    """The root of the tree of ``size`` leaves whose frontier is ``frontier``.

    Raises:
        ValueError: the frontier does not have one hash per perfect subtree of ``size``.
    """
    if size < 0 or len(frontier) != size.bit_count():
        raise ValueError(f"a frontier of {len(frontier)} hashes cannot cover {size} leaves")
    return _fold(h, frontier)


def _fold(h: Hash, hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its compact range (largest first): fold from the right."""
    if not hashes:
        return empty_root(h)
    r = hashes[-1]
    for left in reversed(hashes[:-1]):
        r = node_hash(h, left, r)
    return r


def subtree_root(h: Hash, start: int, end: int, nodes: Nodes) -> bytes:
    """MTH of leaves ``[start, end)`` from the stored perfect subtrees that cover it.

    Only ranges that are subtrees of some RFC 9162 tree have such a hash: ``start`` must be
    a multiple of the smallest power of two at least ``end - start`` (any range from 0 is).

    Raises:
        ValueError: the range is not such a subtree.
        KeyError: a node of ``range_nodes(start, end)`` is missing from ``nodes``.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    width = end - start
    if width and start % (1 << (width - 1).bit_length()):
        raise ValueError(f"[{start}, {end}) is not a subtree of any Merkle tree")
    return _fold(h, [nodes[n] for n in range_nodes(start, end)])


def _plan(index: int, level: int, size: int) -> tuple[list[NodeId], list[NodeId], list[NodeId]]:
    """The nodes on the path from the complete node ``(level, index)`` to the root of the
    tree of ``size`` leaves: its siblings up to the fork with the tree's right edge, the
    compact range of the incomplete subtree right of the fork (one proof element, may be
    empty), and the perfect subtrees left of the fork, smallest first."""
    inner = (index ^ (size >> level)).bit_length() - 1
    siblings = [(level + j, (index >> j) ^ 1) for j in range(inner)]
    fork_level = level + inner
    begin = (index >> inner) << fork_level
    end = begin + (1 << fork_level)
    left = range_nodes(0, begin)
    left.reverse()
    return siblings, range_nodes(end, size), left


def _assemble(
    h: Hash, plan: tuple[list[NodeId], list[NodeId], list[NodeId]], nodes: Nodes
) -> list[bytes]:
    siblings, right, left = plan
    proof = [nodes[n] for n in siblings]
    if right:
        proof.append(_fold(h, [nodes[n] for n in right]))
    proof.extend(nodes[n] for n in left)
    return proof


def _check_leaf(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")


def inclusion_paths(index: int, size: int) -> list[NodeId]:
    """Every stored node ``inclusion_proof(h, index, size, ...)`` reads.

    Raises:
        ValueError: ``index`` is not a leaf of a tree of ``size`` leaves.
    """
    _check_leaf(index, size)
    siblings, right, left = _plan(index, 0, size)
    return siblings + right + left


def inclusion_proof(h: Hash, index: int, size: int, nodes: Nodes) -> list[bytes]:
    """The RFC 9162 inclusion proof (PATH) of leaf ``index`` in the tree of ``size`` leaves.

    Raises:
        ValueError: ``index`` is not a leaf of a tree of ``size`` leaves.
        KeyError: a node of ``inclusion_paths(index, size)`` is missing from ``nodes``.
    """
    _check_leaf(index, size)
    return _assemble(h, _plan(index, 0, size), nodes)


def _consistency_plan(
    size1: int, size2: int
) -> tuple[NodeId | None, tuple[list[NodeId], list[NodeId], list[NodeId]]] | None:
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 in (0, size2):
        return None
    # The proof is the path to the size2 root from the last perfect subtree of the size1
    # tree, led by that subtree's hash unless it is the whole size1 tree.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    return ((level, index) if index else None), _plan(index, level, size2)


def consistency_paths(size1: int, size2: int) -> list[NodeId]:
    """Every stored node ``consistency_proof(h, size1, size2, ...)`` reads.

    Raises:
        ValueError: not ``0 <= size1 <= size2``.
    """
    plan = _consistency_plan(size1, size2)
    if plan is None:
        return []
    first, (siblings, right, left) = plan
    return ([first] if first is not None else []) + siblings + right + left


def consistency_proof(h: Hash, size1: int, size2: int, nodes: Nodes) -> list[bytes]:
    """The RFC 9162 consistency proof (PROOF) from the tree of ``size1`` leaves to the tree
    of ``size2`` leaves; empty when ``size1`` is 0 or equals ``size2``.

    Raises:
        ValueError: not ``0 <= size1 <= size2``.
        KeyError: a node of ``consistency_paths(size1, size2)`` is missing from ``nodes``.
    """
    plan = _consistency_plan(size1, size2)
    if plan is None:
        return []
    first, path = plan
    proof = _assemble(h, path, nodes)
    if first is not None:
        proof.insert(0, nodes[first])
    return proof
