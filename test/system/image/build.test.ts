// docker/Dockerfile built for real (podman, on the local stand-ins of its two
// base images; see image.ts), then looked into: the entrypoint is the
// package's CLI, the final stage added exactly libbpf1 and libelf1 to its
// base's packages (nothing that compiles), the CA the build was given
// stayed out of it, and docs/install.md's figures are the image's.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../support/cli.js';
import { podmanImage, STAND_INS, type BuiltImage } from './image.js';

const SLIM = STAND_INS[1]!;

function podman(...args: string[]): string {
  return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Runs a shell command in a throwaway container of `image` (host network, nothing else). */
function inImage(image: string, script: string): string {
  return podman('run', '--rm', '--network', 'host', '--entrypoint', '/bin/sh', image, '-c', script);
}

function packagesOf(image: string): Set<string> {
  return new Set(inImage(image, "dpkg-query -W -f '${Package}\\n'").split('\n'));
}

describe('docker/Dockerfile, built with podman', () => {
  let image: BuiltImage;

  beforeAll(async () => {
    image = await podmanImage();
    console.log(image.built ? `built ${image.tag} in ${image.seconds!.toFixed(0)} s` : `${image.tag} was built by an earlier run (nothing it reads changed)`);
  }, 20 * 60_000);

  it("runs the package's CLI as its entrypoint", () => {
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    expect(podman('run', '--rm', '--network', 'host', image.tag, '--version')).toBe(`ebpf-forward v${version}`);
  });

  it('adds exactly libbpf1 and libelf1 to the packages of node:20-bookworm-slim', () => {
    const base = packagesOf(SLIM);
    const final = packagesOf(image.tag);
    expect([...final].filter((p) => !base.has(p)).sort()).toEqual(['libbpf1', 'libelf1']);
    expect([...base].filter((p) => !final.has(p))).toEqual([]);
  });

  it('keeps neither the CA the build was given nor a variable naming it', () => {
    const env = JSON.parse(podman('image', 'inspect', '-f', '{{json .Config.Env}}', image.tag)) as string[];
    expect(env.filter((e) => e.startsWith('NODE_EXTRA_CA_CERTS'))).toEqual([]);
    // The build's mount point for it: empty, as in Debian's base.
    expect(inImage(image.tag, 'ls -A /mnt')).toBe('');
  });

  it("is the size docs/install.md gives (within 10%), and its package list is the image's", () => {
    const bytes = Number(podman('image', 'inspect', '-f', '{{.Size}}', image.tag));
    console.log(`image size: ${(bytes / 1e6).toFixed(0)} MB; node:20-bookworm-slim stand-in: ${(Number(podman('image', 'inspect', '-f', '{{.Size}}', SLIM)) / 1e6).toFixed(0)} MB`);
    const readme = readFileSync(join(repoRoot, 'docs', 'install.md'), 'utf8');
    const said = /built\s+by\s+test\/system\/image\s+is\s+(\d+)\s+MB/.exec(readme);
    expect(said, 'docs/install.md says "built by test/system/image is N MB"').not.toBeNull();
    expect(Math.abs(Number(said![1]) * 1e6 - bytes) / bytes).toBeLessThan(0.1);
    expect(readme).toMatch(/adds\s+to\s+its\s+base's\s+packages\s+exactly\s+\*\*libbpf1\*\*\s+and\s+\*\*libelf1\*\*/);
  });
});
