// Waiting for the output to change: whatever changes it (a chunk delivered,
// spooled, dropped, a delivery slot freed) calls changed(); flush() and
// close() wait until their condition holds, looked at again at each change.
export class Changes {
  private readonly waiters: (() => void)[] = [];

  changed(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves true once cond() holds, false at the deadline (ms since the epoch). */
  async until(cond: () => boolean, deadline = Infinity): Promise<boolean> {
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        // Looked at every second too: a deadline passes without a change.
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}
