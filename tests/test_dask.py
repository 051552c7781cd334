"""The Dask executor against a real local cluster: one scheduler and two worker processes.

The processes are started on 127.0.0.1 by the test (free ports found first), waited for,
and terminated in a ``finally`` whatever happens. Skipped when the ``dask`` extra is absent.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli.experiment import sweep_command
from sim.errors import InputError
from sim.experiment.compare import compare
from sim.experiment.executors import DaskExecutor, make_executor
from sim.experiment.store import ResultStore
from sim.experiment.sweep import sweep
from tests.helpers import BASE, SCENARIOS, small

distributed = pytest.importorskip("distributed")

START_TIMEOUT = 180  # seconds; generous, a shared CI machine may be slow to start Python


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                     for log in sorted(folder.glob("*.log")))  # fmt: skip


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """``(address, client)`` of a scheduler and two single-threaded workers on 127.0.0.1.

    The scheduler picks its own port and writes it to a scheduler file, which the workers
    and the client read: no port is chosen in advance, so none can be taken in between.
    """
    logs = tmp_path_factory.mktemp("dask")
    file = logs / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    commands = [
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(file)],
        *[
            [*dask, "worker", "--scheduler-file", str(file), "--host", "127.0.0.1",
             "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"]
            for i in range(2)
        ],
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    client = None
    try:
        for i, command in enumerate(commands):
            log = (logs / f"{i}.log").open("wb")
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        try:
            client = distributed.Client(scheduler_file=str(file), timeout=START_TIMEOUT)
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        except Exception as exc:  # the cluster's own logs say why it did not come up
            pytest.fail(f"the local Dask cluster did not start: {exc!r}\n{_logs(logs)}")
        yield client.scheduler.address, client
    finally:
        if client is not None:
            client.close()
        _stop(procs)


SWEEP = f"""\
name: on_dask
base: {BASE}
set: [horizon_months=1, starting_book.nurture_leads=0]
parameters:
  inside_sales.headcount: [8, 12]
  marketing.scoring.mql_threshold: [18, 22]
replications: 3
seed: 11
kpis: [ending_arr, mqls, sqls, wins]
monthly: [arr]
"""


def _tables(path: Path) -> list[pd.DataFrame]:
    with ResultStore(path, read_only=True) as store:
        return [store.points(), store.tasks(), store.kpis(), store.monthly()]


def test_sweep_rows_on_dask_equal_the_serial_rows(cluster: tuple[str, Any], tmp_path: Path) -> None:
    address, client = cluster
    assert len(client.scheduler_info()["workers"]) == 2
    file = tmp_path / "sweep.yaml"
    file.write_text(textwrap.dedent(SWEEP))
    serial = tmp_path / "serial.duckdb"
    sweep(file, serial, executor="serial")
    # a Client in Python ...
    by_client = tmp_path / "client.duckdb"
    with distributed.get_task_stream(client) as stream:
        run = sweep(file, by_client, executor=client)
    assert run.executor == "dask"
    assert run.computed == 12
    assert len({task["worker"] for task in stream.data}) == 2  # both workers took tasks
    # ... and a scheduler address on the command line
    by_address = tmp_path / "address.duckdb"
    result = CliRunner().invoke(
        sweep_command, [str(file), "--out", str(by_address), "--scheduler", address]
    )
    assert result.exit_code == 0, result.output
    assert "on dask" in result.output
    for left, mid, right in zip(
        _tables(serial), _tables(by_client), _tables(by_address), strict=True
    ):
        pd.testing.assert_frame_equal(left, mid)
        pd.testing.assert_frame_equal(left, right)


def test_compare_on_dask_equals_serial(cluster: tuple[str, Any]) -> None:
    address, _ = cluster
    scenarios = [small(months=1), small(SCENARIOS / "more_sdrs.yaml", months=1)]
    serial = compare(scenarios, replications=3, seed=2, executor="serial")
    on_dask = compare(scenarios, replications=3, seed=2, executor=address)
    pd.testing.assert_frame_equal(serial.kpis(), on_dask.kpis())


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    assert isinstance(make_executor("tcp://127.0.0.1:1"), DaskExecutor)
    file = tmp_path / "sweep.yaml"
    file.write_text(textwrap.dedent(SWEEP))
    nowhere = DaskExecutor(f"tcp://127.0.0.1:{_free_port()}", timeout=3)  # nothing listens
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        sweep(file, tmp_path / "out.duckdb", executor=nowhere)
