"""nbconvert configuration for executing mm-lab lessons on the Deno kernel.

Loaded by lib/notebook/execute.ts as `jupyter nbconvert --config=<this file>`.

Why it exists: the Deno kernel sometimes publishes a cell's `execute_result` or
last `stream` message on IOPub *after* the cell's `status: idle`.  nbclient
stops collecting a cell's outputs at idle and drops messages whose parent is
not the running cell, so those outputs vanish from the executed notebook (about
one cell in four that awaits something).  This file patches nbclient so that
a late message is appended to the earlier cell it belongs to.  It also prints
`mm-lab: executing cell <index>` to stderr before each cell, so that the runner
can name the cell when the kernel times out or dies before any notebook is
written.

The patch replaces one private method whose signature has not changed from
nbclient 0.5 to 0.10; if it is missing, the patch changes nothing and says so.
The `on_cell_execute` hook exists since nbclient 0.6.
"""

import inspect
import sys

import nbclient.client as _client
from nbclient.exceptions import CellExecutionComplete


async def _await_if_needed(value):
    """Return `value`, awaiting it first if the client API was async."""
    if inspect.isawaitable(value):
        return await value
    return value


async def _poll_output_msg(self, parent_msg_id, cell, cell_index):
    """Collect IOPub output for `parent_msg_id` until idle, and route late
    output of cells that already finished to those cells."""
    finished = self.__dict__.setdefault("_mm_lab_finished", {})
    while True:
        msg = await _await_if_needed(self.kc.iopub_channel.get_msg(timeout=None))
        parent = msg["parent_header"].get("msg_id")
        if parent == parent_msg_id:
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                finished[parent_msg_id] = (cell, cell_index)
                return
        elif parent in finished:
            late_cell, late_index = finished[parent]
            try:
                self.process_message(msg, late_cell, late_index)
            except CellExecutionComplete:
                pass


def _announce_cell(cell, cell_index, **_):
    """nbclient hook: print which cell is about to run."""
    print(f"mm-lab: executing cell {cell_index}", file=sys.stderr, flush=True)


_NotebookClient = _client.NotebookClient
if hasattr(_NotebookClient, "_async_poll_output_msg"):
    _NotebookClient._async_poll_output_msg = _poll_output_msg
else:
    print(
        "mm-lab: this nbclient has no _async_poll_output_msg; "
        "late Deno kernel output may be missing from executed notebooks",
        file=sys.stderr,
    )

c = get_config()  # noqa: F821 (provided by the traitlets config loader)
c.ExecutePreprocessor.on_cell_execute = _announce_cell
