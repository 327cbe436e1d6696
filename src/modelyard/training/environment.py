"""The ``SM_*`` environment of a training process, as SageMaker's training toolkit sets it.

A script-mode ``train.py`` reads its folders and hyperparameters from these variables (or
from its command line, where the hyperparameters also arrive as ``--name value``):

- ``SM_MODEL_DIR``, ``SM_OUTPUT_DATA_DIR``, ``SM_OUTPUT_DIR``, ``SM_INPUT_DIR``,
  ``SM_INPUT_CONFIG_DIR``: the job folder's parts (``layout.py``);
- ``SM_CHANNELS`` (a JSON list) and ``SM_CHANNEL_<NAME>`` (each channel's folder);
- ``SM_HPS`` (a JSON object) and ``SM_HP_<NAME>``: the hyperparameters, each decoded from
  JSON when it is JSON (the SageMaker Python SDK sends every value JSON-encoded);
- ``SM_NUM_CPUS``, ``SM_NUM_GPUS``, ``SM_CURRENT_HOST``, ``SM_HOSTS``,
  ``SM_RESOURCE_CONFIG``, ``SM_INPUT_DATA_CONFIG``, ``SM_USER_ARGS``, ``SM_LOG_LEVEL``,
  ``SM_USER_ENTRY_POINT``, ``SM_MODULE_NAME``, ``SM_MODULE_DIR``, ``SM_TRAINING_ENV``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from modelyard.training.layout import CURRENT_HOST, JobFolder

__all__ = ["SDK_HYPERPARAMETERS", "decoded", "sm_environment", "user_arguments"]

#: Hyperparameters the SageMaker Python SDK adds for script mode: they tell the container
#: what to run, and are no hyperparameters of the user's script.
SDK_HYPERPARAMETERS: Final = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "sagemaker_region",
        "sagemaker_enable_cloudwatch_metrics",
    }
)


def decoded(value: str) -> Any:
    """A hyperparameter's value: the JSON it holds (``"10"`` → 10, ``'"adam"'`` → adam),
    else the text itself (``adam``), as the training toolkit reads them."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def user_arguments(hyperparameters: Mapping[str, str]) -> list[str]:
    """The script's command line: ``--name value`` per user hyperparameter, sorted."""
    arguments: list[str] = []
    for name in sorted(hyperparameters):
        if name in SDK_HYPERPARAMETERS:
            continue
        value = decoded(hyperparameters[name])
        text = value if isinstance(value, str) else json.dumps(value)
        arguments += [f"--{name}", text]
    return arguments


def sm_environment(
    folder: JobFolder,
    *,
    job_name: str,
    hyperparameters: Mapping[str, str],
    input_data_config: Mapping[str, Mapping[str, Any]],
    num_cpus: int,
    entry_point: str | None = None,
    module_dir: str | None = None,
    log_level: int = 20,
) -> dict[str, str]:
    """The ``SM_*`` variables of a training process of ``folder`` (see the module)."""
    channels = sorted(input_data_config)
    user = {k: decoded(v) for k, v in hyperparameters.items() if k not in SDK_HYPERPARAMETERS}
    arguments = user_arguments(hyperparameters)
    resource_config = {
        "current_host": CURRENT_HOST,
        "hosts": [CURRENT_HOST],
        "network_interface_name": "lo",
    }
    module_name = Path(entry_point).stem if entry_point else ""
    training_env: dict[str, Any] = {
        "job_name": job_name,
        "channel_input_dirs": {c: str(folder.channel_dir(c)) for c in channels},
        "current_host": CURRENT_HOST,
        "hosts": [CURRENT_HOST],
        "hyperparameters": user,
        "input_config_dir": str(folder.config_dir),
        "input_data_config": {k: dict(v) for k, v in input_data_config.items()},
        "input_dir": str(folder.input_dir),
        "log_level": log_level,
        "model_dir": str(folder.model_dir),
        "module_dir": module_dir or "",
        "module_name": module_name,
        "network_interface_name": "lo",
        "num_cpus": num_cpus,
        "num_gpus": 0,
        "output_data_dir": str(folder.output_data_dir),
        "output_dir": str(folder.output_dir),
        "resource_config": resource_config,
        "user_entry_point": entry_point or "",
    }
    env = {
        "SM_MODEL_DIR": str(folder.model_dir),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(user, sort_keys=True),
        "SM_CURRENT_HOST": CURRENT_HOST,
        "SM_HOSTS": json.dumps([CURRENT_HOST]),
        "SM_NUM_CPUS": str(num_cpus),
        "SM_NUM_GPUS": "0",
        "SM_NUM_NEURONS": "0",
        "SM_LOG_LEVEL": str(log_level),
        "SM_NETWORK_INTERFACE_NAME": "lo",
        "SM_USER_ARGS": json.dumps(arguments),
        "SM_INPUT_DIR": str(folder.input_dir),
        "SM_INPUT_CONFIG_DIR": str(folder.config_dir),
        "SM_OUTPUT_DIR": str(folder.output_dir),
        "SM_OUTPUT_DATA_DIR": str(folder.output_data_dir),
        "SM_RESOURCE_CONFIG": json.dumps(resource_config),
        "SM_INPUT_DATA_CONFIG": json.dumps(training_env["input_data_config"]),
        "SM_USER_ENTRY_POINT": entry_point or "",
        "SM_MODULE_NAME": module_name,
        "SM_MODULE_DIR": module_dir or "",
        "SM_FRAMEWORK_PARAMS": "{}",
        "SM_TRAINING_ENV": json.dumps(training_env, sort_keys=True),
    }
    for channel in channels:
        env[f"SM_CHANNEL_{_variable_name(channel)}"] = str(folder.channel_dir(channel))
    for name, value in user.items():
        env[f"SM_HP_{_variable_name(name)}"] = (
            value if isinstance(value, str) else json.dumps(value)
        )
    return env


def _variable_name(name: str) -> str:
    """``learning-rate`` → ``LEARNING_RATE``: a name as the toolkit puts it in a variable."""
    return "".join(c if c.isalnum() else "_" for c in name).upper()
