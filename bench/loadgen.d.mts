// Types of bench/loadgen.mjs, for the tests that run the generator.

export const outDir: string;

export type LoadKind = 'signal' | 'open' | 'exec' | 'connect' | 'malloc';

export const loadKinds: Readonly<Record<LoadKind, { trace: string; recordKind: string }>>;

/** The generator's report of one job. */
export interface LoadgenReport {
  kind: LoadKind;
  pid: number;
  events: number;
  failed: number;
  records_per_event: number;
  offered: number;
  rate: number;
  elapsed_s: number;
  achieved_rate: number;
  cpu_s: number;
  children_cpu_s: number;
}

export function buildLoadgen(): string;

export function runLoadgen(kind: LoadKind, count: number, rate: number): Promise<LoadgenReport>;
