"""Training processes with SageMaker's contract: an unmodified script-mode ``train.py`` runs
in its job folder with the ``SM_*`` environment; failures say why; a job past its maximum
runtime or stopped is terminated with its whole process group."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.training.environment import decoded, sm_environment, user_arguments
from modelyard.training.layout import JobFolder, check_channel_name
from modelyard.training.process import (
    Ending,
    ProcessLimits,
    ProcessOutcome,
    TrainingProcess,
    alive_in_group,
)

#: A training script as written for SageMaker's scikit-learn container, unchanged.
SCRIPT_MODE_TRAIN = """
import argparse
import json
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--solver", type=str, default="lbfgs")
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    parser.add_argument("--output-data-dir", type=str, default=os.environ["SM_OUTPUT_DATA_DIR"])
    args = parser.parse_args()

    hps = json.loads(os.environ["SM_HPS"])
    assert hps == {"C": 0.5, "max-iter": 200, "solver": "liblinear"}, hps
    assert json.loads(os.environ["SM_CHANNELS"]) == ["train"]
    assert os.environ["SM_HP_MAX_ITER"] == "200"
    assert int(os.environ["SM_NUM_CPUS"]) >= 1

    data = np.loadtxt(os.path.join(args.train, "data.csv"), delimiter=",")
    labels, features = data[:, 0], data[:, 1:]
    model = LogisticRegression(C=args.C, max_iter=args.max_iter, solver=args.solver)
    model.fit(features, labels)
    print(f"train_accuracy={model.score(features, labels):.4f};")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    with open(os.path.join(args.output_data_dir, "summary.txt"), "w") as handle:
        handle.write("done")
"""

#: The hyperparameters as the SageMaker Python SDK sends them: each value JSON-encoded.
HYPERPARAMETERS = {
    "C": "0.5",
    "max-iter": "200",
    "solver": '"liblinear"',
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/source/sourcedir.tar.gz"',
}


def prepared(tmp_path: Path, script: str, *, data: bool = False) -> JobFolder:
    folder = JobFolder(tmp_path / "job")
    config = {"train": {"ContentType": "text/csv", "TrainingInputMode": "File"}}
    folder.create(
        hyperparameters=HYPERPARAMETERS,
        input_data_config=config,
        resource_config={"current_host": "algo-1", "hosts": ["algo-1"]},
    )
    (folder.code_dir / "train.py").write_text(textwrap.dedent(script))
    if data:
        rows = [f"{int(x > 0.5)},{x:.3f},{1 - x:.3f}" for x in (i / 40 for i in range(40))]
        (folder.channel_dir("train") / "data.csv").write_text("\n".join(rows) + "\n")
    return folder


def run(folder: JobFolder, limits: ProcessLimits, *, stop_after: float | None = None) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= sm_environment(
        folder,
        job_name="job-1",
        hyperparameters=HYPERPARAMETERS,
        input_data_config={"train": {"ContentType": "text/csv"}},
        num_cpus=os.cpu_count() or 1,
        entry_point="train.py",
    )
    process = TrainingProcess(
        [sys.executable, "train.py", *user_arguments(HYPERPARAMETERS)],
        env=env,
        cwd=folder.code_dir,
        log_file=folder.log_file,
        limits=limits,
    )

    async def go() -> ProcessOutcome:
        task = asyncio.ensure_future(process.run())
        if stop_after is not None:
            await asyncio.sleep(stop_after)
            process.stop()
        return await task

    return asyncio.run(go()), process.pid


def test_an_unmodified_script_mode_train_py_runs_in_its_job_folder(tmp_path: Path) -> None:
    folder = prepared(tmp_path, SCRIPT_MODE_TRAIN, data=True)

    outcome, _ = run(folder, ProcessLimits(max_runtime_s=120))

    log = folder.log_file.read_text()
    assert outcome.ending is Ending.COMPLETED, log
    assert outcome.exit_code == 0
    assert (folder.model_dir / "model.joblib").is_file()
    assert (folder.output_data_dir / "summary.txt").read_text() == "done"
    assert "train_accuracy=" in log
    configured = json.loads((folder.config_dir / "hyperparameters.json").read_text())
    assert configured == HYPERPARAMETERS


def test_a_failing_algorithm_says_why_through_the_failure_file(tmp_path: Path) -> None:
    script = """
    import os, sys
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as handle:
        handle.write("ValueError: column 'rating' is missing from the training channel")
    print("about to fail", flush=True)
    sys.exit(3)
    """
    folder = prepared(tmp_path, script)

    outcome, _ = run(folder, ProcessLimits(max_runtime_s=60))

    assert (outcome.ending, outcome.exit_code) == (Ending.FAILED, 3)
    assert folder.failure_reason() == (
        "ValueError: column 'rating' is missing from the training channel"
    )
    assert "about to fail" in folder.log_file.read_text()


#: Starts a grandchild, ignores SIGTERM and sleeps: only SIGKILL to the group ends it all.
RUNAWAY = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print("running away", flush=True)
time.sleep(600)
"""


