"""A training job's channels from the store or local paths, its packed model, and its
metrics read from the log by MetricDefinitions."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.storage.objectstore import open_store
from modelyard.training.channels import (
    ChannelSource,
    bring_channel,
    model_key,
    pack_folder,
    store_key,
)
from modelyard.training.metrics import final_metrics, metric_definitions


def test_a_prefix_of_the_store_brings_every_object_under_it(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.put("data/ratings/train/part-1.csv", b"1,2,3\n")
    store.put("data/ratings/train/nested/part-2.csv", b"4,5,6\n")
    store.put("data/ratings/other.csv", b"not this\n")
    target = tmp_path / "job" / "input" / "data" / "train"

    count = bring_channel(store, ChannelSource.of("s3://data/ratings/train"), target)

    assert count == 2
    assert (target / "part-1.csv").read_bytes() == b"1,2,3\n"
    assert (target / "nested" / "part-2.csv").read_bytes() == b"4,5,6\n"
    assert not (target / "other.csv").exists()


def test_a_key_that_is_one_object_brings_that_object(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.put("data/train.csv", b"a,b\n")
    target = tmp_path / "train"

    assert bring_channel(store, ChannelSource.of("s3://data/train.csv"), target) == 1
    assert (target / "train.csv").read_bytes() == b"a,b\n"


def test_a_local_folder_is_read_in_place(tmp_path: Path) -> None:
    source = tmp_path / "corpus"
    source.mkdir()
    (source / "docs.csv").write_text("id,text\n")
    target = tmp_path / "job" / "train"
    target.mkdir(parents=True)  # as the job's layout leaves it

    count = bring_channel(
        open_store(str(tmp_path / "s")), ChannelSource.of(f"file://{source}"), target
    )

    assert count == 1
    assert target.is_symlink() and target.resolve() == source
    assert (target / "docs.csv").read_text() == "id,text\n"


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://example.com/data", "s3://BUCKET/KEY or file:///PATH"),
        ("file://relative/path", "absolute"),
        ("s3://", "not an s3://BUCKET/KEY"),
        ("s3://bucket/../secrets", "not an s3://BUCKET/KEY"),
    ],
)
def test_a_channel_uri_that_names_no_data_is_refused(uri: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ChannelSource.of(uri)


def test_an_empty_prefix_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="s3://data/none"):
        bring_channel(open_store(str(tmp_path)), ChannelSource.of("s3://data/none"), tmp_path / "t")


def test_the_model_is_packed_where_sagemaker_puts_it(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.npz").write_bytes(b"\x00\x01")
    (model / "sub" / "params.json").write_text("{}")

    packed = pack_folder(model)

    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == ["sub/params.json", "weights.npz"]
    assert model_key("s3://models/out/", "job-7") == "models/out/job-7/output/model.tar.gz"
    assert store_key("s3://models//out/x") == "models/out/x"


LOG = """\
epoch 1 train_loss=0.91 validation:rmse=1.20
epoch 2 train_loss=0.73 validation:rmse=1.01
note: rmse=nan ignored
epoch 3 train_loss=0.70 validation:rmse=0.97
"""


def test_final_metrics_are_the_last_values_their_regexes_find() -> None:
    definitions = metric_definitions(
        [
            {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
            {"Name": "validation:rmse", "Regex": r"validation:rmse=([0-9.]+)"},
            {"Name": "never", "Regex": r"accuracy=([0-9.]+)"},
        ]
    )

    assert final_metrics(definitions, LOG.splitlines()) == {
        "train:loss": 0.70,
        "validation:rmse": 0.97,
    }


@pytest.mark.parametrize(
    ("documents", "problem"),
    [
        ([{"Name": "", "Regex": "x"}], r"MetricDefinitions\[0\].Name"),
        ([{"Name": "m", "Regex": "("}], r"MetricDefinitions\[0\].Regex '\(' is not"),
        ([{"Name": "m", "Regex": "x"}] * 41, "at most 40"),
    ],
)
def test_bad_metric_definitions_are_refused_naming_them(
    documents: list[dict[str, str]], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        metric_definitions(documents)


@given(st.lists(st.text(max_size=80), max_size=20))
def test_any_log_reads_without_error(lines: list[str]) -> None:
    definitions = metric_definitions([{"Name": "m", "Regex": r"m=(\S+)"}])
    for value in final_metrics(definitions, lines).values():
        assert value == value  # a number, never NaN
