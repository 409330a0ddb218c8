// The record program's MAP and CONTAINER_ID (src/records/program.ts), in
// both engines (native, and the TypeScript reference with its own cache),
// byte for byte: the key and id when the cgroup names a container, else
// nothing and a map header one pair shorter (a map16 of 16 becoming a
// fixmap of 15); malformed records where it can't be done. The cgroups are
// real (the ids are their directories' inodes).
import { decodeMulti } from '@msgpack/msgpack';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecordProgram, type EncodedBatch } from '../../src/native/addon.js';
import { cgroupRoot, containerIdOfPath } from '../../src/records/container-names.js';
import { JsRecordEncoder } from '../../src/records/js-encoder.js';
import { nativeContainerNames } from '../../src/records/native-container-names.js';
import { batchOf, program, type ProgramBuilder } from '../support/program-builder.js';
import { containerIdFrom, TestCgroups } from '../support/cgroups.js';

const id = containerIdFrom('record-ops');
const cgroups = new TestCgroups(`ebpf-forward-ops-test-${process.pid}`);
let container: bigint;
let host: bigint;

beforeAll(() => {
  cgroups.cleanup();
  container = cgroups.make(`machine.slice/libpod-${id}.scope/container`).id;
  host = cgroups.make('user.slice/session-1.scope').id;
});
afterAll(() => cgroups.cleanup());

/** A record: u64 time at 0, u64 cgroup id at 8, u32 pid at 16 (0: no process, the tree is walked). */
function record(cgroupId: bigint, pid = 0): Buffer {
  const r = Buffer.alloc(20);
  r.writeBigUInt64LE(1_000_000_000n, 0);
  r.writeBigUInt64LE(cgroupId, 8);
  r.writeUInt32LE(pid, 16);
  return r;
}

/** n pairs: n - 1 numbered ones, then the container id. */
function withContainerId(n: number): ProgramBuilder {
  const p = program().minLen(20).headKtime(0).mapOp(n);
  for (let i = 0; i < n - 1; i++) p.value(`k${i}`).uint(16, 4);
  return p.containerId(8, 16, 'container_id').end();
}

function encodeBoth(p: ProgramBuilder, records: Buffer[]): EncodedBatch {
  const built = p.build();
  const batch = batchOf(records);
  const native = openRecordProgram(built.code, built.pool).encode(batch, records.length, 0n, 0n);
  const js = new JsRecordEncoder(built.code, built.pool).encode(batch, records.length, 0n, 0n);
  expect(js.entries.toString('hex')).toBe(native.entries.toString('hex'));
  expect({ ...js, entries: null }).toEqual({ ...native, entries: null });
  return native;
}

const maps = (entries: Buffer) => [...decodeMulti(entries)].map((e) => (e as [unknown, Record<string, unknown>])[1]);

describe('MAP and CONTAINER_ID', () => {
  it('MAP writes the smallest header: fixmap, map16, map32', () => {
    for (const [n, head] of [[3, '83'], [15, '8f'], [16, 'de0010'], [65535, 'deffff'], [65536, 'df00010000']] as const) {
      const out = encodeBoth(program().minLen(8).headKtime(0).mapOp(n).end(), [record(1n)]);
      expect(out.entries.subarray(11).toString('hex')).toBe(head);
    }
  });

  it('a container cgroup: the key and its id; a host one: nothing, and one pair fewer', () => {
    const out = encodeBoth(withContainerId(3), [record(container), record(host), record(container)]);
    expect(maps(out.entries)).toEqual([
      { k0: 0, k1: 0, container_id: id },
      { k0: 0, k1: 0 },
      { k0: 0, k1: 0, container_id: id },
    ]);
  });

  it('16 pairs less one is a fixmap of 15: the record moves up two bytes; 17 less one stays a map16', () => {
    for (const n of [16, 17]) {
      const out = encodeBoth(withContainerId(n), [record(host), record(container), record(host)]);
      const [a, b, c] = maps(out.entries);
      expect(Object.keys(a!)).toHaveLength(n - 1);
      expect(b!.container_id).toBe(id);
      expect(c).toEqual(a);
      // The first entry's map header right after the 11-byte head.
      expect(out.entries[11]).toBe(n === 16 ? 0x8f : 0xde);
    }
  });

  it('malformed: no MAP before it, or its members past the record', () => {
    const noMap = program().minLen(0).headKtime(0).lit([0x81]).containerId(8, 16, 'container_id').end();
    expect(encodeBoth(noMap, [record(host)])).toMatchObject({ count: 0, malformed: 1 });
    // With a container id the key and value are written: no map count to lower.
    expect(encodeBoth(noMap, [record(container)])).toMatchObject({ count: 1, malformed: 0 });
    const short = program().minLen(0).headKtime(0).mapOp(1).containerId(8, 16, 'container_id').end();
    expect(encodeBoth(short, [record(container).subarray(0, 19)])).toMatchObject({ count: 0, malformed: 1 });
  });

  it('a key outside the pool is refused by both, with the same message', () => {
    const bad = program().minLen(0).headNow().mapOp(1).op(19, 8, 16, 100, 4).end().build();
    expect(() => openRecordProgram(bad.code, bad.pool)).toThrow('record program: word 5: CONTAINER_ID key pool range 100+4 is outside the pool (0 bytes)');
    expect(() => new JsRecordEncoder(bad.code, bad.pool)).toThrow('record program: word 5: CONTAINER_ID key pool range 100+4 is outside the pool (0 bytes)');
  });
});

describe('container ids from cgroup paths (native and TypeScript alike)', () => {
  const hex = 'ab'.repeat(32);
  const cases: [string, string | undefined][] = [
    [`/docker/${hex}`, hex],
    [`/system.slice/docker-${hex}.scope`, hex],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-${hex}.scope`, hex],
    [`/kubepods/burstable/pod5f1c3e5a-2d0b-4a8e-9d3c-1b2a3c4d5e6f/${hex}`, hex],
    [`/machine.slice/crio-${hex}.scope`, hex],
    [`/machine.slice/libpod-${hex}.scope/container`, hex],
    [`/machine.slice/libpod-${hex}.scope/container/inner-${'cd'.repeat(8)}`, hex],
    [`/machine.slice/libpod-conmon-${hex}.scope`, undefined],
    [`/system.slice/crio-conmon-${hex}.scope`, undefined],
    [`/docker/${hex.slice(1)}`, undefined],
    [`/docker/${hex.toUpperCase()}`, undefined],
    [`/system.slice/docker-${hex}.service`, undefined],
    ['/user.slice/user-0.slice/session-3.scope', undefined],
    ['/', undefined],
  ];
  it.each(cases)('%s', (path, want) => {
    expect(containerIdOfPath(path)).toBe(want);
    expect(nativeContainerNames().parse(path)).toBe(want ?? '');
  });

  it('the same cgroup v2 mount, read from /proc/self/mounts', () => {
    expect(nativeContainerNames().root).toBe(cgroupRoot());
    expect(statSync(cgroupRoot()).isDirectory()).toBe(true);
  });
});
