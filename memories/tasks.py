"""Celery adapters: wake-ups for operations and the periodic reaper. All logic lives in ``operations``."""

from celery import shared_task

from memories import operations


@shared_task(name="memories.tasks.run_operation", acks_late=True, ignore_result=True)
def run_operation(operation_id: str) -> str | None:
    """Claim and perform one operation; a no-op when another worker has it or it is not due yet."""
    import memories.services  # noqa: F401 - registers the operation handlers (consolidation's through it)

    return operations.run(operation_id)


@shared_task(name="memories.tasks.reap_operations", ignore_result=True)
def reap_operations() -> dict[str, int]:
    return operations.reap()


@shared_task(name="memories.tasks.prune_recall_changes", ignore_result=True)
def prune_recall_changes() -> int:
    from memories import recall_index

    return recall_index.prune_changes()
