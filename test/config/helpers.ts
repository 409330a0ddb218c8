// Shared by the config tests: fixture paths and catching a ConfigError.
import { join } from 'node:path';
import { ConfigError } from '../../src/config/model.js';

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
