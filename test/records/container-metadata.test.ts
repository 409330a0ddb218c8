// The record program's CONTAINER_METADATA (src/records/program.ts), in both
// engines (native, with its own cache fed by containerMetadata.set, and the
// TypeScript reference reading the same store), byte for byte: a
// container's pre-encoded pairs after the container fields and the map
// count raised by their number (a fixmap of 15 growing to a map16), the
// annotated form where the program asks for it, nothing for a host cgroup
// or a container no runtime told of. A built-in trace's records with no
// metadata are the bytes they were before the op existed (compiled without
// it). The cgroups are real, where podman makes them.
import { decodeMulti } from '@msgpack/msgpack';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerMetadataStore, encodeFacts, type ContainerFacts } from '../../src/containers/metadata.js';
import { nativeContainerMetadata, nativeMetadataMirror } from '../../src/containers/native-metadata.js';
import { bpfObjectDir } from '../../src/inputs/session-options.js';
import { openRecordProgram } from '../../src/native/addon.js';
import { Btf } from '../../src/records/btf.js';
import { memberAt } from '../../src/records/members.js';
import { compileTrace } from '../../src/records/compile.js';
import type { RecordDeclaration } from '../../src/records/declaration.js';
import { JsRecordEncoder } from '../support/js-encoder.js';
import { Op } from '../../src/records/program.js';
import { traces } from '../../src/traces/registry.js';
import { AnchoredCgroups, settledContainerOf } from '../containers/anchored-cgroups.js';
import { containerIdFrom } from '../support/cgroups.js';
import { encodeBoth as encodeWithStore, recordMaps } from '../support/both-encoders.js';
import { batchOf, program, type ProgramBuilder } from '../support/program-builder.js';

const named = containerIdFrom(`metadata named ${process.pid}`);
const untold = containerIdFrom(`metadata untold ${process.pid}`);
const cgroups = new AnchoredCgroups();
const store = new ContainerMetadataStore(nativeMetadataMirror);
let container: bigint;
let silent: bigint;
let host: bigint;

const POD: ContainerFacts = {
  runtime: 'cri',
  name: 'web',
  image: 'nginx:1.27',
  pod: { name: 'web-0', namespace: 'shop', uid: '0c6f3f4e-8d3c-4a55-9f44-3b9d2f7e1a10', labels: { app: 'web' }, annotations: { 'kubernetes.io/config.source': 'api' } },
};

beforeAll(async () => {
  cgroups.cleanup();
  container = cgroups.make(`machine.slice/libpod-${named}.scope`).id;
  silent = cgroups.make(`machine.slice/libpod-${untold}.scope`).id;
  host = cgroups.make(`user.slice/user-${process.pid}.slice/session-2.scope`).id;
  expect(await settledContainerOf(container)).toBe(named);
  expect(await settledContainerOf(silent)).toBe(untold);
  store.set(named, POD);
});
afterAll(() => {
  store.clear();
  cgroups.cleanup();
});

/** A record: u64 time at 0, u64 cgroup id at 8, u32 pid at 16 (0: no process). */
function record(cgroupId: bigint): Buffer {
  const r = Buffer.alloc(20);
  r.writeBigUInt64LE(1_000_000_000n, 0);
  r.writeBigUInt64LE(cgroupId, 8);
  return r;
}

/** n pairs: n - 1 numbered ones, the container id, then the metadata. */
function withMetadata(n: number, annotations = 0): ProgramBuilder {
  const p = program().minLen(20).headKtime(0).mapOp(n);
  for (let i = 0; i < n - 1; i++) p.value(`k${i}`).uint(16, 4);
  return p.containerId(8, 16, 'container_id').op(Op.CONTAINER_METADATA, 8, 16, annotations).end();
}


const maps = (entries: Buffer) => recordMaps(entries);
const encodeBoth = (p: ProgramBuilder, records: Buffer[]) => encodeWithStore(p, records, (id, annotated) => store.of(id, annotated));
const kubernetes = { pod_name: 'web-0', namespace_name: 'shop', pod_id: POD.pod!.uid, labels: { app: 'web' }, container_name: 'web', container_image: 'nginx:1.27' };

