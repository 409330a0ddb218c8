// The forward output's lifecycle, one state:
//   created → running → draining → tearingDown → closed
// draining: close() was called; no new records, every chunk is due now and
//   a failed one is tried again soon, until Grace (less a reserve for the
//   spool) is over or nothing is left;
// tearingDown: connections are closed (what awaits a write or an ack fails
//   and stays queued), no attempt starts; what is left is spooled, or
//   without storage.path dropped and counted;
// closed: one summary line logged.

export type LifecycleState = 'created' | 'running' | 'draining' | 'tearingDown' | 'closed';

export class OutputLifecycle {
  state: LifecycleState = 'created';

  /** write() keeps records (else counts them as dropped, shutdown). */
  get takesRecords(): boolean {
    return this.state === 'created' || this.state === 'running';
  }

  /** Deliveries may start. */
  get sending(): boolean {
    return this.state === 'created' || this.state === 'running' || this.state === 'draining';
  }

  get draining(): boolean {
    return this.state === 'draining';
  }
}
