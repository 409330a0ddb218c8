// The docs hold what the traces make of them (scripts/doc-tables.mjs writes
// the README's list of traces and docs/traces.md's reference from each
// trace's folder and declaration), and every link between them leads to a
// file and a heading that exist.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldsByEventType, fieldTables } from '../src/records/field-table.js';
import { traces } from '../src/traces/registry.js';
import { generatedDocs } from '../scripts/doc-tables.mjs';
import { repoRoot } from './support/cli.js';

describe('generated docs', () => {
  for (const { path, text } of generatedDocs(repoRoot, traces, { fieldTables, fieldsByEventType })) {
    it(`${relative(repoRoot, path)} is what the traces make of it (else run: node scripts/doc-tables.mjs)`, () => {
      expect(readFileSync(path, 'utf8')).toBe(text);
    });
  }
});

/** GitHub's anchor of a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

const anchorsOf = (file: string) => new Set([...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.*)$/gm)].map((m) => slug(m[1]!)));

describe('links', () => {
  const docs = [join(repoRoot, 'README.md'), join(repoRoot, 'CONTRIBUTING.md'), ...readdirSync(join(repoRoot, 'docs')).map((f) => join(repoRoot, 'docs', f))];
  for (const file of docs) {
    it(`${relative(repoRoot, file)}: every relative link leads to a file and heading that exist`, () => {
      const broken: string[] = [];
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#');
        const into = path ? resolve(dirname(file), path) : file;
        if (!existsSync(into)) broken.push(`${target}: no ${relative(repoRoot, into)}`);
        else if (anchor && into.endsWith('.md') && !anchorsOf(into).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${relative(repoRoot, into)}`);
      }
      expect(broken).toEqual([]);
    });
  }

  it('the README links every document in docs/', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    expect(readdirSync(join(repoRoot, 'docs')).filter((f) => !readme.includes(`(docs/${f}`))).toEqual([]);
  });
});
