// The null output, as Fluent Bit's out_null: every record is counted as
// processed and thrown away. It measures the input alone (the bench, a user
// sizing a node) and keeps a pipeline running with nowhere to send to.
import type { EventChunk } from '../chunk.js';
import type { Output, OutputContext, OutputCounters, OutputPlugin } from './types.js';

export class NullOutput implements Output {
  private records = 0;
  private bytes = 0;

  constructor(readonly context: OutputContext) {}

  get instance() {
    return this.context.instance;
  }

  async start(): Promise<void> {}

  write(_tag: string, chunk: EventChunk): void {
    this.records += chunk.count;
    this.bytes += chunk.entries.length;
  }

  async flush(): Promise<void> {}

  /** The count at the end, as forward's totals are told: the only trace the records leave. */
  async close(): Promise<void> {
    this.context.log.info(`${this.records} records (${this.bytes} bytes) discarded`);
  }

  counters(): OutputCounters {
    return {
      records_in: this.records,
      // As Fluent Bit's proc_records for out_null: discarded is processed.
      records_sent: this.records,
      records_acked: 0,
      records_retried: 0,
      records_dropped: {},
      bytes_sent: this.bytes,
      connection: 'n/a',
      buffer_bytes: 0,
      buffer_bytes_peak: 0,
    };
  }
}

export const nullOutput: OutputPlugin = {
  name: 'null',
  summary: 'count records and throw them away (measures the input alone)',
  keys: [],
  create: (_values, context) => new NullOutput(context),
};
