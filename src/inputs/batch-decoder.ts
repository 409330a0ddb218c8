// Turns one ring-buffer batch (native/ring_reader.h: records at 8-aligned
// offsets, each [u32 length][u32 0][bytes]) into Fluent events: header,
// trace decoding and the kernel's time as wall-clock time. This runs for every
// record, so it allocates only what it hands on (the event and its record).
import type { FluentEvent } from '../event.js';
import { emptyHeader, HEADER_SIZE, readHeader, wordsOfBuffer } from '../traces/header.js';
import type { TraceDefinition } from '../traces/types.js';
import type { MonotonicClock } from './clock.js';

export class BatchDecoder {
  private readonly header = emptyHeader();
  /** Records too short to hold a header: a bug, counted rather than hidden. */
  malformed = 0;
  /** Records the trace consumed without an event of their own (decode returned null). */
  held = 0;

  constructor(
    private readonly trace: TraceDefinition,
    private readonly clock: MonotonicClock,
    /** Where to put the record's sequence number (the input's sequence_key), if anywhere. */
    private readonly sequenceKey?: string,
  ) {}

  /** The events of `count` records at the start of `batch`. */
  decode(batch: Buffer, count: number): FluentEvent[] {
    const { trace, header, clock } = this;
    clock.maybeRefresh();
    const events: FluentEvent[] = [];
    const words = wordsOfBuffer(batch);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const length = words ? words[at >> 2]! : batch.readUInt32LE(at);
      const offset = at + 8;
      at = (offset + length + 7) & ~7;
      if (length < HEADER_SIZE) {
        this.malformed++;
        continue;
      }
      readHeader(batch, offset, header);
      const record = trace.decode(batch, offset, length, header);
      if (record === null) {
        this.held++;
        continue;
      }
      if (this.sequenceKey !== undefined) record[this.sequenceKey] = header.seq;
      const event: FluentEvent = { sec: 0, nsec: 0, record };
      clock.toWall(header.tsHigh, header.tsLow, event);
      events.push(event);
    }
    return events;
  }
}
