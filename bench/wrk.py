"""Driving ``wrk`` for the serving benchmark: Lua scripts for V2 bodies, and its figures.

Each run's script ends with a ``done()`` callback that prints one machine-readable line
(``WRKJSON {...}``) with wrk's own totals and latency percentiles, so nothing depends on the
layout of wrk's human report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "fixed_body_script", "run_wrk", "v2_body", "wrk_path", "zipf_script"]

#: Line prefix that marks the figures printed by ``done()``.
MARKER = "WRKJSON "

# wrk runs each thread in its own Lua state, and ``done()`` in yet another one: per-thread
# counters are gathered through the thread objects kept by ``setup()``.
_DONE = """
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
non200 = 0
first_bad = ""
function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 300) end
  end
end
function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
    if sample == "" then sample = t:get("first_bad") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"non200":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f}\\n',
    "@MARKER@", summary.requests, summary.duration, bad, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
  -- The sample is free text: it goes on its own line, after the figures.
  io.write("@MARKER@ERROR " .. sample:gsub("\\n", " ") .. "\\n")
end
"""


@dataclass(frozen=True, kw_only=True)
class WrkResult:
    """What one wrk run measured."""

    #: Completed requests per second.
    rps: float
    #: Median latency (ms).
    p50_ms: float
    #: 99th percentile latency (ms).
    p99_ms: float
    #: Responses whose status was not 200.
    non200: int
    #: Socket errors (connect, read, write, timeout).
    socket_errors: int
    #: Requests completed.
    requests: int
    #: Status and start of the body of the first non-200 response, if any.
    error_sample: str = ""

    @property
    def errors(self) -> int:
        """Non-200 responses plus socket errors."""
        return self.non200 + self.socket_errors


def wrk_path() -> str | None:
    """Where the wrk binary is, or None."""
    return shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)


def v2_body(rows: list[list[float]]) -> str:
    """A KServe V2 infer request for ``rows`` (FP64), asking for ``predict_proba``."""
    data = [x for row in rows for x in row]
    return json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [len(rows), len(rows[0])],
                    "datatype": "FP64",
                    "data": data,
                }
            ],
            "outputs": [{"name": "predict_proba"}],
        },
        separators=(",", ":"),
    )


def _lua_string(text: str) -> str:
    # Long brackets need no escaping; the level is chosen so the body cannot close them.
    return "[==[" + text + "]==]"


def fixed_body_script(
    body: str, content_type: str = "application/json", headers: dict[str, str] | None = None
) -> str:
    """A script that POSTs ``body`` (of ``content_type``, with ``headers``) to the URL's path."""
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {_lua_string(body)}",
        f'wrk.headers["Content-Type"] = {_lua_string(content_type)}',
        # Spaces inside the brackets: "[[" would open a Lua long string.
        *(
            f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}"
            for k, v in (headers or {}).items()
        ),
    ]
    return "\n".join(lines) + "\n" + _DONE.replace("@MARKER@", MARKER)


def zipf_script(
    body: str,
    names: list[str],
    s: float = 1.0,
    seed: int = 12345,
    *,
    path: str = "/v2/models/{name}/infer",
    content_type: str = "application/json",
) -> str:
    """A script that POSTs ``body`` to a model drawn per request from Zipf(s) over ``names``.

    Rank 1 is ``names[0]``; ``path`` places the name. The CDF is computed once per thread;
    each thread seeds its generator with ``seed`` plus its index, so runs repeat.
    """
    name_list = ",".join(f'"{n}"' for n in names)
    before, _, after = path.partition("{name}")
    return f"""
local names = {{{name_list}}}
local body = {_lua_string(body)}
local headers = {{["Content-Type"] = {_lua_string(content_type)}}}
local cdf = {{}}
local total = 0
for k = 1, #names do total = total + 1 / (k ^ {s}) ; cdf[k] = total end
for k = 1, #names do cdf[k] = cdf[k] / total end

function init(args)
  math.randomseed({seed} + (id or 0))
end

local function pick()
  local u = math.random()
  local lo, hi = 1, #cdf
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return names[lo]
end

function request()
  return wrk.format("POST", {_lua_string(before)} .. pick() .. {_lua_string(after)}, headers, body)
end
""" + _DONE.replace("@MARKER@", MARKER)


def run_wrk(
    url: str,
    script: str,
    *,
    connections: int,
    seconds: float,
    workdir: Path,
    threads: int | None = None,
    cpu: str | None = None,
) -> WrkResult:
    """Run wrk against ``url`` with ``script`` and return its figures.

    With ``cpu``, wrk runs on that CPU only (the pinned mode: the server on the other).
    """
    binary = wrk_path()
    assert binary is not None, "wrk is not installed"
    threads = threads or min(2, connections)
    script_path = workdir / "script.lua"
    script_path.write_text(script)
    command = [
        *(["taskset", "-c", cpu] if cpu is not None else []),
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script_path),
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    raw, sample = None, ""
    for line in done.stdout.splitlines():
        if line.startswith(MARKER + "ERROR "):
            sample = line[len(MARKER + "ERROR ") :].strip()
        elif line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
    if raw is None:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return WrkResult(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        non200=raw["non200"],
        socket_errors=socket_errors,
        requests=raw["requests"],
        error_sample=sample,
    )
