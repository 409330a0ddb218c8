// The unit project is what it says: its files exist, and it passes as an
// unprivileged user with no capabilities (nobody), so that
// `npm test -- --project unit` runs on any machine.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UNIT_TESTS } from '../vitest.config.js';
import { repoRoot } from './support/cli.js';

const NOBODY = 65534;

describe('the unit project', () => {
  it('names only files that exist', () => {
    expect(UNIT_TESTS.filter((f) => !existsSync(join(repoRoot, f)))).toEqual([]);
  });

  it('passes as nobody, with no capabilities', () => {
    // nobody must be able to read the checkout (a fresh clone under /tmp or /work can be).
    const readable = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'test', '-r', join(repoRoot, 'package.json')]);
    expect(readable.status, `nobody can't read ${repoRoot}: clone it where others can`).toBe(0);
    accessSync(join(repoRoot, 'node_modules', '.bin', 'vitest'), constants.X_OK);
    // --configLoader runner: vitest bundles its config without writing node_modules/.vite-temp, which nobody can't.
    const run = spawnSync(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', join(repoRoot, 'node_modules', '.bin', 'vitest'), 'run', '--project', 'unit', '--configLoader', 'runner'],
      { cwd: repoRoot, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent', CI: '1', NO_COLOR: '1' }, timeout: 240_000 },
    );
    const output = `${run.stdout}${run.stderr}`;
    expect(run.status, output.slice(-3000)).toBe(0);
    expect(output).toMatch(new RegExp(`Test Files\\s+${UNIT_TESTS.length} passed \\(${UNIT_TESTS.length}\\)`));
  }, 300_000);
});
