// docker/Dockerfile's claims read from the file, against the repository and
// this Debian 12 machine: the build stage runs the scripts the README and
// the tests run, what it copies exists, and the final stage installs nothing
// that compiles, with its dependencies resolved by apt. test/system/image builds it
// and looks inside the image.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile, type Instruction, type Stage } from '../image/dockerfile.js';
import { repoRoot } from './package.js';

/** The packages an instruction's `apt-get install` lines name. */
function aptInstalled(run: Instruction): string[] {
  return [...run.args.matchAll(/apt-get\s+install\s+([^&;|]*)/g)].flatMap((m) => m[1]!.trim().split(/\s+/).filter((w) => !w.startsWith('-')));
}

const dockerfile = readFileSync(join(repoRoot, 'docker', 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const build = stages[0]!;
const final = stages.at(-1)!;
const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN');

// Debian packages that compile (or bring a compiler with them).
const COMPILING = /^(gcc|g\+\+|cpp|clang|llvm|lld|make|cmake|build-essential|libc6-dev|libstdc\+\+-\d+-dev|python3-dev|node-gyp|bpftool|libbpf-dev|libelf-dev|zlib1g-dev|pkg-config)(-[\d.]+)?$/;

describe('docker/Dockerfile', () => {
  it('has a build stage on Debian 12 with Node 20 and a final one on Debian 12 with Node 20', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.from).toMatch(/^(node:20-bookworm|debian:12|debian:bookworm)/);
    expect(final.from).toMatch(/^node:20-bookworm/);
  });

  it('builds with the scripts the README and the tests run: scripts/setup.sh, then npm pack', () => {
    const commands = runs(build).map((r) => r.args).join(' && ');
    expect(commands).toMatch(/bash scripts\/setup\.sh[\s\S]*npm pack/);
    for (const script of commands.match(/scripts\/[\w.-]+/g) ?? []) expect(existsSync(join(repoRoot, script)), script).toBe(true);
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain('scripts/setup.sh');
    expect(readme).toContain('npm pack');
    expect(readFileSync(join(repoRoot, 'Makefile'), 'utf8')).toMatch(/bash scripts\/setup\.sh/);
    // test/system/packaging installs what `npm pack` makes, as the final stage does.
    expect(readFileSync(join(repoRoot, 'test', 'system', 'packaging', 'package.ts'), 'utf8')).toContain("'npm', ['pack'");
  });

  it('copies only what exists: files of the repository, or a stage named before', () => {
    const names = new Set<string>();
    for (const stage of stages) {
      for (const copy of stage.instructions.filter((i) => i.keyword === 'COPY')) {
        const words = copy.args.trim().split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
        expect(sources.length, `docker/Dockerfile:${copy.line}`).toBeGreaterThan(0);
        if (from) {
          expect(names.has(from), `docker/Dockerfile:${copy.line}: no stage ${from} before`).toBe(true);
        } else {
          for (const source of sources) expect(existsSync(join(repoRoot, source)), `docker/Dockerfile:${copy.line}: ${source}`).toBe(true);
        }
      }
      if (stage.name) names.add(stage.name);
    }
  });

  it('keeps what a local build leaves out of the build context (docker/Dockerfile.dockerignore)', () => {
    const ignored = readFileSync(join(repoRoot, 'docker', 'Dockerfile.dockerignore'), 'utf8').split('\n');
    for (const path of ['**/node_modules', 'build', 'dist', 'prebuilds', 'bpf/.output']) expect(ignored).toContain(path);
  });

  it('final stage: installs libbpf1 without recommends, the package from its tarball, and runs nothing that builds', () => {
    const finalRuns = runs(final);
    const installed = finalRuns.flatMap(aptInstalled);
    expect(installed).toEqual(['libbpf1']);
    for (const run of finalRuns.filter((r) => /apt-get\s+install/.test(r.args))) expect(run.args).toContain('--no-install-recommends');
    const commands = finalRuns.map((r) => r.args).join('\n');
    expect(commands).toMatch(/npm install -g [^\n]*\.tgz/);
    expect(commands).not.toMatch(/setup\.sh|build\.mjs|npm ci|node-gyp|npm rebuild/);
    const copies = final.instructions.filter((i) => i.keyword === 'COPY').map((c) => c.args);
    expect(copies.filter((c) => /\b(src|native|scripts)\b/.test(c))).toEqual([]);
  });

  it("final stage: apt's resolution of what it installs (on this Debian 12) holds no compiling package", () => {
    const installed = runs(final).flatMap(aptInstalled);
    const resolved = execFileSync('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts',
      '--no-breaks', '--no-replaces', '--no-enhances', '--no-pre-depends', ...installed], { encoding: 'utf8' })
      .split('\n').filter((l) => /^\S/.test(l)).map((l) => l.replace(/:\w+$/, ''));
    expect(resolved).toContain('libbpf1');
    expect(resolved).toContain('libelf1');
    expect(resolved.filter((p) => COMPILING.test(p))).toEqual([]);
  });
});
