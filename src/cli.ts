#!/usr/bin/env node
// ebpf-forward's command line, with fluent-bit's flags where they overlap:
//   ebpf-forward -c FILE [--dry-run] [-v|-vv] [-q]
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EbpfForward, Lifecycle, StartError } from './app.js';
import { loadConfig } from './config/load.js';
import { ConfigError, type AppConfig, type OutputSettings } from './config/model.js';
import { TraceStartError } from './inputs/trace-session.js';
import { createLogger, type Logger, type LogLevel } from './log.js';
import { AddonMissingError, packageRoot } from './native/addon.js';
import { outputPlugins } from './outputs/registry.js';
import { dropPrivileges, missingPrivileges, PrivilegeDropError } from './privileges.js';
import { traceNames, traces } from './traces/registry.js';

const usage = `Usage: ebpf-forward -c FILE [options]

Traces kernel events with eBPF, as Fluent Bit's in_ebpf does, and sends them
as Fluent records to the outputs of a Fluent Bit classic config file.

Options:
  -c, --config FILE   Fluent Bit classic config ([SERVICE], [INPUT] Name ebpf, [OUTPUT])
      --dry-run       check the config, attach nothing, exit 0 (valid) or 1
  -v, --verbose       more logging: -v debug, -vv trace (overrides Log_Level)
  -q, --quiet         errors only
  -h, --help          this help
  -V, --version       print the version

Traces: ${traceNames().join(', ')}
Outputs: ${[...outputPlugins.keys()].join(', ')} (stdout json_lines when none is configured)
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Without an [OUTPUT], records go to stdout as JSON lines. */
function defaultOutput(config: AppConfig): OutputSettings {
  return {
    plugin: 'stdout',
    instance: 'stdout.0',
    match: { kind: 'wildcard', pattern: '*' },
    values: new Map<string, unknown>([
      ['format', 'json_lines'],
      ['json_date_key', 'date'],
      ['json_date_format', 'double'],
    ]),
    file: config.file,
    line: 1,
  };
}

function fail(message: string): never {
  process.stderr.write(`ebpf-forward: ${message}\n`);
  process.exit(1);
}

let log: Logger | undefined;

// Node opens its inspector on SIGUSR1, after which anyone on the host could
// run code in this root process. A listener of our own replaces Node's
// (and keeps the signal from killing us), from here to the end.
process.on('SIGUSR1', () => log?.warn("SIGUSR1 ignored: ebpf-forward never opens Node's inspector"));
// With stderr gone there is nowhere left to tell anything; records go on.
process.stderr.on('error', () => {});

// Handlers before anything else: a SIGTERM as soon as the first line shows,
// or right after "tracing ...", must stop the CLI, not kill it.
const lifecycle = new Lifecycle({ signals: process, stdout: process.stdout, log: () => log, exit: (code) => process.exit(code) });

async function main(argv: string[]): Promise<void> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'dry-run': { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v', multiple: true },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\n\n${usage}`);
  }
  if (args.help) {
    process.stdout.write(usage);
    return;
  }
  if (args.version) {
    process.stdout.write(`ebpf-forward v${version()}\n`);
    return;
  }
  if (!args.config) fail(`no configuration file: use -c FILE\n\n${usage}`);

  let config: AppConfig;
  try {
    config = loadConfig(resolve(args.config), { traces, outputs: outputPlugins });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  if (config.outputs.length === 0) config.outputs.push(defaultOutput(config));

  if (args['dry-run']) {
    for (const warning of config.warnings ?? []) process.stderr.write(`ebpf-forward: warning: ${warning}\n`);
    process.stdout.write('configuration test is successful\n');
    return;
  }

  const verbosity = args.verbose?.length ?? 0;
  const level: LogLevel = args.quiet ? 'error' : verbosity >= 2 ? 'trace' : verbosity === 1 ? 'debug' : config.service.logLevel;
  const logger = createLogger(level);
  log = logger;

  const denied = missingPrivileges();
  if (denied) fail(denied);

  lifecycle.graceSeconds = config.service.graceSeconds;
  logger.info(`ebpf-forward v${version()} (pid ${process.pid})`);
  for (const warning of config.warnings ?? []) logger.warn(warning);
  try {
    await lifecycle.start(async () => {
      const app = await EbpfForward.start(config, logger);
      try {
        logger.info(dropPrivileges());
      } catch (err) {
        if (!(err instanceof PrivilegeDropError)) throw err;
        logger.error(err.message);
        await app.stop();
        process.exit(1);
      }
      return app;
    });
  } catch (err) {
    if (err instanceof TraceStartError || err instanceof StartError || err instanceof AddonMissingError) fail(err.message);
    throw err;
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  // Anything unforeseen: one line, no stack (EBPF_FORWARD_DEBUG=1 shows it).
  if (process.env.EBPF_FORWARD_DEBUG) process.stderr.write(`${err.stack}\n`);
  fail(err.message);
});
