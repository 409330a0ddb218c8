// Files a forward output's keys name are read as the config is: a TLS file
// that is a FIFO is an error at once, not a start-up hung where no signal
// can stop it; an Upstream file others can write is warned of, as the main
// config is (it decides where every record goes).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tlsOptions } from '../../../src/outputs/forward/tls.js';
import { readUpstreamFile } from '../../../src/outputs/forward/upstream.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-named-files-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('files named by forward keys', () => {
  it('a tls.ca_file that is a FIFO is refused at once', () => {
    const fifo = join(dir, 'ca.pem');
    execFileSync('mkfifo', [fifo]);
    expect(() => tlsOptions({ enabled: true, verify: true, caFile: fifo }, dir)).toThrow(`tls.ca_file: cannot read ${fifo}: it is a FIFO, not a regular file`);
    expect(() => tlsOptions({ enabled: true, verify: true, keyFile: '/dev/zero', crtFile: '/dev/zero' }, dir)).toThrow('it is a character device, not a regular file');
  });

  it('an Upstream file in YAML (upstream_servers) is read as its classic twin', () => {
    const yaml = join(import.meta.dirname, '..', '..', 'config', 'fixtures', 'yaml', 'upstream', 'servers.yaml');
    const classic = yaml.replace(/\.yaml$/, '.conf');
    const nodesOf = (file: string) => readUpstreamFile(file, dir, new Map()).nodes.map((n) => [n.name, n.settings.host, n.settings.port]);
    expect(nodesOf(yaml)).toEqual(nodesOf(classic));
    expect(nodesOf(yaml).length).toBeGreaterThan(0);
  });

  it('an Upstream file others can write is warned of', () => {
    const file = join(dir, 'upstream.conf');
    writeFileSync(file, '[UPSTREAM]\n    Name  up\n[NODE]\n    Name  a\n    Host  127.0.0.1\n    Port  24224\n');
    const warnings: string[] = [];
    chmodSync(file, 0o644);
    readUpstreamFile(file, dir, new Map(), (_f, _l, m) => warnings.push(m));
    expect(warnings).toEqual([]);
    chmodSync(file, 0o666);
    const { nodes } = readUpstreamFile(file, dir, new Map(), (_f, _l, m) => warnings.push(m));
    expect(nodes).toHaveLength(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^WARNING: it is writable by .*others than root can change/);
  });
});
