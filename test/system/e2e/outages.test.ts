// A receiver that goes down and comes back, under load (bench/soak-outages.mjs,
// short): ebpf-forward stays up through every outage, however long its
// outputs stay full, and every offered event is received, lost in the kernel
// (counted), dropped for a counted reason, or kept on disk and sent by the
// next start. The full soak (60 s outages, every combination) is the script's.
import { describe, expect, it } from 'vitest';
import { soak } from '../../../bench/soak-outages.mjs';

interface SoakResult {
  offered: number;
  received: number;
  lost_in_kernel: number;
  unaccounted: number;
  alive_throughout: boolean;
  exit: { code: number | null };
  ok: boolean;
}

const run = (features: Record<string, boolean>): Promise<SoakResult> =>
  // A small Mem_Buf_Limit: each 6 s outage fills the output, so that reading
  // pauses and every other timer is idle, as in a long outage.
  soak({ rate: 20_000, downS: 6, upS: 4, cycles: 2, memBufLimit: '1MB', ...features });

describe('receiver outages under load', () => {
  it('Retry_Limit no_limits, no storage, no acks, no HTTP server: the process stays up and accounts for every event', async () => {
    const r = await run({});
    console.log(JSON.stringify(r));
    expect(r.alive_throughout).toBe(true);
    expect(r.exit.code).toBe(0);
    expect(r.lost_in_kernel).toBeGreaterThan(0); // the outputs were full: the kernel counted
    expect(r.unaccounted).toBe(0);
    expect(r.ok).toBe(true);
  }, 120_000);

  it('with storage, acks and the HTTP server: the same, and what was kept on disk arrives after a restart', async () => {
    const r = await run({ storage: true, acks: true, http: true });
    console.log(JSON.stringify(r));
    expect(r.alive_throughout).toBe(true);
    expect(r.exit.code).toBe(0);
    expect(r.unaccounted).toBe(0);
    expect(r.ok).toBe(true);
  }, 180_000);
});
