"""The numerics of rating prediction: biased MF by ALS and SVD++ by mini-batch SGD.

Both methods minimise the same objective over the training ratings ``r_ui``::

    sum (r_ui - r̂_ui)²  +  λ (n_u ‖p_u‖² + n_i ‖q_i‖²)  +  λ_b (b_u² + b_i²)
    r̂_ui = μ + b_u + b_i + q_i · p_u                      (biased_mf)
    r̂_ui = μ + b_u + b_i + q_i · (p_u + |N(u)|^-½ Σ y_j)  (svdpp, j over N(u))

``λ`` weighs each factor by its number of ratings ``n`` (the per-rating regularisation of
Koren's SGD, the weighted-λ of ALS-WR); ``λ_b`` is a plain damping of the biases, worth
``λ_b`` ratings of 0, which serves users and items with few ratings better than a
per-rating one. ``N(u)`` is the set of items ``u`` rated in training.

Everything here works on integer codes (0..n-1) for users and items; mapping ids to
codes and back is :mod:`modelyard.algorithms.rating`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from modelyard.algorithms.rating_params import RatingParams

__all__ = ["CodedRatings", "LatentFactors", "fit_biased_mf", "fit_svdpp"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Conjugate-gradient steps per ALS half-sweep. Warm-started from the previous sweep's
#: solution, three steps land within noise of the exact ridge solution (ALS-CG,
#: Takács et al. 2011) at a fraction of the cost of one (k+1)² system per user.
_CG_STEPS = 3

#: Largest users * items for which SVD++ keeps |N(u)|^-½ as a dense matrix: one BLAS
#: product then beats gathering and segment-summing every rating (MovieLens-100k is
#: 1.6 M cells, 13 MB); beyond it the sparse path keeps memory linear in the ratings.
_DENSE_IMPLICIT_CELLS = 4_000_000


@dataclass(frozen=True, kw_only=True, eq=False)
class _Segments:
    """Ratings grouped by one side (users or items): what ALS and the sums need."""

    #: Rating indices sorted by this side's code (stable).
    order: IntArray
    #: Where each code's ratings start in ``order`` (length n + 1).
    starts: IntArray
    #: This side's code of each rating in ``order``.
    rows: IntArray
    #: The other side's code of each rating in ``order``.
    others: IntArray
    #: Number of ratings per code.
    counts: FloatArray


def _segments(rows: IntArray, others: IntArray, n: int) -> _Segments:
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.searchsorted(sorted_rows, np.arange(n + 1)).astype(np.int64)
    return _Segments(
        order=order,
        starts=starts,
        rows=sorted_rows,
        others=others[order],
        counts=np.diff(starts).astype(np.float64),
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class CodedRatings:
    """Training ratings as integer codes, every user and item code having a rating."""

    #: User code of each rating.
    users: IntArray
    #: Item code of each rating.
    items: IntArray
    #: The ratings.
    values: FloatArray
    #: Number of distinct users (codes 0..n_users-1).
    n_users: int
    #: Number of distinct items (codes 0..n_items-1).
    n_items: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_user", _segments(self.users, self.items, self.n_users))
        object.__setattr__(self, "_by_item", _segments(self.items, self.users, self.n_items))

    @property
    def by_user(self) -> _Segments:
        """The ratings grouped by user."""
        found: _Segments = self.__dict__["_by_user"]
        return found

    @property
    def by_item(self) -> _Segments:
        """The ratings grouped by item."""
        found: _Segments = self.__dict__["_by_item"]
        return found


@dataclass(frozen=True, kw_only=True, eq=False)
class LatentFactors:
    """What training learned; SVD++'s implicit sums are folded into the user factors."""

    #: μ, the mean training rating.
    global_mean: float
    #: b_u per user code.
    user_bias: FloatArray
    #: b_i per item code.
    item_bias: FloatArray
    #: p_u per user code (SVD++: p_u + |N(u)|^-½ Σ y_j, fixed once trained).
    user_factors: FloatArray
    #: q_i per item code.
    item_factors: FloatArray


