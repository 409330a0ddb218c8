// Finds the C libraries that running processes really map, for uprobes.
import { readdirSync, readFileSync } from 'node:fs';

const LIBC = /\/(libc\.so\.6|libc-[\d.]+\.so|ld-musl-[^/]+\.so\.1|libc\.musl-[^/]+\.so\.1)$/;

/** Distinct paths (as seen from this mount namespace) of every mapped libc. */
export function findLibcPaths(): string[] {
  const found = new Set<string>();
  const scan = (pid: string) => {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      return;
    }
    for (const line of maps.split('\n')) {
      const path = line.slice(line.indexOf('/'));
      if (line.includes('/') && LIBC.test(path)) found.add(path);
    }
  };
  scan('self');
  for (const entry of readdirSync('/proc')) if (/^\d+$/.test(entry)) scan(entry);
  return [...found].sort();
}
