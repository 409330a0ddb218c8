// Every output plugin ebpf-forward has, by the name used in `[OUTPUT] Name`.
import { forwardOutput } from './forward/index.js';
import { nullOutput } from './null.js';
import { stdoutOutput } from './stdout.js';
import type { OutputPlugin } from './types.js';

export const outputPlugins: ReadonlyMap<string, OutputPlugin> = new Map(
  [forwardOutput, stdoutOutput, nullOutput].map((p) => [p.name, p]),
);
