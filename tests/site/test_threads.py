"""ProcessThreadPool: one pool per process, made again after a fork."""

import multiprocessing
import os

from hindsight_site.threads import ProcessThreadPool


def _child_reports(pool: ProcessThreadPool, queue) -> None:
    inherited = pool._pool[1]
    child_pool = pool.get()
    made_here = pool._pool[0] == os.getpid() and child_pool is not inherited
    queue.put((made_here, child_pool.submit(lambda: 6 * 7).result(timeout=10)))


def test_a_process_reuses_its_pool_and_a_forked_child_makes_its_own():
    pool = ProcessThreadPool(lambda: 2, "test-pool")
    first = pool.get()
    assert pool.get() is first
    assert first._max_workers == 2
    assert first.submit(lambda: "ran").result(timeout=10) == "ran"  # threads exist in the parent now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_reports, args=(pool, queue))
    child.start()
    fresh, answer = queue.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert fresh and answer == 42
