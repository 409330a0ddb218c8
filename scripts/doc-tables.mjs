#!/usr/bin/env node
// Writes what the docs say of the traces from the traces themselves: the
// README's list (each trace's summary) and docs/traces.md's reference (each
// trace folder's README.md under a heading naming the trace and its event
// types, with its field tables made from the record declaration). A new
// trace reaches the docs from its folder and its registry line alone. Run
// after a build:
//   node scripts/doc-tables.mjs
// test/docs.test.ts fails when the docs and the traces differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FIELDS = /<!-- fields -->\n(?:[\s\S]*?\n)?<!-- end fields -->/;

/** Replaces what is between `<!-- name -->` and `<!-- end name -->`; throws if the markers are missing. */
function fill(text, name, content, file) {
  const block = new RegExp(`(<!-- ${name} -->\\n)[\\s\\S]*?(<!-- end ${name} -->)`);
  if (!block.test(text)) throw new Error(`${file} has no <!-- ${name} --> ... <!-- end ${name} --> block`);
  return text.replace(block, (_, open, close) => `${open}${content}${close}`);
}

/** One trace's part of docs/traces.md. */
function traceSection(root, trace, { fieldTables, fieldsByEventType }) {
  const file = join('src', 'traces', trace.name.replace(/^trace_/, ''), 'README.md');
  const prose = readFileSync(join(root, file), 'utf8').replace(/^<!--[\s\S]*?-->\n/, '');
  if (!FIELDS.test(prose)) throw new Error(`${file} has no <!-- fields --> <!-- end fields --> block for the field tables`);
  const eventTypes = [...fieldsByEventType(trace.record).keys()].map((t) => `\`${t}\``).join(', ');
  const tables = fieldTables(trace.record);
  return `### ${trace.name} — event_type ${eventTypes}\n\n${prose.replace(FIELDS, () => `<!-- fields -->\n${tables}\n<!-- end fields -->`).trimEnd()}\n\n`;
}

/** The README and docs/traces.md as these traces make them (the tables' functions: src/records/field-table.ts). */
export function generatedDocs(root, traces, tables) {
  const byName = [...traces.values()].sort((a, b) => a.name.localeCompare(b.name));
  const readmePath = join(root, 'README.md');
  const list = byName.map((t) => `- **${t.name}**: ${t.summary}.\n`).join('');
  const docPath = join(root, 'docs', 'traces.md');
  const reference = byName.map((t) => traceSection(root, t, tables)).join('');
  return [
    { path: readmePath, text: fill(readFileSync(readmePath, 'utf8'), 'traces', list, 'README.md') },
    { path: docPath, text: fill(readFileSync(docPath, 'utf8'), 'traces', reference, 'docs/traces.md') },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const { traces } = await import(join(root, 'dist', 'traces', 'registry.js'));
  const tables = await import(join(root, 'dist', 'records', 'field-table.js'));
  for (const { path, text } of generatedDocs(root, traces, tables)) writeFileSync(path, text);
}
