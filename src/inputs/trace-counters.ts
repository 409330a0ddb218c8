// What an input tells of each of its traces: records, bytes, losses and
// why, the ring's fill, wake-ups and batches (the metrics and the stop line).

export interface TraceCounters {
  trace: string;
  /** Records read from the ring and handed on. */
  records: number;
  /** Bytes of those records as Forward entries (msgpack), as Fluent Bit counts an input's bytes. */
  bytes: number;
  /** How full the ring buffer is now, 0 to 1; undefined when unknown. */
  ringFill?: number;
  /** Records the kernel could not put in the ring (it was full). */
  lost: number;
  /** Records too short for their struct (a bug; counted, never hidden). */
  malformed: number;
  /** Records of a kind the trace does not know (counted, not sent). */
  skipped: number;
  /** Whether `lost` is counted (a user's BPF object may keep no count). */
  lossesCounted: boolean;
  /** Records read from the ring but lost in the reader for want of memory. */
  dropped: number;
  /** Events the input's filters left out in the kernel (pid, comm, uid, cgroup and their exclude forms). */
  filtered: number;
  /** Times the reader was woken (by the kernel, or its deadline) and found records: what the CPU per event is paid per. */
  wakeups: number;
  /** Of `records`, those the reader wrote itself to an output's lent socket, never entering JS (low rates, one forward output). */
  direct: number;
  /** Batches handed from the ring to the router. */
  batches: number;
  /** Whether `filtered` is counted (a user's BPF object has no filters). */
  filtersCounted: boolean;
}
