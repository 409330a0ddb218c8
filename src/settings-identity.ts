// What makes two pipelines' sections "the same" across a reload: their
// settings as text, and the files they read as they are on disk (a renewed
// certificate or a rebuilt BPF object makes another section).
import { statSync } from 'node:fs';

/** A value as identity text: Map entries sorted by key, arrays in order, bigints as digits, the rest as JSON. */
export function identityText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Map ? [...v.entries()].sort(([a], [b]) => String(a).localeCompare(String(b))) : typeof v === 'bigint' ? v.toString() : v,
  );
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
