// CPU time and memory of a running process, from /proc.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

// USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
const TICKS_PER_SECOND = 100;

/**
 * CPU time of the process in seconds: the scheduler's own count of time on a
 * CPU, summed over its threads (/proc/PID/task/TID/schedstat, nanoseconds).
 * utime + stime come in 10 ms ticks: at 10,000 events/s for a few seconds
 * that is a fifth of a microsecond per event, too coarse for the figures.
 * Falls back to utime + stime where schedstat is missing.
 */
export function cpuSeconds(pid) {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
    if (ns > 0) return ns / 1e9;
  } catch {
    // no schedstat: the ticks below
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)", which may itself hold spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** Resets the process's peak resident set (VmHWM) to its current one (a 5 written to /proc/PID/clear_refs). */
export function resetPeakRss(pid) {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** A field of /proc/PID/status in kB as bytes (VmHWM: peak resident set). */
export function statusBytes(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * Resident bytes now by kind, from /proc/PID/smaps: anonymous (V8's heaps,
 * malloc, buffers; a file mapping's private copies too), file-backed (the
 * node binary and its libraries, shared with other processes through the
 * page cache), and BPF maps mapped in (a ring buffer's data pages are mapped
 * twice, for records that wrap).
 */
export function rssByKind(pid) {
  const out = { anon: 0, file: 0, bpfMaps: 0 };
  let bpf = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      bpf = head[1].startsWith('anon_inode:bpf');
      continue;
    }
    const [, field, kb] = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line) ?? [];
    if (!field) continue;
    const bytes = Number(kb) * 1024;
    if (bpf) {
      if (field === 'Rss') out.bpfMaps += bytes;
    } else if (field === 'Rss') {
      out.file += bytes;
    } else {
      // Anonymous comes after Rss in each mapping: those pages move from file to anon.
      out.file -= bytes;
      out.anon += bytes;
    }
  }
  return out;
}
