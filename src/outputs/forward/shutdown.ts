// How the output ends: draining within Grace, then tearing down, spooling
// (or dropping, counted) what is left, and one summary line (the states are
// in lifecycle.ts).
import type { Logger } from '../../log.js';
import type { Chunk } from './buffer.js';
import type { DropReason, ForwardCounters } from './counters.js';
import type { Sender } from './delivery.js';
import type { OutputLifecycle } from './lifecycle.js';
import type { ChunkQueue } from './queue.js';
import type { Spiller } from './spill.js';
import type { Changes } from './waiting.js';

/** Part of the grace kept for writing undelivered chunks to the spool. */
const SPOOL_SHARE_OF_GRACE = 0.1;
const SPOOL_RESERVE_MAX_MS = 1000;

export interface ShutdownParts {
  lifecycle: OutputLifecycle;
  queue: ChunkQueue;
  sender: Sender;
  spiller: Spiller | undefined;
  changes: Changes;
  stats: ForwardCounters;
  log: Logger;
  /** Stops sealing at Flush. */
  stopFlushing(): void;
  /** Gives chunks up, counted, in one log line. */
  dropAll(chunks: Chunk[], reason: DropReason, why: string): void;
}

/** Delivers within graceMs, then spools (or drops, counted) what is left, and logs the summary. */
export async function shutDown(parts: ShutdownParts, graceMs: number): Promise<void> {
  const { lifecycle, queue, sender, spiller, changes, log } = parts;
  lifecycle.state = 'draining';
  parts.stopFlushing();
  queue.sealAll();
  const reserve = spiller ? Math.min(SPOOL_RESERVE_MAX_MS, graceMs * SPOOL_SHARE_OF_GRACE) : 0;
  const deadline = Date.now() + graceMs - reserve;
  const now = Date.now();
  for (const chunk of queue.chunks) chunk.nextAttemptAt = Math.min(chunk.nextAttemptAt, now);
  sender.pump();
  await changes.until(() => queue.chunks.length === 0, deadline);

  lifecycle.state = 'tearingDown';
  sender.tearDown();
  await changes.until(() => sender.inFlight === 0 && !spiller?.busy);

  const left = queue.chunks.filter((c) => c.entries);
  if (spiller) {
    for (const chunk of left) await spiller.persist(chunk);
    parts.dropAll(queue.chunks.filter((c) => c.entries), 'shutdown', '(the spool could not take them)');
    const onDisk = queue.chunks.filter((c) => c.file).reduce((n, c) => n + c.records, 0);
    if (onDisk > 0) log.info(`${onDisk} undelivered records kept in ${spiller.spool.dir} for the next start`);
    await spiller.removed();
  } else {
    parts.dropAll(left, 'shutdown', 'undelivered within the grace period (set storage.path to keep them)');
  }
  // Nobody waits for room in an output that is gone.
  queue.budget.openUp();
  lifecycle.state = 'closed';
  log.info(parts.stats.summary(queue.budget.peak, queue.budget.limit, spiller?.spool.used));
}
