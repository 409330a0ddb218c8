// Preloaded (node --import) into a CLI run by test/system/modules/lazy-loading.test.ts:
// at exit, writes to $LOADED_MODULES_FILE what the process loaded, one a
// line: Node's built-in modules (process.moduleLoadList, "NativeModule http")
// and every CommonJS file (require.cache: the npm packages, whether imported
// or required).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => `node:${m.slice('NativeModule '.length)}`);
  writeFileSync(process.env.LOADED_MODULES_FILE, [...builtins, ...Object.keys(cache)].join('\n') + '\n');
});
