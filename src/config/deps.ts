// What loading a config needs from the rest of the program: the traces and
// the output plugins there are, and the environment ${VAR}s come from.
import type { OutputPlugin } from '../outputs/types.js';
import type { TraceDefinition } from '../traces/types.js';

export interface ConfigDeps {
  /** Traces by the name used in `Trace`. */
  traces: ReadonlyMap<string, TraceDefinition>;
  /** Output plugins by the name used in `[OUTPUT] Name`. */
  outputs: ReadonlyMap<string, OutputPlugin>;
  /** Where ${VAR}s come from after @SET; default process.env. */
  env?: Record<string, string | undefined>;
}
