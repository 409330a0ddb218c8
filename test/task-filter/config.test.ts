// The filter keys as the config loader reads them: values, lists, the old
// trace-scoped names, and each refusal at its file:line.
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCommandLine, parseCommandLine } from '../../src/config/command-line.js';
import { loadConfig } from '../../src/config/load.js';
import { cgroupRoot } from '../../src/records/container-names.js';
import { taskFilterFor } from '../../src/task-filter/keys.js';
import { MAX_FILTER_ITEMS } from '../../src/task-filter/filter.js';
import { traces } from '../../src/traces/registry.js';
import { configError } from '../config/helpers.js';
import { writeConfig } from '../support/cli.js';

const cgroup = join(cgroupRoot(), `ebpf-forward-test-${process.pid}-config`);
mkdirSync(cgroup);
afterAll(() => rmdirSync(cgroup));

/** An [INPUT] with trace_vfs and trace_malloc, the lines given after them (line 5 on). */
const load = (lines: string) =>
  loadConfig(writeConfig(`[INPUT]\n    Name  ebpf\n    Trace trace_vfs\n    Trace trace_malloc\n${lines}`), { traces, outputs: new Map(), env: {} }).inputs[0]!;

const problem = (lines: string) => {
  const err = configError(() => load(lines));
  return [err.line, err.problem];
};

describe('filter keys', () => {
  it('each kind with its exclude form, repeatable, lists; the same filter for every trace', () => {
    const input = load(
      [`pid 12, 34`, `pid 56`, `exclude_pid 34`, `comm nginx, my app`, `exclude_comm fluent-bit`, `uid 0 nobody`, `exclude_uid 1000`, `cgroup ${cgroup}, ABCDEF012345`, `exclude_cgroup /${cgroup.slice(cgroupRoot().length + 1)}`]
        .map((l) => `    ${l}\n`)
        .join(''),
    );
    for (const t of input.traces) {
      expect(taskFilterFor(t.trace, input.values), t.trace.name).toEqual({
        pid: { include: [12, 34, 56], exclude: [34] },
        comm: { include: ['nginx', 'my app'], exclude: ['fluent-bit'] },
        uid: { include: [0, 65534], exclude: [1000] },
        cgroup: { include: [{ path: cgroup.slice(cgroupRoot().length) }, { containerPrefix: 'abcdef012345' }], exclude: [{ path: cgroup.slice(cgroupRoot().length) }] },
      });
    }
  });

  it('the same keys in YAML (a list for a repeated key) and on the command line', () => {
    const yaml = loadConfig(writeConfig('pipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_vfs\n      exclude_comm: fluent-bit\n      pid:\n        - 12\n        - 34, 56\n', 'ebpf-forward.yaml'), { traces, outputs: new Map(), env: {} }).inputs[0]!;
    const fromYaml = taskFilterFor(yaml.traces[0]!.trace, yaml.values);
    expect([fromYaml.pid.include, fromYaml.comm.exclude]).toEqual([[12, 34, 56], ['fluent-bit']]);
    const cli = loadCommandLine(parseCommandLine(['-i', 'ebpf', '-p', 'trace=trace_vfs', '-p', 'exclude_comm=fluent-bit', '-p', 'uid=0']), { traces, outputs: new Map(), env: {} }).inputs[0]!;
    const fromCli = taskFilterFor(cli.traces[0]!.trace, cli.values);
    expect([fromCli.comm.exclude, fromCli.uid.include]).toEqual([['fluent-bit'], [0]]);
  });

  it('the common case in one line: exclude_comm fluent-bit', () => {
    const input = load('    exclude_comm fluent-bit\n');
    expect(taskFilterFor(input.traces[0]!.trace, input.values).comm).toEqual({ include: [], exclude: ['fluent-bit'] });
  });

  it('malloc_pid and malloc_comm (the old names) narrow trace_malloc alone', () => {
    const input = load('    malloc_pid 7\n    malloc_comm app\n    exclude_uid 0\n');
    const [vfs, malloc] = input.traces.map((t) => taskFilterFor(t.trace, input.values));
    expect(malloc!.pid.include).toEqual([7]);
    expect(malloc!.comm.include).toEqual(['app']);
    expect(vfs!.pid.include).toEqual([]);
    expect(vfs!.comm.include).toEqual([]);
    expect([vfs!.uid.exclude, malloc!.uid.exclude]).toEqual([[0], [0]]);
  });

  it('refused at their line: a bad pid, a bad uid, a cgroup that does not exist, a prefix that is not hex or too short', () => {
    expect(problem('    comm a\n    pid 12 abc\n')).toEqual([6, "pid: 'abc' is not a pid (a whole number from 1 to 1073741823)"]);
    expect(problem('    exclude_uid nosuchuser\n')).toEqual([5, "exclude_uid: 'nosuchuser' is neither a uid (a whole number) nor a user of /etc/passwd"]);
    expect(problem('    uid 4294967295\n')).toEqual([5, "uid: '4294967295' is not a uid (a whole number from 0 to 4294967294, or a user name)"]);
    const [line, text] = problem('    cgroup /no/such/cgroup\n');
    expect(line).toBe(5);
    expect(text).toMatch(/^cgroup: no cgroup \/no\/such\/cgroup \(.*\/no\/such\/cgroup is not a cgroup v2 directory\)/);
    expect(problem('    exclude_cgroup docker-xyz\n')).toEqual([5, "exclude_cgroup: 'docker-xyz' is neither a cgroup path (starting with /) nor a container id prefix (6 to 64 hex digits, as docker ps shows 12)"]);
    expect(problem('    cgroup abc12\n')[1]).toMatch(/'abc12' is neither a cgroup path/);
    expect(problem('    cgroup /a/../b\n')[1]).toBe("cgroup: '/a/../b': a cgroup path has no '..'");
  });

  it('too many items of a kind in all, include and exclude together: at the last line that adds some', () => {
    const pids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i).join(' ');
    const half = MAX_FILTER_ITEMS.pid / 2;
    expect(problem(`    pid ${pids(1, half)}\n    comm x\n    exclude_pid ${pids(half + 1, half + 1)}\n`)).toEqual([7, `exclude_pid: ${MAX_FILTER_ITEMS.pid + 1} pid items given in all (pid and exclude_pid), at most ${MAX_FILTER_ITEMS.pid}`]);
    const prefixes = Array.from({ length: MAX_FILTER_ITEMS.cgroup + 1 }, (_, i) => (0xabcdef00 + i).toString(16)).join(', ');
    expect(problem(`    cgroup ${prefixes}\n`)).toEqual([5, `cgroup: ${MAX_FILTER_ITEMS.cgroup + 1} cgroup items given in all (cgroup and exclude_cgroup), at most ${MAX_FILTER_ITEMS.cgroup}`]);
  });

  it('a trace-scoped key with the input-wide one of its kind: refused, naming both lines', () => {
    expect(problem('    pid 1\n    malloc_pid 2\n')).toEqual([6, 'malloc_pid and pid (line 5) both set: malloc_pid narrows its trace alone and pid every trace of the input; use one of them']);
  });
});
