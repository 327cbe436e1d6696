"""The word graph of one document and the topic-biased PageRank that scores its words.

Single Topical PageRank (Sterckx et al., 2015) runs PageRank once per document on the
co-occurrence graph of its candidate words, with the random jump biased towards words
whose topics match the document's:

    R(w_i) = d * sum_j e(w_j, w_i) / O(w_j) * R(w_j)  +  (1 - d) * W(w_i) / sum_k W(w_k)

where ``e(w_j, w_i)`` is the number of times the two words occur within the window,
``O(w_j) = sum_k e(w_j, w_k)`` and ``W(w) = cos(P(t | w), P(t | d))``; d = 0.85. The graph is
undirected and has no self-loops. A word with no edge (alone in its windows) sends its
rank back through the bias, so ranks always sum to one. The graph is a dense matrix (a
document has tens to a few hundred distinct candidate words) and the ranks are solved for
directly rather than by power iteration.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["DAMPING", "biased_pagerank", "cooccurrence_matrix"]

#: d, the probability of following an edge rather than jumping.
DAMPING: Final = 0.85

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def cooccurrence_matrix(
    nodes: IntArray, positions: IntArray, n_nodes: int, window: int
) -> FloatArray:
    """Count how often two nodes occur within ``window`` consecutive words.

    ``nodes[k]`` is the node of the k-th candidate word and ``positions[k]`` its position
    among the document's words (increasing). Two occurrences are linked when their
    positions differ by less than ``window``.
    """
    weights = np.zeros((n_nodes, n_nodes))
    count = nodes.shape[0]
    # Positions strictly increase, so partners are at most window - 1 entries ahead.
    for lag in range(1, min(window, count)):
        near = (positions[lag:] - positions[:-lag]) < window
        if not near.any():
            continue
        left = nodes[:-lag][near]
        right = nodes[lag:][near]
        distinct = left != right
        np.add.at(weights, (left[distinct], right[distinct]), 1.0)
    return weights + weights.T


def biased_pagerank(weights: FloatArray, bias: FloatArray) -> FloatArray:
    """Return the PageRank of each node of the weighted graph, jumping according to ``bias``."""
    n_nodes = bias.shape[0]
    if n_nodes == 0:
        return np.zeros(0)
    total = float(bias.sum())
    jump = bias / total if total > 0 else np.full(n_nodes, 1.0 / n_nodes)
    out_weight = weights.sum(axis=1)
    dangling = out_weight == 0
    # transition[i, j] = e(w_j, w_i) / O(w_j): column j spreads w_j's rank over its edges.
    transition = (weights / np.where(dangling, 1.0, out_weight)[:, None]).T
    # A word without edges sends its rank where the bias jumps to.
    transition[:, dangling] = jump[:, None]
    # The ranks are the fixed point R = d M R + (1 - d) b: one small linear system, solved
    # exactly (I - d M is invertible for d < 1 since M is column-stochastic), which at a
    # document's size is faster than iterating to a tolerance.
    system = np.eye(n_nodes) - DAMPING * transition
    return np.asarray(np.linalg.solve(system, (1.0 - DAMPING) * jump), dtype=np.float64)
