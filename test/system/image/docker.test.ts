// The image on docker 20.10 (Debian 12's docker.io). It predates CAP_BPF
// and CAP_PERFMON: `--cap-add BPF` is refused before the container is made.
// What it does know that covers both is CAP_SYS_ADMIN, which its default
// seccomp profile also lets call bpf(2) and perf_event_open(2); so the
// docs/deployment.md's settings for it: every capability dropped but SYS_ADMIN, the
// default seccomp profile kept. ebpf-forward gives SYS_ADMIN up (with
// every other capability) once its programs are attached.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../support/cli.js';
import { engineCli } from './engine-cli.js';
import { commandResult, describeImageOn, HOST_MOUNTS } from './run-image.js';

const docker = engineCli('docker');
const DOCUMENTED = ['--cap-drop', 'ALL', '--cap-add', 'SYS_ADMIN'];
const version = execFileSync('docker', ['version', '-f', '{{.Server.Version}}'], { encoding: 'utf8' }).trim();

describeImageOn(
  docker,
  { what: 'CAP_SYS_ADMIN alone and the default seccomp profile', capabilities: ['SYS_ADMIN'], flags: DOCUMENTED },
  [{ what: 'no capability', flags: ['--cap-drop', 'ALL'], says: /^ebpf-forward: root is needed \(or CAP_BPF and CAP_PERFMON[^\n]*\n?$/ }],
  (image) => {
    it('docker/compose.yaml runs it with these settings', () => {
      const service = (parse(readFileSync(join(repoRoot, 'docker', 'compose.yaml'), 'utf8')) as { services: Record<string, Record<string, unknown>> }).services['ebpf-forward']!;
      expect(['--cap-drop', ...(service.cap_drop as string[]), '--cap-add', ...(service.cap_add as string[])]).toEqual(DOCUMENTED);
      expect(service).toMatchObject({ pid: 'host', read_only: true });
      expect(service.privileged).toBeUndefined();
      for (const path of [...HOST_MOUNTS, '/var/run/docker.sock']) expect(service.volumes).toContain(`${path}:${path}:ro`);
    });

    it.runIf(version.startsWith('20.'))(`docker ${version} refuses --cap-add BPF as an unknown capability`, async () => {
      const { code, output } = await commandResult('docker', ['run', '--rm', '--network', 'host', '--cap-drop', 'ALL', '--cap-add', 'BPF', '--cap-add', 'PERFMON', image(), '--version']);
      expect(code).toBe(125);
      expect(output).toMatch(/unknown capability: "CAP_BPF"/);
    });
  },
);
