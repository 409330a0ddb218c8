// The image on podman 4.3 (runc, cgroupfs). Its default seccomp profile
// (containers-common's, which CRI-O uses too) lets bpf(2) and
// perf_event_open(2) through only to CAP_SYS_ADMIN: with CAP_BPF and
// CAP_PERFMON alone the first bpf(2) gets EPERM. docs/deployment.md's settings:
// those two capabilities and that profile with the two calls allowed to
// them (deploy/seccomp/allow-bpf.sh), or seccomp=unconfined.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../../support/cli.js';
import { engineCli } from './engine-cli.js';
import { describeImageOn } from './run-image.js';

const CAPS = ['--cap-drop', 'ALL', '--cap-add', 'BPF', '--cap-add', 'PERFMON'];

/** deploy/seccomp/allow-bpf.sh's profile, made from podman's own default. */
function allowBpfProfile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-seccomp-')), 'ebpf-forward.json');
  writeFileSync(path, execFileSync('sh', [join(repoRoot, 'deploy', 'seccomp', 'allow-bpf.sh'), '/usr/share/containers/seccomp.json']));
  return path;
}

const podman = engineCli('podman');
// Each trace's line names the filter and what to give the container; no libbpf guess follows.
const FAILED_TO_LOAD = /trace_exec: loading: refused under this process's seccomp filter [^\n]*deploy\/seccomp\/allow-bpf\.sh[^\n]*\n(?:(?!\s*libbpf)[^\n]*\n)*ebpf-forward: no trace could be attached; see the errors above\n?$/;

describeImageOn(
  podman,
  { what: 'CAP_BPF, CAP_PERFMON and the default profile with bpf and perf_event_open allowed to them', capabilities: ['BPF', 'PERFMON'], flags: [...CAPS, '--security-opt', `seccomp=${allowBpfProfile()}`] },
  [{ what: 'CAP_BPF, CAP_PERFMON and podman\'s default seccomp profile', flags: CAPS, says: FAILED_TO_LOAD }],
  (image) => {
    it('with CAP_BPF, CAP_PERFMON and seccomp=unconfined, attaches', async () => {
      const marker = /privileges dropped in all \d+ threads/;
      // Runs until it has attached; removed with the others at the end.
      const config = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-image-')), 'stdout.conf');
      writeFileSync(config, '[INPUT]\n    Name   ebpf\n    Trace  trace_signal\n[OUTPUT]\n    Name   stdout\n    Match  *\n');
      const agent = await podman.startAgent(image(), config, [...CAPS, '--security-opt', 'seccomp=unconfined']);
      let output = '';
      for (let i = 0; i < 150 && !marker.test(output) && !/ebpf-forward: /.test(output); i++) {
        await new Promise((r) => setTimeout(r, 200));
        output = await agent.output();
      }
      expect(output).toMatch(marker);
    });
  },
);
