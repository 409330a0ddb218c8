// Turns BPF timestamps (CLOCK_MONOTONIC ns, as two u32 halves) into wall-clock
// seconds + nanoseconds, exactly and without a BigInt per event: the wall time
// at each value of the high half is computed once (it changes every 4.3 s).
import { addon } from '../native/addon.js';

const NS = 1_000_000_000;
const REFRESH_MS = 10_000;

export class MonotonicClock {
  private offset: bigint;
  private refreshedAt = Date.now();
  private high = -1;
  private baseSec = 0;
  private baseNsec = 0;

  constructor(private readonly readOffset: () => bigint = () => addon().clockOffset()) {
    this.offset = readOffset();
  }

  /** Re-reads realtime - monotonic now and then, so NTP steps are followed. */
  maybeRefresh(): void {
    const now = Date.now();
    if (now - this.refreshedAt < REFRESH_MS) return;
    this.refreshedAt = now;
    const offset = this.readOffset();
    if (offset !== this.offset) {
      this.offset = offset;
      this.high = -1;
    }
  }

  toWall(high: number, low: number, out: { sec: number; nsec: number }): void {
    if (high !== this.high) {
      const wall = (BigInt(high) << 32n) + this.offset;
      this.baseSec = Number(wall / 1_000_000_000n);
      this.baseNsec = Number(wall % 1_000_000_000n);
      this.high = high;
    }
    const n = this.baseNsec + low;
    const carry = Math.floor(n / NS);
    out.sec = this.baseSec + carry;
    out.nsec = n - carry * NS;
  }
}
