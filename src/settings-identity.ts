// What makes two pipelines' sections "the same" across a reload: their
// settings as text, and the files they read as they are on disk (a renewed
// certificate or a rebuilt BPF object makes another section).
import { statSync } from 'node:fs';

/**
 * Entries ordered by key, code unit by code unit: the same order on every
 * host, and no ICU (localeCompare reads 2 MB of Node's ICU data into memory).
 */
function byKey([a]: [unknown, unknown], [b]: [unknown, unknown]): number {
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A value as identity text: Map entries sorted by key, arrays in order, bigints as digits, the rest as JSON. */
export function identityText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Map ? [...v.entries()].sort(byKey) : typeof v === 'bigint' ? v.toString() : v));
}

/** A file's identity on disk, or "missing". */
export function fileStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}