def fit_biased_mf(data: CodedRatings, params: RatingParams) -> LatentFactors:
    """Biased matrix factorisation by alternating least squares (conjugate-gradient steps).

    Each half-sweep solves every user's (then every item's) bias and factors together
    as one ridge regression on the other side's factors with a column of ones; all
    users are solved at once, vectorised over the ratings.
    """
    rng = np.random.default_rng(params.seed)
    mu = float(data.values.mean())
    k = params.factors
    # Column 0 is the bias, columns 1.. the factors.
    users = np.zeros((data.n_users, k + 1))
    items = np.zeros((data.n_items, k + 1))
    users[:, 1:] = rng.normal(0.0, params.init_std, (data.n_users, k))
    items[:, 1:] = rng.normal(0.0, params.init_std, (data.n_items, k))
    for _ in range(params.epochs):
        users = _ridge_side(data.by_user, data.values, mu, items, users, params)
        items = _ridge_side(data.by_item, data.values, mu, users, items, params)
    return LatentFactors(
        global_mean=mu,
        user_bias=np.ascontiguousarray(users[:, 0]),
        item_bias=np.ascontiguousarray(items[:, 0]),
        user_factors=np.ascontiguousarray(users[:, 1:]),
        item_factors=np.ascontiguousarray(items[:, 1:]),
    )


def _ridge_side(
    side: _Segments,
    values: FloatArray,
    mu: float,
    other: FloatArray,
    start: FloatArray,
    params: RatingParams,
) -> FloatArray:
    """Solve each row's [b, p] given the other side's [b, q], by CG from ``start``."""
    seg = side.starts[:-1]
    design = np.empty((len(side.order), other.shape[1]))
    design[:, 0] = 1.0
    design[:, 1:] = other[side.others, 1:]
    target = values[side.order] - mu - other[side.others, 0]
    damping = np.empty_like(start)
    damping[:, 0] = params.bias_regularization
    damping[:, 1:] = (params.regularization * side.counts)[:, None]

    def apply(v: FloatArray) -> FloatArray:
        # (XᵀX + D) v for every row at once: X v per rating, then Xᵀ(·) by segment.
        per_rating = np.einsum("nd,nd->n", design, v[side.rows])
        result: FloatArray = np.add.reduceat(design * per_rating[:, None], seg) + damping * v
        return result

    x = start.copy()
    residual = np.add.reduceat(design * target[:, None], seg) - apply(x)
    direction = residual.copy()
    norm = np.einsum("ad,ad->a", residual, residual)
    for _ in range(_CG_STEPS):
        product = apply(direction)
        curvature = np.einsum("ad,ad->a", direction, product)
        # A row already solved exactly has a zero direction: leave it where it is.
        alpha = np.divide(norm, curvature, out=np.zeros_like(norm), where=curvature > 0)
        x += alpha[:, None] * direction
        residual -= alpha[:, None] * product
        new_norm = np.einsum("ad,ad->a", residual, residual)
        beta = np.divide(new_norm, norm, out=np.zeros_like(norm), where=norm > 0)
        direction = residual + beta[:, None] * direction
        norm = new_norm
    return x


class _Implicit:
    """Sums over N(u): z_u = |N(u)|^-½ Σ y_j, and their transpose for the y gradient."""

    def __init__(self, data: CodedRatings) -> None:
        self._scale = 1.0 / np.sqrt(data.by_user.counts)
        self._by_user = data.by_user
        self._by_item = data.by_item
        self._dense: FloatArray | None = None
        self._dense_t: FloatArray | None = None
        if data.n_users * data.n_items <= _DENSE_IMPLICIT_CELLS:
            dense = np.zeros((data.n_users, data.n_items))
            dense[data.users, data.items] = self._scale[data.users]
            self._dense = dense
            # Its own C-ordered transpose: BLAS multiplies it faster than a .T view.
            self._dense_t = np.ascontiguousarray(dense.T)

    def user_sums(self, y: FloatArray) -> FloatArray:
        """z_u for every user."""
        if self._dense is not None:
            return self._dense @ y
        summed: FloatArray = np.add.reduceat(y[self._by_user.others], self._by_user.starts[:-1])
        return summed * self._scale[:, None]

    def item_sums(self, per_user: FloatArray) -> FloatArray:
        """Σ |N(u)|^-½ per_user[u] over the users u with j in N(u), for every item j."""
        if self._dense_t is not None:
            return self._dense_t @ per_user
        weighted = per_user * self._scale[:, None]
        summed: FloatArray = np.add.reduceat(
            weighted[self._by_item.others], self._by_item.starts[:-1]
        )
        return summed

    def item_counts(self, per_user: FloatArray) -> FloatArray:
        """Σ per_user[u] over the users u with j in N(u), for every item j."""
        counts = np.bincount(
            self._by_item.rows,
            weights=per_user[self._by_item.others],
            minlength=len(self._by_item.counts),
        )
        return counts.astype(np.float64)


