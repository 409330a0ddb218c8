// The record program's MAP and CONTAINER_ID (src/records/program.ts), in
// both engines (native, and the TypeScript reference with its own cache),
// byte for byte: the key and id when the cgroup names a container, else
// nothing and a map header one pair shorter (a map16 of 16 becoming a
// fixmap of 15); malformed records where it can't be done. The cgroups are
// real (the ids are their directories' inodes), where podman and a user
// session make them, and known to the native cache before the comparisons
// (a record whose process is gone may otherwise wait for a scan).
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecordProgram } from '../../src/native/addon.js';
import { cgroupRoot } from '../../src/records/container-names.js';
import { JsRecordEncoder } from '../support/js-encoder.js';
import { nativeContainerNames } from '../support/native-container-names.js';
import { encodeBoth, recordMaps } from '../support/both-encoders.js';
import { program, type ProgramBuilder } from '../support/program-builder.js';
import { containerIdFrom } from '../support/cgroups.js';
import { AnchoredCgroups, settledContainerOf } from './anchored-cgroups.js';

const id = containerIdFrom(`record-ops ${process.pid}`);
const cgroups = new AnchoredCgroups();
let container: bigint;
let host: bigint;

beforeAll(async () => {
  cgroups.cleanup();
  container = cgroups.make(`machine.slice/libpod-${id}.scope/container`).id;
  host = cgroups.make(`user.slice/user-${process.pid}.slice/session-1.scope`).id;
  expect(await settledContainerOf(container)).toBe(id);
  expect(await settledContainerOf(host)).toBeUndefined();
});
afterAll(() => cgroups.cleanup());

/** A record: u64 time at 0, u64 cgroup id at 8, u32 pid at 16 (0: no process, the cgroup is scanned for). */
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


const maps = (entries: Buffer) => recordMaps(entries);

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

// Which paths name a container: test/containers/container-rule.test.ts.
describe('the cgroup v2 mount', () => {
  it('the same in both, read from /proc/self/mounts', () => {
    expect(nativeContainerNames().root).toBe(cgroupRoot());
    expect(statSync(cgroupRoot()).isDirectory()).toBe(true);
  });
});
