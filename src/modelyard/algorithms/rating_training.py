"""The numerics of rating prediction: the coded ratings, and biased MF by ALS and Gibbs
sampling (SVD++ by SGD is :mod:`modelyard.algorithms.rating_svdpp`).

ALS and SGD minimise the same objective over the training ratings ``r_ui``::

    sum (r_ui - r̂_ui)²  +  λ (n_u ‖p_u‖² + n_i ‖q_i‖²)  +  λ_b (b_u² + b_i²)
    r̂_ui = μ + b_u + b_i + q_i · p_u                      (biased_mf)
    r̂_ui = μ + b_u + b_i + q_i · (p_u + |N(u)|^-½ Σ y_j)  (svdpp, j over N(u))

``λ`` weighs each factor by its number of ratings ``n`` (the per-rating regularisation of
Koren's SGD, the weighted-λ of ALS-WR); ``λ_b`` is a plain damping of the biases, worth
``λ_b`` ratings of 0, which serves users and items with few ratings better than a
per-rating one. ``N(u)`` is the set of items ``u`` rated in training.

Biased MF then samples (by default) from the posterior of the same model with a learned
Gaussian prior in place of the λ terms, and keeps the mean of the draws: Bayesian PMF,
see :func:`_posterior_mean`.

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

__all__ = ["CodedRatings", "FloatArray", "IntArray", "LatentFactors", "fit_biased_mf"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Conjugate-gradient steps per ALS half-sweep. Warm-started from the previous sweep's
#: solution, three steps land within noise of the exact ridge solution (ALS-CG,
#: Takács et al. 2011) at a fraction of the cost of one (k+1)² system per user.
_CG_STEPS = 3


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
    """Biased matrix factorisation: ALS to the MAP solution, then its posterior mean.

    Each ALS half-sweep solves every user's (then every item's) bias and factors together
    as one ridge regression on the other side's factors with a column of ones; all
    users are solved at once, vectorised over the ratings. With ``samples`` > 0 the ALS
    solution starts a Gibbs sampler (:func:`_posterior_mean`) whose draws are averaged.
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
    if params.samples:
        return _posterior_mean(data, params, mu, users, items, rng)
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


def _posterior_mean(
    data: CodedRatings,
    params: RatingParams,
    mu: float,
    users: FloatArray,
    items: FloatArray,
    rng: np.random.Generator,
) -> LatentFactors:
    """The biased MF's posterior mean, by Gibbs sampling started from the ALS solution.

    Bayesian PMF (Salakhutdinov and Mnih 2008, who also start from the MAP solution):
    the rows [b, p] of each side share a Gaussian prior whose mean and precision are
    drawn each sweep from their Normal-Wishart posterior, so the prior is learned from
    the data rather than fixed by λ; the ratings' noise has precision ``noise_precision``
    per unit of their variance. Averaging the draws integrates over the factors instead
    of picking one fit, which on sparse data is much the better estimate.

    The mean of the draws' ``p_u · q_i`` has a higher rank than one draw: it is kept
    as a low-rank product and cut back to ``factors`` by a truncated SVD at the end.
    """
    precision = params.noise_precision / _spread(data.values)
    user_bias = np.zeros(data.n_users)
    item_bias = np.zeros(data.n_items)
    interaction = _SumOfProducts(params.factors)
    for _ in range(params.samples):
        users = _sample_side(data.by_user, data.values, mu, users, items, precision, rng)
        items = _sample_side(data.by_item, data.values, mu, items, users, precision, rng)
        user_bias += users[:, 0]
        item_bias += items[:, 0]
        interaction.add(users[:, 1:], items[:, 1:])
    user_factors, item_factors = interaction.mean(params.samples)
    return LatentFactors(
        global_mean=mu,
        user_bias=user_bias / params.samples,
        item_bias=item_bias / params.samples,
        user_factors=user_factors,
        item_factors=item_factors,
    )


def _spread(values: FloatArray) -> float:
    """The ratings' variance, the unit of ``noise_precision`` (1 if they are all equal)."""
    variance = float(values.var())
    return variance if variance > 0 else 1.0


#: Entries (rows * d * d) of the per-row normal equations held at once while sampling.
_SAMPLE_BLOCK_CELLS = 2_000_000


