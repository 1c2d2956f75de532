"""Batch: one operation over a whole folder, resumable, on this machine or on a Ray cluster.

Running a batch
===============

::

    revive batch scans/ restored/ --recursive --op enhance --scale 2
    revive batch scans/ restored/ --op upscale --model realesr-animevideov3-x2 --workers 2
    revive batch scans/ restored/ --op enhance --set denoise=0.4 --set faces=off --json

Every operation revive has (``revive batch --op NAME``; ``enhance`` by default) runs in batch
with no batch-specific code: its request is built from ``--set NAME=VALUE`` (repeatable) and the
common options ``--scale``, ``--model``, ``--strength``, ``--tile`` and ``--print`` through
``request_from_fields``, which refuses a name the operation does not take.

The output folder mirrors the input folder (``scans/1998/a.jpg`` → ``restored/1998/a_x2.jpg``).
Each photo's failure (a corrupt file, an empty file, something that is not an image) is printed
with its reason and the others go on; the exit code is 1 when any photo failed. At the end the
output folder holds ``revive-batch.json`` and ``revive-batch.html``: every photo with its
before/after thumbnails, size, time and fidelity figures, failures first.

Resuming
========

``restored/.revive-batch/journal.jsonl`` records each finished photo: its path (relative to the
input folder), size, content hash (sha256) and the settings hash (operation, request, format and
quality). Run the same command again and photos already done are skipped, photos whose file or
settings changed are redone, and failures are tried again. A batch may be stopped at any moment —
Ctrl-C, a crash, ``kill -9``, a power cut — and rerun: outputs are written atomically (a temporary
file, then a rename), a photo's journal line is written (and ``fsync``'d) only after its output is
in place, and what a killed writer left behind is swept, so no output is partial or duplicated.
A lock file (``.revive-batch/lock``, naming the host and PID) keeps two batches off one output
folder; a lock left by a dead process is taken over.

Workers
=======

``--workers N`` runs N worker processes (``--engine local``, the default) or N Ray actors
(``--engine ray``). Each worker loads its models once and keeps them; the machine's cores and the
memory budget are shared among the workers (``--threads`` and ``--memory`` set them per worker).
A worker that dies mid-photo (out of memory, a native crash, a lost node) costs that photo a retry
(``--retries``, 2 by default); a bad photo is a result, never retried. From Python,
``api.run_batch(in_dir, out_dir, request, api.BatchOptions(workers=2))``; as with any
``multiprocessing`` code, a script using ``workers > 1`` needs the ``if __name__ == "__main__":``
guard (worker processes import the main module).

On a Ray cluster
================

``--engine ray`` alone starts a private Ray on this machine (``ray.init(num_cpus=…,
include_dashboard=False)``) and stops it at the end. To use many machines:

1. Install the same revive on every node: ``pip install "revive-photo[ray]"`` (and any extras
   the operation needs, e.g. ``revive-photo[torch]``), and the same models (``revive models``
   on each node, or a shared ``REVIVE_HOME``/model store).
2. Put the photos and the output folder on storage every node mounts at the same path (NFS,
   a cluster file system, a mounted bucket): workers read inputs and write outputs there
   themselves; only the batch process writes the journal, thumbnails and report.
3. Start Ray: on the head node ``ray start --head --port=6379``; on every other node
   ``ray start --address=HEAD_IP:6379`` (add ``--num-gpus=1`` on GPU nodes). Recent Ray
   authenticates with a token: every node and the batch process need the same one
   (``ray get-auth-token --generate``, then ``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``).
4. On the head node (or any machine that joined the cluster and mounts the storage)::

       revive batch /mnt/archive/scans /mnt/archive/restored --recursive \\
           --engine ray --ray-address auto --workers 32 --threads 1

   ``--ray-address auto`` joins the cluster this machine belongs to; ``HOST:PORT`` names one,
   ``ray://HOST:10001`` goes through Ray Client. Each actor asks Ray for ``--threads`` CPUs
   (by default this machine's cores shared among the workers) and one GPU with ``--device gpu``.

If the batch process is killed, Ray stops its actors with it; run the same command again to
finish. Run one batch per output folder at a time (the lock sees only processes on its own
host; from another host it reports the holder and refuses).
"""

from __future__ import annotations

from .runner import STATE_DIR, BatchEvent, BatchOptions, BatchSummary, run_batch, settings_hash

__all__ = ["STATE_DIR", "BatchEvent", "BatchOptions", "BatchSummary", "run_batch", "settings_hash"]
