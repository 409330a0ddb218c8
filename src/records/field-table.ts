// The docs' field tables, made from the record declarations: one source
// for what is sent and what is documented (test/docs.test.ts checks the
// docs hold these tables as they are).
import type { FieldDeclaration, RecordDeclaration } from './declaration.js';
import { shapesOf } from './declaration.js';
import { CONTAINER_FIELDS, RUNTIME_METADATA_FIELDS } from './head.js';

/** Each event_type of a declaration with its fields after the common head, in key order (kinds sharing an event_type merged). */
export function fieldsByEventType(declaration: RecordDeclaration): Map<string, FieldDeclaration[]> {
  const out = new Map<string, FieldDeclaration[]>();
  for (const shape of shapesOf(declaration)) {
    const fields = out.get(shape.eventType) ?? [];
    for (const f of shape.fields) if (!fields.some((g) => g.key === f.key)) fields.push(f);
    out.set(shape.eventType, fields);
  }
  return out;
}

/** Markdown: one `| field | type | meaning |` table per event_type (headed by it when there are several), the container fields last. */
export function fieldTables(declaration: RecordDeclaration): string {
  const groups = fieldsByEventType(declaration);
  const tables: string[] = [];
  for (const [eventType, fields] of groups) {
    const rows = [...fields, ...CONTAINER_FIELDS, ...RUNTIME_METADATA_FIELDS].map((f) => `| ${f.key} | ${f.type} | ${f.doc} |`);
    const table = ['| field | type | meaning |', '|---|---|---|', ...rows].join('\n');
    tables.push(groups.size > 1 ? `event_type \`${eventType}\`:\n\n${table}` : table);
  }
  return tables.join('\n\n');
}
