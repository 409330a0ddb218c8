// Chunks of Forward entries decoded back into events, with an independent
// decoder (@msgpack/msgpack; the encoder is native): what trace tests check.
import { decodeMulti, ExtensionCodec } from '@msgpack/msgpack';
import { cpus } from 'node:os';
import type { EventChunk } from '../../src/chunk.js';

/** A decoded record: integers beyond 32 bits as bigint (int64/uint64 on the wire). */
export type DecodedRecord = Record<string, string | number | bigint>;

export interface DecodedEvent {
  sec: number;
  nsec: number;
  record: DecodedRecord;
}

const codec = new ExtensionCodec();
// EventTime: ext type 0, u32 seconds and u32 nanoseconds, big-endian.
codec.register({
  type: 0,
  encode: () => null,
  decode: (data) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { sec: view.getUint32(0), nsec: view.getUint32(4) };
  },
});

/** The entries of a chunk (or of packed entries) as events; throws on anything but [EventTime, map] entries. */
export function decodeEntries(entries: Buffer | EventChunk): DecodedEvent[] {
  const bytes = Buffer.isBuffer(entries) ? entries : entries.entries;
  const out: DecodedEvent[] = [];
  for (const entry of decodeMulti(bytes, { extensionCodec: codec, useBigInt64: true })) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new Error(`not a [time, record] entry: ${JSON.stringify(entry)}`);
    const [time, record] = entry as [{ sec: number; nsec: number }, DecodedRecord];
    if (typeof time !== 'object' || time === null || !('sec' in time)) throw new Error('entry time is not an EventTime');
    out.push({ sec: time.sec, nsec: time.nsec, record });
  }
  if (!Buffer.isBuffer(entries) && out.length !== entries.count) throw new Error(`chunk says ${entries.count} entries, has ${out.length}`);
  return out;
}

/**
 * Checks the event_id of a trace's records and sets it aside, so that tests
 * compare the trace's own fields: every record has it second (after
 * event_type), a uint64 whose top 16 bits are a CPU of this machine, and no
 * two records of the session share one. One per trace session (each load
 * counts from 0).
 */
export class EventIds {
  private readonly seen = new Set<bigint>();

  /**
   * `containerFields`: the records end with cgroup_id, container_id (when
   * any) and mntns_id, before a sequence key (container_metadata On), each
   * checked; then 'set aside' (the default: tests of a trace's own fields)
   * or 'kept'. 'absent': container_metadata Off, none of them may be there.
   */
  constructor(private readonly containerFields: 'set aside' | 'kept' | 'absent' = 'set aside') {}

  take(events: DecodedEvent[]): DecodedEvent[] {
    return events.map((e) => {
      if (this.containerFields === 'absent') {
        const there = CONTAINER_KEYS.filter((k) => k in e.record);
        if (there.length) throw new Error(`container_metadata Off, but the record has ${there.join(', ')}`);
      } else {
        checkContainerFields(e.record);
        if (this.containerFields === 'set aside') {
          const { cgroup_id, container_id, mntns_id, ...rest } = e.record;
          e = { ...e, record: rest };
        }
      }
      const { event_type, event_id, ...rest } = e.record;
      const keys = Object.keys(e.record);
      if (keys[0] !== 'event_type' || keys[1] !== 'event_id') throw new Error(`event_id is not the second key: ${keys.join(', ')}`);
      if (!((typeof event_id === 'number' && Number.isInteger(event_id) && event_id >= 0) || (typeof event_id === 'bigint' && event_id >= 0n))) {
        throw new Error(`event_id ${String(event_id)} is not a uint64`);
      }
      const id = BigInt(event_id);
      if (Number(id >> 48n) >= cpuCount) throw new Error(`event_id ${id} names CPU ${id >> 48n}, and there are ${cpuCount}`);
      if (this.seen.has(id)) throw new Error(`event_id ${id} given twice`);
      this.seen.add(id);
      return { ...e, record: { event_type, ...rest } as DecodedRecord };
    });
  }
}

const cpuCount = cpus().length;

const CONTAINER_KEYS = ['cgroup_id', 'container_id', 'mntns_id'];

/**
 * cgroup_id (a uint64, never 0: every task is in a cgroup), container_id
 * (absent, or 64 hex digits) and mntns_id (a non-zero uint32; absent for a
 * task whose namespaces are gone, as in its exit), together after the
 * trace's fields, followed by at most one key (a sequence_key).
 */
function checkContainerFields(record: DecodedRecord): void {
  const keys = Object.keys(record);
  const at = keys.indexOf('cgroup_id');
  const wanted = CONTAINER_KEYS.filter((k) => k in record);
  const tail = keys.slice(at, at + wanted.length);
  if (at < 0 || tail.join() !== wanted.join() || keys.length - (at + tail.length) > 1) {
    throw new Error(`the container fields are not together at the end: ${keys.join(', ')}`);
  }
  const { cgroup_id, container_id, mntns_id } = record;
  if (!(typeof cgroup_id === 'bigint' ? cgroup_id > 0n : Number.isInteger(cgroup_id) && (cgroup_id as number) > 0)) throw new Error(`cgroup_id ${String(cgroup_id)} is not a non-zero uint64`);
  if (container_id !== undefined && !(typeof container_id === 'string' && /^[0-9a-f]{64}$/.test(container_id))) throw new Error(`container_id ${String(container_id)} is not 64 hex digits`);
  if (mntns_id !== undefined && !(Number.isInteger(mntns_id) && (mntns_id as number) > 0 && (mntns_id as number) < 2 ** 32)) throw new Error(`mntns_id ${String(mntns_id)} is not a non-zero uint32`);
}
