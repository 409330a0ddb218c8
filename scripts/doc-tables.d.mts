// Types of scripts/doc-tables.mjs, for test/docs.test.ts.
import type { FieldDeclaration, RecordDeclaration } from '../src/records/declaration.js';
import type { TraceDefinition } from '../src/traces/types.js';

export function generatedDocs(
  root: string,
  traces: ReadonlyMap<string, TraceDefinition>,
  tables: {
    fieldTables(declaration: RecordDeclaration): string;
    fieldsByEventType(declaration: RecordDeclaration): Map<string, FieldDeclaration[]>;
  },
): { path: string; text: string }[];