def _sample_side(
    side: _Segments,
    values: FloatArray,
    mu: float,
    rows: FloatArray,
    other: FloatArray,
    precision: float,
    rng: np.random.Generator,
) -> FloatArray:
    """One Gibbs half-sweep: the prior of ``rows``, then each row drawn given ``other``.

    Row ``r`` is Gaussian with precision ``A = Λ + τ XᵀX`` and mean ``A⁻¹ (Λ m + τ Xᵀy)``
    (τ: the noise precision, X: ``other``'s [1, q] at the row's ratings, y: what is left
    of them). With ``A = L Lᵀ``, ``A⁻¹ (Λ m + τ Xᵀy + L z)`` for a standard normal ``z``
    is such a draw, since ``L z`` has covariance ``A``: one Cholesky factor and one solve
    per row.
    """
    prior_mean, prior_precision = _draw_prior(rows, rng)
    d = other.shape[1]
    # [X | y] per rating: one product per row gives XᵀX and Xᵀy together.
    stacked = np.empty((len(side.order), d + 1))
    stacked[:, 0] = 1.0
    stacked[:, 1:d] = other[side.others, 1:]
    stacked[:, d] = values[side.order] - mu - other[side.others, 0]
    prior_shift = prior_precision @ prior_mean
    noise = rng.standard_normal((len(rows), d))
    drawn = np.empty_like(rows)
    block = max(1, _SAMPLE_BLOCK_CELLS // (d * d))
    bounds = side.starts.tolist()
    for first in range(0, len(rows), block):
        last = min(len(rows), first + block)
        gram = np.empty((last - first, d + 1, d + 1))
        for row in range(first, last):
            # A Python loop over rows (not ratings), one BLAS product each.
            x = stacked[bounds[row] : bounds[row + 1]]
            np.matmul(x.T, x, out=gram[row - first])
        system = precision * gram[:, :d, :d] + prior_precision
        root = np.linalg.cholesky(system)
        perturbed = precision * gram[:, :d, d] + prior_shift
        perturbed += np.einsum("nij,nj->ni", root, noise[first:last])
        drawn[first:last] = np.linalg.solve(system, perturbed[..., None])[..., 0]
    return drawn


def _draw_prior(rows: FloatArray, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """A draw of the rows' prior mean and precision from their Normal-Wishart posterior.

    The hyperprior is BPMF's: mean 0 with β₀ = 2 pseudo-rows, Wishart with ν₀ = d
    degrees of freedom and scale I; the rows outweigh it as soon as there are more
    than a handful.
    """
    n, d = rows.shape
    beta0 = 2.0
    average = rows.mean(axis=0)
    centred = rows - average
    spread = (
        np.eye(d) + centred.T @ centred + (beta0 * n / (beta0 + n)) * np.outer(average, average)
    )
    precision = _draw_wishart(np.linalg.inv((spread + spread.T) / 2), d + n, rng)
    # The mean given the precision: N(n x̄ / (β₀ + n), ((β₀ + n) Λ)⁻¹); with that
    # precision = C Cᵀ, C⁻ᵀ z has its covariance.
    root = np.linalg.cholesky((beta0 + n) * precision)
    mean = n * average / (beta0 + n) + np.linalg.solve(root.T, rng.standard_normal(d))
    return mean, precision


def _draw_wishart(scale: FloatArray, dof: int, rng: np.random.Generator) -> FloatArray:
    """A draw from Wishart(scale, dof) by the Bartlett decomposition (dof >= dimension)."""
    d = len(scale)
    bartlett = np.zeros((d, d))
    bartlett[np.diag_indices(d)] = np.sqrt(rng.chisquare(dof - np.arange(d)))
    below = np.tril_indices(d, -1)
    bartlett[below] = rng.standard_normal(len(below[0]))
    factor = np.linalg.cholesky(scale) @ bartlett
    drawn: FloatArray = factor @ factor.T
    return drawn


#: How many times ``factors`` columns :class:`_SumOfProducts` holds before cutting back.
_SUM_WIDTH = 4


class _SumOfProducts:
    """Σ P_s Q_sᵀ over the draws, as one low-rank product ``left · rightᵀ``.

    Appending each draw's columns is exact; once there are ``_SUM_WIDTH * rank``
    columns they are cut back to the leading ``2 * rank`` singular directions, which
    keeps memory bounded however many draws are taken.
    """

    def __init__(self, rank: int) -> None:
        self._rank = rank
        self._left: FloatArray | None = None
        self._right: FloatArray | None = None

    def add(self, left: FloatArray, right: FloatArray) -> None:
        """Add one draw's ``left · rightᵀ``."""
        if self._left is None or self._right is None:
            self._left, self._right = left.copy(), right.copy()
            return
        self._left = np.hstack([self._left, left])
        self._right = np.hstack([self._right, right])
        if self._left.shape[1] >= _SUM_WIDTH * self._rank:
            self._left, self._right = _truncated(self._left, self._right, 2 * self._rank)

    def mean(self, count: int) -> tuple[FloatArray, FloatArray]:
        """The sum divided by ``count``, as ``rank``-column factors of equal scale."""
        if self._left is None or self._right is None:
            raise ValueError("no draws were added")
        return _truncated(self._left / count, self._right, self._rank)


def _truncated(left: FloatArray, right: FloatArray, rank: int) -> tuple[FloatArray, FloatArray]:
    """``rank``-column factors of the best rank-``rank`` approximation of ``left · rightᵀ``.

    Zero columns pad the result when the product has fewer dimensions than ``rank``.
    """
    left_basis, left_rest = np.linalg.qr(left)
    right_basis, right_rest = np.linalg.qr(right)
    u, singular, vt = np.linalg.svd(left_rest @ right_rest.T)
    kept = min(rank, len(singular))
    root = np.sqrt(singular[:kept])
    new_left = np.zeros((len(left), rank))
    new_right = np.zeros((len(right), rank))
    new_left[:, :kept] = (left_basis @ u[:, :kept]) * root
    new_right[:, :kept] = (right_basis @ vt[:kept].T) * root
    return new_left, new_right
