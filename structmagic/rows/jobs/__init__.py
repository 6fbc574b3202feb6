"""Provider batch APIs: a whole column at the batch price, past the rate limits, resumable.

::

    import structmagic as sm
    job = sm.submit_batch(texts, Invoice)     # submits, or re-attaches to the same rows' job
    job.status()                              # BatchStatus: status, done / failed / total
    results = job.results()                   # waits, collects, validates, re-runs failures
                                              # once, kept (retry="again" pays again)
    results = sm.batch(texts, Invoice, via="batch-api")   # the same in one call

In the magic: ``%%structured SCHEMA --each VAR -o NAME --batch-api`` (``--no-wait``,
``--batch-retry sync|again|none``), and ``%structured_batches`` lists the jobs of the manifest
(``--cancel ID`` cancels one). Requests about a job of the manifest go only to the base URL
configured now for its provider: the manifest is a shared file, and a record naming another
host is shown, not contacted.

The modules, in the order a job uses them: ``lines`` (one request per row, as the
synchronous path builds it, a row that repeats an earlier one left out; ids and the row
index), ``jsonl`` (input files streamed to disk,
split at the provider's limits), ``manifest`` (the jobs on disk, each record checked whole
when read), ``wire`` (the batch API's HTTP, through the one request path of every call;
recordings), ``submit`` (submit or re-attach, never twice; a job lost in a crash found by
the submission's mark), ``job`` (:class:`BatchJob`: status, wait, results, cancel),
``collect`` (results matched by id and validated, each answer priced), ``kept`` (the re-run
of failed rows, kept with the job), ``pricing`` (the batch-tier price of the job's
settings; the expected cost). The magic's side is :mod:`structmagic.magic.batches`, the
dispatcher that runs a job for ``batch(via="batch-api")`` is :func:`structmagic.rows.start`.
Each provider's own facts and
translations are on its class in :mod:`structmagic.providers` (``batch_api``).
"""

from __future__ import annotations

from .job import BatchJob, BatchStatus
from .submit import submit_batch

__all__ = ["BatchJob", "BatchStatus", "submit_batch"]
