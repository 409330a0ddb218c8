// Types of bench/proc-stats.mjs, for the tests that read another process's figures.

/** CPU time of the process in seconds, summed over its threads (schedstat). */
export function cpuSeconds(pid: number): number;

/** Resets the process's peak resident set (VmHWM) to its current one. */
export function resetPeakRss(pid: number): void;

/** A field of /proc/PID/status in kB, as bytes. */
export function statusBytes(pid: number, field: string): number;

/** Resident bytes now: anonymous, file-backed, and BPF maps mapped in. */
export function rssByKind(pid: number): { anon: number; file: number; bpfMaps: number };
