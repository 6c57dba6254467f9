// Shared by the pool and its threads; kept apart so that a thread does not load the pool library.

/**
 * Slots of the board: a thread starting task `run` writes its thread id, then `run`, into slot
 * `run % BOARD_SLOTS` (two Int32s), so the pool learns which thread to wait for when it aborts a
 * task without a message per task. A slot holding another run's number means the task had not
 * started. Far more slots than threads can run at once.
 */
export const BOARD_SLOTS = 4096;

/** The worker's side of the board. */
export function markStarted(board: SharedArrayBuffer | undefined, run: number, threadId: number): void {
  if (!board) return;
  const view = new Int32Array(board);
  const slot = 2 * (run % BOARD_SLOTS);
  Atomics.store(view, slot + 1, threadId);
  Atomics.store(view, slot, run | 0);
}
