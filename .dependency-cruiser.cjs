// The architecture check (npm run check:architecture; scripts/test.sh runs
// it before the tests, and fails on any violation). The rules:
// - no import cycles;
// - the core (everything in src/ outside outputs/<plugin>/) does not reach
//   into an output plugin's own files: plugins are reached through
//   src/outputs/registry.ts and src/outputs/types.ts;
// - a plugin does not import another plugin's files;
// - src/ never imports tests, benchmarks or scripts, nor a package that is
//   only a devDependency (msgpackr: the tests' independent decoder).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle: two modules that need each other are one module, or share a third.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-not-into-plugins',
      severity: 'error',
      comment: "The core reaches an output plugin only through src/outputs/registry.ts (and the types in src/outputs/types.ts).",
      from: { path: '^src/', pathNot: ['^src/outputs/'] },
      to: { path: '^src/outputs/[^/]+/' },
    },
    {
      name: 'plugins-apart',
      severity: 'error',
      comment: "An output plugin doesn't use another plugin's files.",
      from: { path: '^src/outputs/([^/]+)/' },
      to: { path: '^src/outputs/[^/]+/', pathNot: '^src/outputs/$1/' },
    },
    {
      name: 'src-not-into-tests',
      severity: 'error',
      comment: 'Shipped code does not depend on tests, benchmarks or scripts.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'src-not-into-dev-dependencies',
      severity: 'error',
      comment: 'Shipped code uses only what package.json lists in dependencies (an install leaves devDependencies out).',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.d.mts'] },
  },
};
