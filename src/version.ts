// The package's version, as package.json says (for --version, logs, the HTTP server).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './native/addon.js';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
