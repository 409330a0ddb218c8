// deploy/systemd/ebpf-forward.service: systemd itself checks it where it is
// installed (systemd-analyze verify, in a staged root holding this host's
// units and the binary the unit runs); everywhere, its sections are read and
// what it runs is checked against package.json and ebpf-forward's own
// command-line parser.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/config/command-line.js';
import { serviceKeys } from '../../src/config/load.js';
import { repoRoot } from '../support/cli.js';

const unitPath = join(repoRoot, 'deploy', 'systemd', 'ebpf-forward.service');
const unitName = 'ebpf-forward.service';

/** A unit file's sections: each key's values in order (ExecReload= may repeat). */
function readUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\')) throw new Error(`line ${i + 1}: continued lines are not read here`);
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 1) throw new Error(`line ${i + 1}: not "Key=value" in a section: ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('deploy/systemd/ebpf-forward.service', () => {
  const unit = readUnit(readFileSync(unitPath, 'utf8'));
  const service = unit.get('Service')!;
  const one = (key: string) => {
    const values = service.get(key);
    expect(values, key).toHaveLength(1);
    return values![0]!;
  };

  it('has the three sections and runs package.json\'s bin with a config ebpf-forward parses', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    const [bin, ...args] = one('ExecStart').split(/\s+/);
    expect(Object.keys(packageJson.bin)).toEqual([bin]);
    const commandLine = parseCommandLine(args);
    expect(commandLine.configFile).toBe('/etc/ebpf-forward/ebpf-forward.conf');
    // -Y: SIGHUP reloads instead of stopping, which Restart=on-failure would not undo.
    expect(commandLine.sections).toEqual([expect.objectContaining({ name: 'service', entries: [expect.objectContaining({ name: 'hot_reload', value: 'on' })] })]);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('stops with SIGTERM, waits longer than Grace, restarts on failure, reloads with SIGHUP after a dry run', () => {
    expect(one('KillSignal')).toBe('SIGTERM');
    const grace = Number(serviceKeys.find((k) => k.name === 'grace')!.default);
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(grace);
    expect(one('Restart')).toBe('on-failure');
    const [check, signal] = service.get('ExecReload')!;
    const [bin, ...args] = check!.split(/\s+/);
    expect(bin).toBe(Object.keys(packageJson.bin)[0]);
    expect(parseCommandLine(args)).toMatchObject({ configFile: '/etc/ebpf-forward/ebpf-forward.conf', dryRun: true });
    expect(signal).toBe('/bin/kill -HUP $MAINPID');
  });

  it('keeps what loading BPF needs through its hardening', () => {
    const bounding = one('CapabilityBoundingSet').split(/\s+/);
    expect(bounding).toEqual(expect.arrayContaining(['CAP_BPF', 'CAP_PERFMON']));
    const calls = one('SystemCallFilter').split(/\s+/);
    expect(calls).toEqual(expect.arrayContaining(['bpf', 'perf_event_open', '@mount']));
    // The spool's folder: writable under ProtectSystem=strict, and root's alone.
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('StateDirectory')).toBe('ebpf-forward');
    expect(one('StateDirectoryMode')).toBe('0700');
    // V8 writes the machine code it compiles.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    expect(service.has('PrivateUsers')).toBe(false);
  });

  it.runIf(systemdAnalyze)('passes systemd-analyze verify, with no warning', () => {
    // A root of this host's units, the unit, and stand-ins for the binaries it runs.
    const root = mkdtempSync(join(tmpdir(), 'ebpf-forward-systemd-'));
    try {
      for (const dir of ['usr/bin', 'bin', 'usr/lib/systemd', 'etc/systemd/system']) mkdirSync(join(root, dir), { recursive: true });
      const units = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'multi-user.target')));
      expect(units, 'this host\'s systemd units').toBeDefined();
      cpSync(units!, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
      for (const bin of [`usr/bin/${Object.keys(packageJson.bin)[0]}`, 'bin/kill']) {
        writeFileSync(join(root, bin), '#!/bin/sh\n');
        chmodSync(join(root, bin), 0o755);
      }
      cpSync(unitPath, join(root, 'etc/systemd/system', unitName));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, unitName], { encoding: 'utf8' });
      // Unknown keys and bad values are warnings: the output must be empty too.
      expect(r.stderr + r.stdout).toBe('');
      expect(r.status).toBe(0);

      // And it would say so: a wrong value is caught the same way.
      writeFileSync(join(root, 'etc/systemd/system', unitName), readFileSync(unitPath, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=strictest'));
      const bad = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, unitName], { encoding: 'utf8' });
      expect(bad.stderr).toMatch(/ProtectSystem|protect system/i);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
