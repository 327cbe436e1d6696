"""The knobs of rating training: :class:`RatingParams`, read from a params file's strings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelyard.errors import InvalidRequest

__all__ = ["InvalidRatingParams", "RatingParams", "parse_rating_params"]

#: Defaults that differ by method. ``biased_mf``'s ALS only starts its Gibbs sampler, so
#: a few sweeps do; SGD stops early, which regularises by itself.
_METHOD_DEFAULTS: dict[str, dict[str, object]] = {
    # Chosen by 5-fold cross-validation inside the 80% training part of MovieLens-100k's
    # 80/20 split (mean RMSE on 64k ratings: 0.903 with 24 factors and 100 samples; 16
    # factors 0.904, 32 factors with 60 samples 0.905; noise precision 1.5 and 2: +0.001;
    # the ALS alone: 0.921). Warm-up λ and sweeps (2 to 10) changed it by under 0.0005.
    "biased_mf": {"factors": 24, "epochs": 5, "regularization": 0.12},
    "svdpp": {"factors": 64, "epochs": 30, "regularization": 0.08},
}


class InvalidRatingParams(InvalidRequest):
    """The rating model's parameters are not valid."""


class RatingParams(BaseModel):
    """The knobs of rating training; strings are read as the values they spell.

    ``RatingParams(method="svdpp", factors=32)`` or, from a params file whose values
    are all strings, ``parse_rating_params({"method": "svdpp", "factors": "32"})``.
    ``factors``, ``epochs`` and ``regularization`` default by method (24, 5 and 0.12
    for ``biased_mf``, 64, 30 and 0.08 for ``svdpp``) when not given.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    method: Literal["biased_mf", "svdpp"] = "biased_mf"
    """``biased_mf``: biases + factors, ALS then Gibbs sampling; ``svdpp``: SVD++ by SGD."""

    factors: int = Field(default=24, ge=1, le=1024)
    """Latent factors per user and item."""

    epochs: int = Field(default=5, ge=1, le=10_000)
    """ALS sweeps (``biased_mf``; about 15 to converge when ``samples`` is 0) or passes
    over the ratings (``svdpp``)."""

    learning_rate: float = Field(default=0.007, gt=0.0, le=1.0)
    """SGD step (``svdpp`` only)."""

    regularization: float = Field(default=0.12, ge=0.0, le=100.0)
    """λ on the factors, per rating (a user with n ratings pays λ n ‖p_u‖²); ``biased_mf``
    uses it in its ALS only, the sampler learns its own prior."""

    bias_regularization: float = Field(default=5.0, ge=0.0, le=1e6)
    """λ_b on the biases: each bias is damped as if by that many ratings at the mean (ALS
    and SGD; the sampler learns its own prior)."""

    samples: int = Field(default=100, ge=0, le=100_000)
    """Gibbs sweeps after the ALS whose draws are averaged into the model (``biased_mf``
    only); 0 keeps the ALS solution."""

    noise_precision: float = Field(default=1.75, gt=0.0, le=1e6)
    """Precision of the rating noise while sampling, per unit of the training ratings'
    variance (1.75: the noise has 1/1.75 of their variance; ``biased_mf`` only)."""

    batch_size: int = Field(default=4096, ge=1, le=1_000_000)
    """Ratings per SGD mini-batch (``svdpp`` only)."""

    init_std: float = Field(default=0.1, ge=0.0, le=10.0)
    """Standard deviation of the random initial factors."""

    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of every random choice: the same data and params give the same model."""

    min_rating: float | None = Field(default=None, allow_inf_nan=False)
    """Predictions are clipped up to this; default: the lowest training rating."""

    max_rating: float | None = Field(default=None, allow_inf_nan=False)
    """Predictions are clipped down to this; default: the highest training rating."""

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, values: Any) -> Any:
        if not isinstance(values, Mapping):
            return values
        filled = dict(values)
        method = filled.get("method")
        if isinstance(method, str):
            method = filled["method"] = method.strip().lower()
        for name, default in _METHOD_DEFAULTS.get(str(method or "biased_mf"), {}).items():
            filled.setdefault(name, default)
        for name in ("min_rating", "max_rating"):
            # Params files spell "not set" as an empty string or "none".
            if isinstance(filled.get(name), str) and filled[name].strip().lower() in ("", "none"):
                filled[name] = None
        return filled

    @model_validator(mode="after")
    def _clip_range(self) -> RatingParams:
        low, high = self.min_rating, self.max_rating
        if low is not None and high is not None and low >= high:
            raise ValueError(f"min_rating ({low}) must be below max_rating ({high})")
        return self


def parse_rating_params(values: Mapping[str, object]) -> RatingParams:
    """Read rating params from a mapping (a params file's strings, or typed values).

    Raises :class:`InvalidRatingParams` naming each bad field and what it was given.
    """
    try:
        return RatingParams.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "params"
            if error["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown parameter")
                continue
            message = str(error["msg"]).removeprefix("Value error, ")
            given = f" (got {error['input']!r})" if error["loc"] else ""
            problems.append(f"{where}: {message}{given}")
        raise InvalidRatingParams("; ".join(problems)) from exc