def fit_svdpp(data: CodedRatings, params: RatingParams) -> LatentFactors:
    """SVD++ by SGD over shuffled mini-batches of ratings.

    A mini-batch's gradients are summed per user and per item, which stays close to
    sequential SGD while each user or item has only a small share of its ratings in
    one batch. The implicit sums z_u touch every rating, so each batch costs a pass
    over them all; the default batch (4096) is about the largest that keeps the steps
    stable. Recomputing z_u only every few batches was tried and is worse, as stale
    sums overshoot (MovieLens-like data: 16 refreshes an epoch cost +0.011 RMSE, 8
    cost +0.05).
    """
    rng = np.random.default_rng(params.seed)
    mu = float(data.values.mean())
    k, lr, reg = params.factors, params.learning_rate, params.regularization
    p = rng.normal(0.0, params.init_std, (data.n_users, k))
    q = rng.normal(0.0, params.init_std, (data.n_items, k))
    y = rng.normal(0.0, params.init_std, (data.n_items, k))
    user_bias = np.zeros(data.n_users)
    item_bias = np.zeros(data.n_items)
    # λ_b is a damping over all of a code's ratings: spread it over them per step.
    user_bias_decay = params.bias_regularization / data.by_user.counts
    item_bias_decay = params.bias_regularization / data.by_item.counts
    implicit = _Implicit(data)
    n = len(data.values)
    for _ in range(params.epochs):
        shuffled = rng.permutation(n)
        for first in range(0, n, params.batch_size):
            chosen = shuffled[first : first + params.batch_size]
            u, i = data.users[chosen], data.items[chosen]
            pu = p[u] + implicit.user_sums(y)[u]
            qi = q[i]
            error = data.values[chosen] - (
                mu + user_bias[u] + item_bias[i] + np.einsum("nk,nk->n", pu, qi)
            )
            # Sums per user and per item of the batch (sorting beats np.add.at 3x).
            # Every rating of one user reads the same p_u and b_u, so their decay
            # terms sum to count * value.
            users, user_count, (user_error, toward_users) = _sum_by(u, error, error[:, None] * qi)
            items, item_count, (item_error, toward_items) = _sum_by(i, error, error[:, None] * pu)
            user_bias[users] += lr * (
                user_error - user_count * user_bias_decay[users] * user_bias[users]
            )
            item_bias[items] += lr * (
                item_error - item_count * item_bias_decay[items] * item_bias[items]
            )
            p[users] += lr * (toward_users - reg * user_count[:, None] * p[users])
            q[items] += lr * (toward_items - reg * item_count[:, None] * q[items])
            gathered = np.zeros((data.n_users, k))
            gathered[users] = toward_users
            seen = np.zeros(data.n_users)
            seen[users] = user_count
            y = _move_implicit(y, implicit, gathered, seen, lr, reg)
    return LatentFactors(
        global_mean=mu,
        user_bias=user_bias,
        item_bias=item_bias,
        user_factors=p + implicit.user_sums(y),
        item_factors=q,
    )


def _sum_by(codes: IntArray, *values: FloatArray) -> tuple[IntArray, FloatArray, list[FloatArray]]:
    """The distinct ``codes``, how often each occurs, and each of ``values`` summed by code."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(codes)]).astype(np.float64)
    return ordered[starts], counts, [np.add.reduceat(v[order], starts) for v in values]


def _move_implicit(
    y: FloatArray,
    implicit: _Implicit,
    gathered: FloatArray,
    seen: FloatArray,
    lr: float,
    reg: float,
) -> FloatArray:
    """Apply a mini-batch's steps to the y_j: ``gathered`` is Σ e q_i per user.

    Sequential SGD moves every y_j of N(u) at each rating of ``u``: by
    ``lr |N(u)|^-½ e q_i`` and a decay ``lr λ y_j``. The gradient parts add up; the
    decays compound, so they are applied as one factor ``exp(-lr λ count)``, which
    stays in (0, 1] however many ratings were seen.
    """
    decays = implicit.item_counts(seen)
    moved: FloatArray = y * np.exp(-lr * reg * decays)[:, None] + lr * implicit.item_sums(gathered)
    return moved
