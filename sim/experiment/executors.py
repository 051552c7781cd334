"""Where replications run: in this process, in local worker processes, or on a Dask cluster.

Every executor has one job: call a picklable top-level function on a list of argument tuples
and hand back ``(index, result)`` pairs as they finish, in whatever order they finish. The
results themselves never depend on the executor: each task carries its own seed, so a sweep
or a comparison gives the same numbers, bit for bit, serially, on two local processes or on
a cluster of any size.

Dask is an optional extra (``pip install "revloop[dask]"``); it is imported only when a Dask
executor is asked for.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar

from sim.errors import InputError, MissingExtra, Problem, WorkersLost
from sim.io import Closing

T = TypeVar("T")

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorLike",
    "ProcessExecutor",
    "SerialExecutor",
    "WorkersLost",
    "default_workers",
    "make_executor",
]


class Executor(Closing, ABC):
    """Runs independent tasks and yields their results as they finish.

    Use as a context manager: resources (a process pool, a Dask client made from an address)
    live from ``__enter__`` to ``__exit__``, so several batches can share them.
    """

    name: str = "executor"

    @property
    def slots(self) -> int:
        """How many tasks can run at once (for batch sizes and messages)."""
        return 1

    @abstractmethod
    def imap_unordered(
        self, fn: Callable[..., T], tasks: Sequence[tuple[Any, ...]]
    ) -> Iterator[tuple[int, T]]:
        """Call ``fn(*tasks[i])`` for every ``i``; yield ``(i, result)`` as each finishes.

        Parameters
        ----------
        fn
            A module-level function (it may be pickled to another process or machine).
        tasks
            The argument tuples.

        Yields
        ------
        tuple[int, T]
            The task's position in ``tasks`` and its result. If the consumer stops early
            (an exception, ``KeyboardInterrupt``), tasks not yet started are cancelled.
        """


class SerialExecutor(Executor):
    """Runs every task in this process, one after the other."""

    name = "serial"

    def imap_unordered(
        self, fn: Callable[..., T], tasks: Sequence[tuple[Any, ...]]
    ) -> Iterator[tuple[int, T]]:
        """See :meth:`Executor.imap_unordered`."""
        for index, args in enumerate(tasks):
            yield index, fn(*args)


class ProcessExecutor(Executor):
    """A pool of local worker processes (started with ``spawn``), one per CPU by default.

    The one process pool of revloop (``run``, ``compare``, ``diagnose``, ``plan``, ``sweep``
    and ``check-model`` all run on it). Its workers ignore Ctrl-C (the parent stops them) and
    exit on their own when the parent dies, even by ``kill -9``.

    A worker that dies (killed, out of memory) breaks the pool, and every task not finished
    is lost with it. Those tasks run again on a fresh pool, up to ``retries`` times; if the
    pool breaks again, the rest run one at a time on a one-worker pool (less memory, and a
    task that kills its worker every time is found and given up on alone, not with the tasks
    beside it). Every task carries its own seed, so a task run again gives the same numbers.
    See docs/guarantees.md ("Outputs and runs").

    Parameters
    ----------
    workers
        Number of worker processes; ``None`` means one per available CPU.
    retries
        Fresh pools of ``workers`` processes to try after a break, before one at a time.
    """

    name = "processes"

    def __init__(self, workers: int | None = None, retries: int = 1) -> None:
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1 (got {self.workers})")
        if retries < 0:
            raise ValueError(f"retries must be at least 0 (got {retries})")
        self.retries = retries
        self.restarts = 0
        """How many times a broken pool was replaced by a fresh one (for messages, tests)."""
        self._pool: ProcessPoolExecutor | None = None

    @property
    def slots(self) -> int:
        """The number of worker processes."""
        return self.workers

    def _get_pool(self, workers: int | None = None) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: safe with threads and notebooks, and the same on every platform
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=workers or self.workers,
                mp_context=context,
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )
        return self._pool

    def imap_unordered(
        self, fn: Callable[..., T], tasks: Sequence[tuple[Any, ...]]
    ) -> Iterator[tuple[int, T]]:
        """See :meth:`Executor.imap_unordered`.

        Raises
        ------
        WorkersLost
            If some tasks killed their worker even when run alone; every other task has
            finished and been yielded before.
        """
        left = dict(enumerate(tasks))
        broken = 0
        try:
            for _ in range(self.retries + 1):
                yield from self._batch(fn, left, self.workers)
                if not left:
                    return
                broken += 1
                self._replace()
            lost = []
            for i in sorted(left):
                alone = {i: left[i]}
                yield from self._batch(fn, alone, 1)
                if alone:
                    lost.append(i)
                    broken += 1
                    self._replace()
            self.close()  # the next call starts a pool of every worker again
            if lost:
                raise WorkersLost(lost, len(tasks), broken)
        except BaseException:
            # Stopped early (Ctrl-C, an error, the consumer gone): queued tasks are dropped
            # and the workers stopped at once, not left to finish their task.
            self.close(wait=False)
            raise

    def _batch(
        self, fn: Callable[..., T], left: dict[int, tuple[Any, ...]], workers: int
    ) -> Iterator[tuple[int, T]]:
        """Run ``left`` on the pool; yield and remove each task that finishes.

        Returns when every task finished or the pool broke (the lost tasks stay in ``left``).
        """
        pool = self._get_pool(workers)
        index: dict[Future[T], int] = {}
        try:
            with _sigint_blocked():  # inherited by the workers submit() starts
                for i, args in left.items():
                    index[pool.submit(fn, *args)] = i
        except BrokenProcessPool:
            pass  # a worker died while tasks were being queued
        pending = set(index)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=index.__getitem__):
                if isinstance(future.exception(), BrokenProcessPool):
                    continue  # lost with a dead worker
                i = index[future]
                result = future.result()
                del left[i]
                yield i, result

    def _replace(self) -> None:
        """Drop a broken pool; the next batch starts a fresh one."""
        self.close(wait=False)
        self.restarts += 1

    def close(self, wait: bool = True) -> None:
        """Shut the pool down; ``wait=False`` stops the workers at once (SIGTERM)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        workers = list((getattr(pool, "_processes", None) or {}).values())
        # Queued tasks are cancelled by the pool's own thread: a future cancelled here could
        # be failed again by that thread once the workers are gone (InvalidStateError, 3.11).
        pool.shutdown(wait=wait, cancel_futures=True)
        if not wait:
            # A worker busy with a replication would otherwise finish it first, and the
            # interpreter's exit would wait for it (the 30 s Ctrl-C of issue 19).
            for process in workers:
                process.terminate()
            for process in workers:
                process.join(5.0)


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster.

    Parameters
    ----------
    client
        A ``dask.distributed.Client``, or the scheduler's address (``tcp://host:8786``), in
        which case a client is opened on first use and closed by :meth:`close`. Workers must
        have revloop installed (the same version) to import the task functions.
    timeout
        Seconds to wait for the scheduler when connecting by address.
    """

    name = "dask"

    def __init__(self, client: Any, timeout: float = 30.0) -> None:
        self._address = client if isinstance(client, str) else None
        self._client: Any = None if isinstance(client, str) else client
        self._owned = False
        self.timeout = timeout

    @property
    def client(self) -> Any:
        """The ``dask.distributed.Client`` (connected on first use)."""
        if self._client is None:
            distributed = _import_distributed()
            try:
                self._client = distributed.Client(self._address, timeout=self.timeout)
            except (OSError, TimeoutError) as err:
                raise InputError(
                    [
                        Problem(
                            f"cannot reach the Dask scheduler: {err}",
                            "--scheduler",
                            value=self._address,
                        )
                    ]
                ) from None
            self._owned = True
        return self._client

    @property
    def slots(self) -> int:
        """Worker threads across the cluster (at least 1)."""
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def imap_unordered(
        self, fn: Callable[..., T], tasks: Sequence[tuple[Any, ...]]
    ) -> Iterator[tuple[int, T]]:
        """See :meth:`Executor.imap_unordered`."""
        distributed = _import_distributed()
        client = self.client
        # pure=False: two tasks with equal arguments are still two tasks, never deduplicated
        futures = [client.submit(fn, *args, pure=False) for args in tasks]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in distributed.as_completed(futures):
                yield index[future.key], future.result()
        finally:
            client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None
            self._owned = False


ExecutorLike: TypeAlias = Executor | str | Any | None
"""``None`` or ``"processes"`` (local processes), ``"serial"``, a Dask scheduler address
(``"tcp://host:8786"``), a ``dask.distributed.Client``, or an :class:`Executor`."""


def make_executor(executor: ExecutorLike = None, workers: int | None = None) -> Executor:
    """Turn what the caller gave into an :class:`Executor`.

    Parameters
    ----------
    executor
        ``None`` or ``"processes"``: a local process pool; ``"serial"``: this process; a
        string with ``://`` (``"tcp://host:8786"``): a Dask scheduler address; a
        ``dask.distributed.Client``; or an :class:`Executor`, returned as is.
    workers
        Worker processes for the local pool (default: one per CPU).

    Returns
    -------
    Executor
        Not yet entered: use it in a ``with`` block.

    Raises
    ------
    ValueError
        If ``executor`` is none of the above.
    """
    if isinstance(executor, Executor):
        return executor
    if executor is None or executor == "processes":
        return ProcessExecutor(workers)
    if executor == "serial":
        return SerialExecutor()
    if isinstance(executor, str) and "://" in executor:
        return DaskExecutor(executor)
    if type(executor).__module__.split(".")[0] == "distributed":
        return DaskExecutor(executor)
    raise ValueError(
        "executor must be 'serial', 'processes', a Dask scheduler address such as "
        f"tcp://host:8786, a dask.distributed.Client or an Executor (got {executor!r})"
    )


def default_workers() -> int:
    """One worker per available CPU."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _worker_setup(parent: int) -> None:
    """In a pool worker: ignore Ctrl-C, and exit when the parent process is gone.

    Ctrl-C in a terminal reaches every process of the group: the parent alone handles it (it
    stops the workers), so that no worker prints a traceback. The parent may also die by
    SIGKILL, which it cannot handle: without the watch, its workers would idle on as orphans.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block, so that a worker started in it (and until
    :func:`_worker_setup` runs there, while it still imports revloop) cannot be stopped by a
    Ctrl-C meant for the parent: it would print a traceback of its own. A Ctrl-C that came
    meanwhile reaches the parent when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on POSIX
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _import_distributed() -> Any:
    """The ``distributed`` package, or :class:`~sim.errors.MissingExtra` saying how to get it."""
    try:
        import distributed
    except ImportError:
        raise MissingExtra("dask", "running on Dask") from None
    return distributed
