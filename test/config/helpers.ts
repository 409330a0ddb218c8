// Shared by the config tests: fixture paths, catching a ConfigError, and
// the test doubles (a trace with keys of its own, two output plugins).
import { join } from 'node:path';
import { integerParser, parseBool, parseNonEmpty, sizeParser } from '../../src/config/keys.js';
import type { ConfigDeps } from '../../src/config/deps.js';
import { ConfigError } from '../../src/config/model.js';
import type { OutputPlugin } from '../../src/outputs/types.js';
import { traces } from '../../src/traces/registry.js';
import type { TraceDefinition } from '../../src/traces/types.js';

export const fixturesDir = join(import.meta.dirname, 'fixtures');

export const fixture = (name: string) => join(fixturesDir, name);

/** The ConfigError `run` throws; fails the test if it throws nothing or something else. */
export function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, got none');
}

/** A trace with keys of its own (the config layer never starts it). */
export const keyedTrace: TraceDefinition = {
  name: 'trace_keyed',
  summary: 'test double with keys',
  object: 'none.bpf.o',
  needs: 'nothing',
  record: { asIs: 'none' },
  keys: [
    { name: 'keyed_pid', description: 'a pid', parse: integerParser({ min: 1 }) },
    { name: 'keyed_path', description: 'paths', repeatable: true, parse: parseNonEmpty },
  ],
};

const notCreated = (): never => {
  throw new Error('the config layer never creates outputs');
};

export const fakeOutput: OutputPlugin = {
  name: 'fake',
  summary: 'test double',
  keys: [
    { name: 'host', description: 'host', default: '127.0.0.1', parse: parseNonEmpty },
    { name: 'port', description: 'port', default: '24224', parse: integerParser({ min: 1, max: 65535 }) },
    { name: 'buffer', description: 'buffer size', default: '1M', parse: sizeParser() },
    { name: 'header', description: 'repeatable', repeatable: true, parse: parseNonEmpty },
    { name: 'tls', description: 'tls', default: 'off', parse: parseBool },
    { name: 'tls.crt_file', description: 'certificate', parse: parseNonEmpty },
  ],
  validate(values) {
    if (values.get('tls') === true && !values.has('tls.crt_file')) throw new Error('tls On needs tls.crt_file');
  },
  create: notCreated,
};

export const nullOutput: OutputPlugin = { name: 'null', summary: 'test double', keys: [], create: notCreated };

/** The real traces and the doubles. */
export const testDeps: ConfigDeps = {
  traces: new Map([...traces, [keyedTrace.name, keyedTrace]]),
  outputs: new Map([
    [fakeOutput.name, fakeOutput],
    [nullOutput.name, nullOutput],
  ]),
  env: {},
};
