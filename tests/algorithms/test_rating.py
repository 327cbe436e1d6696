"""Rating prediction: training beats the mean on synthetic low-rank ratings, models save
and load, unknown ids fall back, params parse from strings, Object2Vec bodies, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.algorithms.rating import (
    ARRAYS_FILE,
    META_FILE,
    InvalidRatingData,
    InvalidRatingParams,
    RatingModel,
    RatingParams,
    Ratings,
    parse_rating_params,
    read_ratings,
    train_rating_model,
)
from modelyard.algorithms.rating_object2vec import (
    answer_object2vec,
    object2vec_request,
    object2vec_response,
    parse_object2vec_request,
    parse_object2vec_response,
)
from modelyard.algorithms.rating_training import _SumOfProducts
from modelyard.errors import InvalidRequest, ModelLoadFailed, PayloadMalformed

#: Small enough to train in well under a second. SVD++'s SGD takes smaller batches and
#: larger steps than its defaults (tuned for MovieLens-sized data) to converge on ~10k
#: ratings in its 30 passes.
FAST: dict[str, dict[str, Any]] = {
    "biased_mf": {"factors": 16},
    "svdpp": {"method": "svdpp", "factors": 16, "learning_rate": 0.02, "batch_size": 1024},
}


def synthetic_ratings(
    seed: int = 7, n_users: int = 300, n_items: int = 200, per_user: tuple[int, int] = (15, 70)
) -> Ratings:
    """Ratings from known rank-3 factors, biases and noise: 300 users, 200 items, ~12k."""
    rng = np.random.default_rng(seed)
    rank = 3
    user_bias = rng.normal(0.0, 0.4, n_users)
    item_bias = rng.normal(0.0, 0.5, n_items)
    p = rng.normal(0.0, 0.6, (n_users, rank))
    q = rng.normal(0.0, 0.6, (n_items, rank))
    users, items = [], []
    for u in range(n_users):
        rated = rng.choice(n_items, size=int(rng.integers(*per_user)), replace=False)
        users.extend([u] * len(rated))
        items.extend(rated.tolist())
    u_arr, i_arr = np.array(users), np.array(items)
    truth = 3.5 + user_bias[u_arr] + item_bias[i_arr] + np.sum(p[u_arr] * q[i_arr], axis=1)
    values = np.clip(truth + rng.normal(0.0, 0.3, len(u_arr)), 1.0, 5.0)
    return Ratings.of([f"u{u}" for u in users], [f"i{i}" for i in items], values.tolist())


@pytest.fixture(scope="module")
def split() -> tuple[Ratings, Ratings]:
    ratings = synthetic_ratings()
    order = np.random.default_rng(42).permutation(len(ratings))
    cut = int(0.8 * len(ratings))
    return ratings.take(order[:cut]), ratings.take(order[cut:])


@pytest.fixture(scope="module")
def model(split: tuple[Ratings, Ratings]) -> RatingModel:
    return train_rating_model(split[0], RatingParams(**FAST["biased_mf"]))


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


@pytest.mark.parametrize("method", ["biased_mf", "svdpp"])
def test_training_beats_the_global_mean_on_held_out_ratings(
    split: tuple[Ratings, Ratings], method: str
) -> None:
    train, test = split
    trained = train_rating_model(train, RatingParams(**FAST[method]))
    baseline = rmse(np.full(len(test), train.values.mean()), test.values)
    achieved = rmse(trained.predict(test.users, test.items), test.values)
    assert achieved <= 0.8 * baseline, (method, achieved, baseline)
    assert achieved < 0.5  # the noise is 0.3: the factors are largely recovered


def test_svdpp_fits_a_catalogue_too_wide_for_a_dense_implicit_matrix() -> None:
    # 2100 x 2000 cells: past the dense limit, the implicit sums are taken rating by rating.
    ratings = synthetic_ratings(n_users=2100, n_items=2000, per_user=(8, 12))
    trained = train_rating_model(ratings, RatingParams(**FAST["svdpp"], epochs=10))
    baseline = rmse(np.full(len(ratings), ratings.values.mean()), ratings.values)
    fitted = trained.predict(ratings.users, ratings.items)
    assert np.all(np.isfinite(fitted))
    assert rmse(fitted, ratings.values) <= 0.8 * baseline


def test_the_default_params_train_24_factors_by_sampling(split: tuple[Ratings, Ratings]) -> None:
    train, test = split
    trained = train_rating_model(train)
    assert trained.params.method == "biased_mf"
    assert (trained.params.samples, trained.params.noise_precision) == (100, 1.75)
    assert trained.factors.user_factors.shape == (len(trained.user_ids), 24)
    baseline = rmse(np.full(len(test), train.values.mean()), test.values)
    assert rmse(trained.predict(test.users, test.items), test.values) <= 0.8 * baseline


def test_samples_zero_keeps_the_als_solution(split: tuple[Ratings, Ratings]) -> None:
    train, test = split
    als = train_rating_model(train, RatingParams(factors=16, epochs=15, samples=0))
    sampled = train_rating_model(train, RatingParams(factors=16, epochs=15, samples=20))
    baseline = rmse(np.full(len(test), train.values.mean()), test.values)
    users, items = list(test.users), list(test.items)
    for trained in (als, sampled):
        assert rmse(trained.predict(users, items), test.values) <= 0.8 * baseline
    assert not np.array_equal(als.predict(users, items), sampled.predict(users, items))


def test_more_factors_than_users_or_items_still_fill_every_column() -> None:
    # The mean of the draws has at most 3 dimensions here: the other 5 columns are zero.
    ratings = Ratings.of([1, 1, 2, 2, 3, 3], [10, 20, 10, 30, 20, 30], [5, 3, 4, 2, 1, 4])
    trained = train_rating_model(ratings, RatingParams(factors=8, samples=5))
    assert trained.factors.user_factors.shape == (3, 8)
    assert trained.factors.item_factors.shape == (3, 8)
    assert np.all(np.isfinite(trained.predict([1, 2, 3], [30, 20, 10])))


def test_the_mean_of_draws_is_their_best_low_rank_approximation() -> None:
    rng = np.random.default_rng(3)

    def mean_of(draws: list[tuple[np.ndarray, np.ndarray]], rank: int) -> np.ndarray:
        summed = _SumOfProducts(rank)
        for left, right in draws:
            summed.add(left, right)
        left, right = summed.mean(len(draws))
        assert left.shape == (30, rank) and right.shape == (20, rank)
        product: np.ndarray = left @ right.T
        return product

    # Ten draws in one rank-2 space: cut back midway (at 8 columns), still exact.
    basis_left, basis_right = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    shared = [
        (basis_left @ rng.normal(size=(2, 2)), basis_right @ rng.normal(size=(2, 2)))
        for _ in range(10)
    ]
    exact = sum(left @ right.T for left, right in shared) / len(shared)
    np.testing.assert_allclose(mean_of(shared, 2), exact, atol=1e-10)
    # Two rank-3 draws span 6 dimensions: the mean is cut to its best rank-3 part.
    loose = [(rng.normal(size=(30, 3)), rng.normal(size=(20, 3))) for _ in range(2)]
    exact = sum(left @ right.T for left, right in loose) / len(loose)
    u, singular, vt = np.linalg.svd(exact)
    np.testing.assert_allclose(mean_of(loose, 3), (u[:, :3] * singular[:3]) @ vt[:3], atol=1e-10)


@pytest.mark.parametrize("method", ["biased_mf", "svdpp"])
def test_training_is_deterministic_given_the_seed(
    split: tuple[Ratings, Ratings], method: str
) -> None:
    train, test = split
    small = train.take(np.arange(3000))
    params = {"method": method, "factors": 4, "epochs": 3}
    first = train_rating_model(small, parse_rating_params({**params, "seed": 5}))
    again = train_rating_model(small, parse_rating_params({**params, "seed": 5}))
    other = train_rating_model(small, parse_rating_params({**params, "seed": 6}))
    users, items = test.users[:200], test.items[:200]
    assert np.array_equal(first.predict(users, items), again.predict(users, items))
    assert not np.array_equal(first.predict(users, items), other.predict(users, items))


@pytest.mark.parametrize("method", ["biased_mf", "svdpp"])
def test_a_saved_model_loads_back_with_identical_predictions(
    split: tuple[Ratings, Ratings], method: str, tmp_path: Path
) -> None:
    train, test = split
    trained = train_rating_model(
        train.take(np.arange(3000)),
        RatingParams(method=method, factors=4, epochs=2),  # type: ignore[arg-type]
    )
    trained.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [META_FILE, ARRAYS_FILE]
    meta = json.loads((tmp_path / "model" / META_FILE).read_text())
    assert meta["user_ids"] == list(trained.user_ids)
    assert meta["params"]["method"] == method
    loaded = RatingModel.load(tmp_path / "model")
    assert loaded.params == trained.params
    assert np.array_equal(
        loaded.predict(test.users, test.items), trained.predict(test.users, test.items)
    )


def test_loading_names_a_missing_or_damaged_file(model: RatingModel, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed, match="missing"):
        RatingModel.load(tmp_path / "nothing")
    model.save(tmp_path)
    np.savez(tmp_path / ARRAYS_FILE, user_bias=np.zeros(1), item_bias=np.zeros(1))
    with pytest.raises(ModelLoadFailed, match="user_factors"):
        RatingModel.load(tmp_path)
    model.save(tmp_path)
    arrays = dict(np.load(tmp_path / ARRAYS_FILE))
    np.savez(tmp_path / ARRAYS_FILE, **{**arrays, "item_factors": arrays["item_factors"][:3]})
    with pytest.raises(ModelLoadFailed, match=r"item_factors has shape \(3, 16\)"):
        RatingModel.load(tmp_path)
    (tmp_path / META_FILE).write_text('{"format": "other"}')
    with pytest.raises(ModelLoadFailed, match="cannot be read"):
        RatingModel.load(tmp_path)


def test_unknown_users_and_items_fall_back_to_biases_and_the_mean(model: RatingModel) -> None:
    f = model.factors
    user, item = model.user_ids[0], model.item_ids[0]
    scores = model.predict([user, "stranger", "stranger", user], ["new", item, "new", item])
    expected = np.clip(
        [
            f.global_mean + f.user_bias[0],
            f.global_mean + f.item_bias[0],
            f.global_mean,
            f.global_mean + f.user_bias[0] + f.item_bias[0] + f.user_factors[0] @ f.item_factors[0],
        ],
        model.min_rating,
        model.max_rating,
    )
    assert scores == pytest.approx(expected)
    assert scores[3] != pytest.approx(scores[0] + scores[1] - scores[2])  # factors count


def test_predictions_stay_within_the_rating_range(split: tuple[Ratings, Ratings]) -> None:
    train, test = split
    trained = train_rating_model(train, RatingParams(factors=4, min_rating=2.5, max_rating=4.0))
    scores = trained.predict(test.users, test.items)
    assert scores.min() == 2.5
    assert scores.max() == 4.0


def test_integer_ids_are_the_same_as_their_strings() -> None:
    ratings = Ratings.of([1, 1, 2, 2, 3], [10, 20, 10, 30, 20], [5, 3, 4, 2, 1])
    trained = train_rating_model(ratings, RatingParams(factors=2, epochs=2))
    assert np.array_equal(
        trained.predict([1, 2], [20, 30]), trained.predict(["1", "2"], ["20", "30"])
    )
    with pytest.raises(InvalidRequest, match="2 users but 1 items"):
        trained.predict([1, 2], [20])
    with pytest.raises(InvalidRatingData, match="no ratings"):
        train_rating_model(ratings.take(np.arange(0)))
    with pytest.raises(InvalidRatingData, match="differ in length"):
        Ratings.of([1, 2], [1], [3.0, 4.0])


# --- params ---------------------------------------------------------------------------


def test_params_are_read_from_the_strings_of_a_params_file() -> None:
    params = parse_rating_params(
        {
            "method": " SVDPP ",
            "factors": "32",
            "learning_rate": "0.01",
            "bias_regularization": "2.5",
            "seed": "9",
            "min_rating": "1",
            "max_rating": "",
        }
    )
    assert params.method == "svdpp"
    assert params.factors == 32
    assert params.learning_rate == 0.01
    assert params.bias_regularization == 2.5
    assert params.seed == 9
    assert (params.min_rating, params.max_rating) == (1.0, None)
    assert (params.epochs, params.regularization) == (30, 0.08)  # svdpp's own defaults
    assert (params.factors, params.samples) == (32, 100)
    defaults = RatingParams()
    assert (defaults.factors, defaults.epochs, defaults.regularization) == (24, 5, 0.12)
    assert parse_rating_params({"method": "svdpp"}).factors == 64
    assert parse_rating_params({"samples": "0", "noise_precision": "2"}).samples == 0
    assert parse_rating_params({"method": "svdpp", "epochs": "3"}).epochs == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"factors": "0"}, "factors: Input should be greater than or equal to 1 (got '0')"),
        ({"factors": "many"}, "factors: Input should be a valid integer"),
        ({"learning_rate": "-1"}, "learning_rate: Input should be greater than 0"),
        ({"method": "als"}, "method: Input should be 'biased_mf' or 'svdpp'"),
        ({"factorz": "8"}, "factorz: unknown parameter"),
        ({"min_rating": "nan"}, "min_rating: Input should be a finite number"),
        ({"min_rating": "5", "max_rating": "1"}, "min_rating (5.0) must be below max_rating"),
        ({"epochs": "0", "seed": "-1"}, "epochs: Input should be greater than or equal to 1"),
    ],
)
def test_bad_params_are_named_in_the_error(values: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRatingParams) as caught:
        parse_rating_params(values)
    assert message in caught.value.message
    if "seed" in values:
        assert "seed: Input should be greater than or equal to 0" in caught.value.message


@settings(max_examples=60, deadline=None)
@given(
    factors=st.integers(-5, 2000),
    regularization=st.floats(-1.0, 200.0, allow_nan=False),
    pad=st.sampled_from(["", " ", "  "]),
)
def test_numbers_in_strings_parse_as_the_numbers_or_fail_by_name(
    factors: int, regularization: float, pad: str
) -> None:
    values = {"factors": f"{pad}{factors}{pad}", "regularization": repr(regularization)}
    valid_factors, valid_reg = 1 <= factors <= 1024, 0.0 <= regularization <= 100.0
    if valid_factors and valid_reg:
        params = parse_rating_params(values)
        assert (params.factors, params.regularization) == (factors, regularization)
        return
    with pytest.raises(InvalidRatingParams) as caught:
        parse_rating_params(values)
    assert ("factors:" in caught.value.message) == (not valid_factors)
    assert ("regularization:" in caught.value.message) == (not valid_reg)


# --- Object2Vec ----------------------------------------------------------------------


def test_an_object2vec_request_is_answered_with_one_score_per_instance(
    model: RatingModel,
) -> None:
    users, items = ["u1", "u2", "nobody"], ["i5", "i7", "i5"]
    body = json.dumps(object2vec_request(zip(users, items, strict=True))).encode()
    answer = answer_object2vec(model, body)
    assert list(answer) == ["predictions"]
    assert parse_object2vec_response(json.dumps(answer)) == pytest.approx(
        model.predict(users, items).tolist()
    )
    assert answer_object2vec(model, {"instances": []}) == {"predictions": []}


ids = st.one_of(st.text(min_size=1, max_size=12), st.integers(-(2**53), 2**53))


@settings(max_examples=50, deadline=None)
@given(pairs=st.lists(st.tuples(ids, ids), max_size=8))
def test_request_bodies_round_trip(pairs: list[tuple[str | int, str | int]]) -> None:
    body = json.dumps(object2vec_request(pairs))
    assert parse_object2vec_request(body) == pairs
    assert parse_object2vec_request(body.encode()) == pairs


@settings(max_examples=50, deadline=None)
@given(scores=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=8))
def test_response_bodies_round_trip(scores: list[float]) -> None:
    assert parse_object2vec_response(json.dumps(object2vec_response(scores))) == scores


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    document=st.one_of(
        json_values,
        st.fixed_dictionaries({"instances": st.lists(json_values, max_size=3)}),
        st.fixed_dictionaries(
            {"instances": st.lists(st.dictionaries(st.sampled_from(["in0", "in1"]), json_values))}
        ),
    )
)
def test_any_json_is_either_pairs_or_a_named_problem(document: object) -> None:
    try:
        pairs = parse_object2vec_request(json.dumps(document))
    except PayloadMalformed as exc:
        assert exc.message
    else:
        assert isinstance(document, dict)
        assert len(pairs) == len(document["instances"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[]", "expected a JSON object with 'instances', got a list"),
        (b"{}", "'instances' is missing"),
        (b'{"instances": {}}', "'instances' must be a list, got an object"),
        (b'{"instances": [3]}', "instances[0] must be an object with 'in0' and 'in1'"),
        (b'{"instances": [{"in0": ["u"]}]}', "instances[0] has no 'in1' (the item)"),
        (
            b'{"instances": [{"in0": ["u"], "in1": ["i"]}, {"in0": ["u", "v"], "in1": ["i"]}]}',
            "instances[1].in0 must be a list of one user id, got 2 values",
        ),
        (b'{"instances": [{"in0": "u", "in1": ["i"]}]}', "instances[0].in0 must be a list"),
        (
            b'{"instances": [{"in0": ["u"], "in1": [1.5]}]}',
            "instances[0].in1[0] must be a string or an integer item id, got a number",
        ),
        (b'{"instances": [{"in0": [true], "in1": [1]}]}', "in0[0] must be a string or an integer"),
        (b'{"instances": [{"in0": [""], "in1": [1]}]}', "instances[0].in0[0] is an empty user id"),
        (b'{"instances": [{"in0": [1], "in1": [1], "in2": [1]}]}', "unknown key 'in2'"),
    ],
)
def test_malformed_requests_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(PayloadMalformed) as caught:
        parse_object2vec_request(body)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scores": [1.0]}, "'predictions' is missing"),
        ({"predictions": [{"score": 1}]}, "predictions[0] must be an object with 'scores'"),
        ({"predictions": [{"scores": [1, 2]}]}, "predictions[0].scores must be a list of one"),
        ({"predictions": [{"scores": ["1"]}]}, "predictions[0].scores[0] must be a finite number"),
    ],
)
def test_malformed_answers_name_the_problem(body: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadMalformed) as caught:
        parse_object2vec_response(body)
    assert message in caught.value.message


# --- reading ratings -----------------------------------------------------------------


def test_a_movielens_tsv_without_header_is_read(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n\n22\t377\t1\t878887116\n")
    ratings = read_ratings(path)
    assert ratings.users.tolist() == ["196", "186", "22"]
    assert ratings.items.tolist() == ["242", "302", "377"]
    assert ratings.values.tolist() == [3.0, 3.0, 1.0]


@pytest.mark.parametrize(
    "text",
    [
        "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n7,1029,3.0,1260759179\n",
        "timestamp;rating;item;user\n1260759144;2.5;31;1\n1260759179;3.0;1029;7\n",
        "1::31::2.5::978300760\n7::1029::3::978302109\n",
        "user item rating\n1   31  2.5\n7 1029 3\n",
        '"user","item","rating"\n"1","31","2.5"\n"7","1029","3"\n',
    ],
)
def test_csv_and_tsv_variants_are_read_by_column(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    ratings = read_ratings(path)
    assert list(zip(ratings.users, ratings.items, ratings.values, strict=True)) == [
        ("1", "31", 2.5),
        ("7", "1029", 3.0),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ratings.csv: no ratings in the file"),
        ("user,item,rating\n", "ratings.csv: no ratings in the file"),
        ("1,2,3\n1,2,x\n", "ratings.csv line 2: rating 'x' is not a number"),
        ("1,2,3\n\n1,2\n", "ratings.csv line 3: expected user, item and rating, got 2 field(s)"),
        ("1,2,3\n,2,4\n", "ratings.csv line 2: empty user or item id"),
    ],
)
def test_bad_ratings_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    with pytest.raises(InvalidRatingData) as caught:
        read_ratings(path)
    assert caught.value.message == message
    with pytest.raises(InvalidRatingData, match="cannot be read"):
        read_ratings(tmp_path / "absent.csv")