def test_a_job_past_its_maximum_runtime_is_killed_with_its_whole_process_group(
    tmp_path: Path,
) -> None:
    folder = prepared(tmp_path, RUNAWAY)
    started = time.monotonic()

    outcome, pgid = run(folder, ProcessLimits(max_runtime_s=1.0, stop_grace_s=0.5))

    assert outcome.ending is Ending.MAX_RUNTIME
    assert outcome.exit_code == -9  # SIGTERM was ignored: SIGKILL after the grace
    assert 1.0 <= time.monotonic() - started < 30
    assert alive_in_group(pgid) == []
    assert "running away" in folder.log_file.read_text()


def test_a_stopped_job_gets_sigterm_and_may_end_cleanly(tmp_path: Path) -> None:
    script = """
    import signal, sys, time
    def bye(signum, frame):
        print("checkpoint saved", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    print("training", flush=True)
    time.sleep(600)
    """
    folder = prepared(tmp_path, script)

    outcome, pgid = run(folder, ProcessLimits(max_runtime_s=60, stop_grace_s=10), stop_after=1.0)

    assert (outcome.ending, outcome.exit_code) == (Ending.STOPPED, 0)
    assert outcome.seconds < 10  # it ended at SIGTERM, without waiting for the grace
    assert "checkpoint saved" in folder.log_file.read_text()
    assert alive_in_group(pgid) == []


def test_the_environment_names_the_job_folder_and_decoded_hyperparameters(
    tmp_path: Path,
) -> None:
    folder = JobFolder(tmp_path)
    env = sm_environment(
        folder,
        job_name="j",
        hyperparameters={"learning-rate": "0.1", "optimizer": "adam", "layers": "[64, 32]"},
        input_data_config={"train": {}, "validation": {}},
        num_cpus=2,
        entry_point="train.py",
        module_dir="s3://b/sourcedir.tar.gz",
    )

    assert env["SM_MODEL_DIR"] == str(tmp_path / "model")
    assert env["SM_CHANNEL_VALIDATION"] == str(tmp_path / "input" / "data" / "validation")
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert json.loads(env["SM_HPS"]) == {
        "learning-rate": 0.1,
        "optimizer": "adam",
        "layers": [64, 32],
    }
    assert env["SM_HP_LEARNING_RATE"] == "0.1"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    assert env["SM_MODULE_NAME"] == "train"
    assert json.loads(env["SM_USER_ARGS"]) == [
        "--layers",
        "[64, 32]",
        "--learning-rate",
        "0.1",
        "--optimizer",
        "adam",
    ]
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["channel_input_dirs"]["train"] == env["SM_CHANNEL_TRAIN"]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )
)
def test_a_json_encoded_hyperparameter_decodes_to_its_value(value: Any) -> None:
    assert decoded(json.dumps(value)) == value


@given(st.text(min_size=1).filter(lambda text: not _is_json(text)))
def test_a_plain_text_hyperparameter_is_kept_as_it_is(text: str) -> None:
    assert decoded(text) == text


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", ["", "..", "a/b", "x" * 65, "train data"])
def test_a_channel_name_that_is_no_folder_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="channel name"):
        check_channel_name(name)
