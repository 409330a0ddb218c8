// CPU time and memory of a running process, from /proc.
import { readFileSync } from 'node:fs';

// USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
const TICKS_PER_SECOND = 100;

/** utime + stime of the process, in seconds (10 ms resolution). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)", which may itself hold spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** A field of /proc/PID/status in kB as bytes (VmHWM: peak resident set). */
export function statusBytes(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}
