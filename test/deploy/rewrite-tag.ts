// Fluent Bit's rewrite_tag rule, as its docs define it, applied to a
// record: `Rule $KEY REGEX NEW_TAG KEEP`, where $KEY is a record accessor
// ($a['b']['c']), and NEW_TAG may hold the regex's groups ($1..$9), the
// record's tag ($TAG, or its Nth dot-separated part $TAG[N]) and record
// accessors. Enough to see what tag the aggregators give a record that
// ebpf-forward sent, without a Fluent Bit here.

export interface RewriteRule {
  /** The record accessor's path, e.g. ["kubernetes", "namespace_name"]. */
  key: string[];
  regex: RegExp;
  newTag: string;
  keep: boolean;
}

const ACCESSOR = /\$(\w+)((?:\['[^']*'\])*)/g;

function accessorPath(name: string, subscripts: string): string[] {
  return [name, ...[...subscripts.matchAll(/\['([^']*)'\]/g)].map((m) => m[1]!)];
}

function lookUp(record: Record<string, unknown>, path: string[]): unknown {
  let value: unknown = record;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

export function parseRewriteRule(rule: string): RewriteRule {
  const words = rule.trim().split(/\s+/);
  if (words.length !== 4) throw new Error(`rewrite_tag Rule needs 4 words (key regex new_tag keep): ${rule}`);
  const key = /^\$(\w+)((?:\['[^']*'\])*)$/.exec(words[0]!);
  if (!key) throw new Error(`rewrite_tag Rule: ${words[0]} is not a record accessor`);
  return { key: accessorPath(key[1]!, key[2]!), regex: new RegExp(words[1]!), newTag: words[2]!, keep: words[3] === 'true' };
}

/** The new tag the rule gives a record, or undefined where it does not match. */
export function rewriteTag(rule: RewriteRule, tag: string, record: Record<string, unknown>): string | undefined {
  const value = lookUp(record, rule.key);
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const match = rule.regex.exec(String(value));
  if (!match) return undefined;
  const parts = tag.split('.');
  return rule.newTag
    .replace(/\$TAG\[(\d+)\]/g, (_, n: string) => parts[Number(n)] ?? '')
    .replace(/\$TAG/g, tag)
    .replace(/\$(\d)/g, (_, n: string) => match[Number(n)] ?? '')
    .replace(ACCESSOR, (_, name: string, subscripts: string) => String(lookUp(record, accessorPath(name, subscripts)) ?? ''));
}

/** Whether a Fluent Bit Match pattern (`*` any run of characters) takes a tag. */
export function matchesTag(pattern: string, tag: string): boolean {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(tag);
}
