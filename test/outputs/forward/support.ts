// Helpers for the forward output's tests: outputs built as the config loader
// builds them, test chunks, a log that is kept, and waiting.
import type { EventChunk } from '../../../src/chunk.js';
import type { KeyValues, ServiceSettings } from '../../../src/config/model.js';
import { createLogger, type Logger, type RootLogger } from '../../../src/log.js';
import { forwardOutput } from '../../../src/outputs/forward/index.js';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { chunkOf, type TestEvent } from '../../support/chunks.js';

/** Key values as the config loader makes them: each parsed by its KeySpec, defaults filled in. */
export function forwardValues(raw: Record<string, string>): KeyValues {
  const values = new Map<string, unknown>();
  for (const [key, value] of Object.entries(raw)) {
    const spec = forwardOutput.keys.find((k) => k.name === key.toLowerCase());
    if (!spec) throw new Error(`test uses unknown key ${key}`);
    values.set(spec.name, spec.parse(value));
  }
  for (const spec of forwardOutput.keys) {
    if (spec.default !== undefined && !values.has(spec.name)) values.set(spec.name, spec.parse(spec.default));
  }
  forwardOutput.validate?.(values);
  return values;
}

export interface TestLog {
  logger: RootLogger;
  lines: string[];
  text(): string;
}

/** A logger whose lines are kept (and echoed with FORWARD_TEST_LOG=1). */
export function testLog(): TestLog {
  const lines: string[] = [];
  const logger = createLogger('debug', {
    write: (line) => {
      lines.push(line);
      if (process.env.FORWARD_TEST_LOG) process.stderr.write(line);
    },
  });
  return { logger, lines, text: () => lines.join('') };
}

export interface OutputOptions {
  flushSeconds?: number;
  storagePath?: string;
  /** storage.checksum on. */
  checksum?: boolean;
  /** scheduler.base/cap in seconds: retries within a test's time. */
  schedulerBase?: number;
  schedulerCap?: number;
  instance?: string;
  configDir?: string;
  log?: Logger;
}

export function serviceSettings(o: OutputOptions = {}): ServiceSettings {
  return {
    flushSeconds: o.flushSeconds ?? 0.05,
    graceSeconds: 5,
    logLevel: 'debug',
    storagePath: o.storagePath,
    values: new Map<string, unknown>([
      ['scheduler.base', o.schedulerBase ?? 0.05],
      ['scheduler.cap', o.schedulerCap ?? 0.2],
      ['storage.checksum', o.checksum ?? false],
    ]),
  };
}

export function createForward(raw: Record<string, string>, o: OutputOptions = {}): ForwardOutput {
  return forwardOutput.create(forwardValues(raw), {
    instance: o.instance ?? 'forward.0',
    log: o.log ?? testLog().logger,
    service: serviceSettings(o),
    configDir: o.configDir ?? process.cwd(),
  }) as ForwardOutput;
}

/** Test events with a unique `seq` each, shaped like trace_signal's records. */
export function makeEvents(from: number, count: number): TestEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = from + i;
    return {
      sec: 1_790_000_000 + Math.floor(seq / 1000),
      nsec: (seq * 7919) % 1_000_000_000,
      record: { event_type: 'signal', pid: 4000 + (seq % 100), tid: 4000 + (seq % 100), comm: 'kill', signal: 10, tpid: 77, error_raw: 0, seq },
    };
  });
}

/** A chunk of makeEvents(from, count), as an input hands it over. */
export function makeChunk(from: number, count: number): EventChunk {
  return chunkOf(makeEvents(from, count));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until cond() holds; fails with `what` after timeoutMs. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** How many of `seqs` are there, and how many arrived more than once. */
export function tally(seqs: number[]): { unique: number; duplicates: number } {
  const unique = new Set(seqs).size;
  return { unique, duplicates: seqs.length - unique };
}