describe('CONTAINER_METADATA', () => {
  it("a told container: its pairs after the id; a host cgroup, or a container no runtime told of: nothing", () => {
    expect(nativeContainerMetadata().size()).toBe(store.size);
    const out = encodeBoth(withMetadata(2), [record(container), record(host), record(silent)]);
    expect(maps(out.entries)).toEqual([{ k0: 0, container_id: named, kubernetes }, { k0: 0 }, { k0: 0, container_id: untold }]);
  });

  it("the annotated form where the program asks for it", () => {
    const out = encodeBoth(withMetadata(2, 1), [record(container)]);
    expect(maps(out.entries)[0]!.kubernetes).toEqual({ ...kubernetes, labels: { app: 'web' }, annotations: { 'kubernetes.io/config.source': 'api' } });
    expect(Object.keys(maps(out.entries)[0]!.kubernetes as object)).toEqual(['pod_name', 'namespace_name', 'pod_id', 'labels', 'annotations', 'container_name', 'container_image']);
  });

  it('15 pairs and one more is a map16 of 16: the record moves down two bytes', () => {
    const out = encodeBoth(withMetadata(15), [record(host), record(container), record(host)]);
    const [a, b, c] = maps(out.entries);
    expect(Object.keys(a!)).toHaveLength(14);
    expect(Object.keys(b!)).toHaveLength(16);
    expect(b!.kubernetes).toEqual(kubernetes);
    expect(c).toEqual(a);
  });

  it('docker and podman: container_name and container_image at the top; a changed name is the new one', () => {
    store.set(named, { runtime: 'docker', name: 'web', image: 'nginx:1.27' });
    expect(maps(encodeBoth(withMetadata(1), [record(container)]).entries)).toEqual([{ container_id: named, container_name: 'web', container_image: 'nginx:1.27' }]);
    store.set(named, { runtime: 'docker', name: 'renamed', image: 'nginx:1.27' });
    expect(maps(encodeBoth(withMetadata(1), [record(container)]).entries)[0]!.container_name).toBe('renamed');
    store.set(named, POD);
  });

  it('removed: nothing again', () => {
    store.remove(named);
    expect(maps(encodeBoth(withMetadata(1), [record(container)]).entries)).toEqual([{ container_id: named }]);
    store.set(named, POD);
  });

  it('malformed: pairs to add and no MAP before them; members past the record', () => {
    const noMap = program().minLen(0).headKtime(0).lit([0x81]).containerId(8, 16, 'container_id').op(Op.CONTAINER_METADATA, 8, 16, 0).end();
    expect(encodeBoth(noMap, [record(container)])).toMatchObject({ count: 0, malformed: 1 });
    const short = program().minLen(0).headKtime(0).mapOp(0).op(Op.CONTAINER_METADATA, 8, 16, 0).end();
    expect(encodeBoth(short, [record(container).subarray(0, 19)])).toMatchObject({ count: 0, malformed: 1 });
  });

  it('an annotations flag other than 0 or 1 is refused by both, with the same message', () => {
    const bad = program().minLen(0).headNow().mapOp(1).op(Op.CONTAINER_METADATA, 8, 16, 2).end().build();
    const message = 'record program: word 5: CONTAINER_METADATA annotations flag 2 is not 0 or 1';
    expect(() => openRecordProgram(bad.code, bad.pool)).toThrow(message);
    expect(() => new JsRecordEncoder(bad.code, bad.pool)).toThrow(message);
  });

  it('a map too big for the encoder loses its annotations, then its labels', () => {
    const big = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`key-${i}`, 'v'.repeat(40)]));
    const pod = { ...POD.pod!, annotations: big };
    const annotated = encodeFacts({ ...POD, pod }, true);
    const decoded = [...decodeMulti(annotated.pairs)];
    expect(decoded[0]).toBe('kubernetes');
    expect(decoded[1]).not.toHaveProperty('annotations');
    expect(decoded[1]).toHaveProperty('labels');
    const both = encodeFacts({ ...POD, pod: { ...pod, labels: big } }, true);
    expect([...decodeMulti(both.pairs)][1]).toEqual({ pod_name: 'web-0', namespace_name: 'shop', pod_id: POD.pod!.uid, container_name: 'web', container_image: 'nginx:1.27' });
  });
});

describe("a built-in trace's records", () => {
  it('with no metadata for their cgroup are the bytes they were without the op', () => {
    store.remove(named);
    for (const name of ['trace_signal', 'trace_exec', 'trace_vfs']) {
      const trace = traces.get(name)!;
      const record = trace.record as RecordDeclaration & { struct: string };
      const btf = Btf.ofObject(join(bpfObjectDir, trace.object));
      const struct = btf.struct(record.struct)!;
      const at = (path: string) => memberAt(struct, path)!.offset;
      const records = [container, host, silent].map((cgroup) => {
        const r = Buffer.alloc(struct.size);
        r.writeBigUInt64LE(1_000_000_000_000n, at('hdr.ts_ns'));
        r.writeBigUInt64LE(cgroup, at('hdr.cgroup_id'));
        return r;
      });
      const batch = batchOf(records);
      const encode = (runtimeMetadata: boolean) => {
        const p = compileTrace(record, btf, { trace: name, object: trace.object, runtimeMetadata });
        return openRecordProgram(p.code, p.pool).encode(batch, records.length, 0n, 0n).entries.toString('hex');
      };
      expect(encode(true), name).toBe(encode(false));
    }
    store.set(named, POD);
  });

  it('with metadata: the map after mntns_id, before a sequence_key', () => {
    const trace = traces.get('trace_signal')!;
    const record = trace.record as RecordDeclaration & { struct: string };
    const btf = Btf.ofObject(join(bpfObjectDir, trace.object));
    const struct = btf.struct(record.struct)!;
    const r = Buffer.alloc(struct.size);
    r.writeBigUInt64LE(container, memberAt(struct, 'hdr.cgroup_id')!.offset);
    r.writeUInt32LE(4026531840, memberAt(struct, 'hdr.mntns_id')!.offset); // 0 would leave mntns_id out
    const p = compileTrace(record, btf, { trace: 'trace_signal', object: trace.object, sequenceKey: 'seq' });
    const [entry] = maps(openRecordProgram(p.code, p.pool).encode(batchOf([r]), 1, 0n, 0n).entries);
    expect(Object.keys(entry!).slice(-5)).toEqual(['cgroup_id', 'container_id', 'mntns_id', 'kubernetes', 'seq']);
    expect(() => compileTrace(record, btf, { trace: 'trace_signal', object: trace.object, sequenceKey: 'kubernetes' })).toThrow('trace_signal: the key kubernetes would be in its records twice');
  });
});
