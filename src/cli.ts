#!/usr/bin/env -S node --max-semi-space-size=1 --lite-mode --no-expose-wasm --expose-gc
// (V8's young generation capped at 1 MB a half: by default it grows to 16 MB
// during start-up and stays resident, 8-10 MB of RSS; records make no JS
// garbage, so scavenges stay rare at 100k events/s: no CPU measured for it.
// --lite-mode: no optimizing compilers, feedback allocated lazily; 9-11 MB
// less peak RSS (fewer pages of the node binary touched, no optimized code)
// and no CPU measured for it at 1k, 10k, 100k events/s or full speed: the
// records are encoded natively, JS runs once per batch. It implies
// --jitless, which turns WebAssembly off: --no-expose-wasm says so, or V8
// warns at every start (nothing here uses WebAssembly).
// --expose-gc: one full GC at start, before the ring buffers are mapped in
// (app.ts), so that the start's garbage is not resident alongside them.
// bench/run.mjs runs the CLI with the flags of this line, as the bin runs.)
// ebpf-forward's command line, with fluent-bit's flags:
//   ebpf-forward -c FILE [--dry-run] [-v|-vv] [-q]
//   ebpf-forward -i ebpf -p trace=trace_exec -t host.ebpf -o forward -p host=127.0.0.1 -m '*' -f 1
import { closeSync, openSync, writeSync } from 'node:fs';
import { EbpfForward, ReloadError, StartError } from './app.js';
import { Lifecycle } from './lifecycle.js';
import {
  allPluginsHelp,
  ebpfInputHelp,
  loadCommandLine,
  outputHelp,
  parseCommandLine,
  pluginHelp,
  pluginHelpText,
  type CommandLine,
} from './config/command-line.js';
import { ConfigError, type AppConfig, type OutputSettings } from './config/model.js';
import { TraceStartError } from './inputs/start-errors.js';
import { createLogger, type Logger, type LogLevel, type LogSink, type RootLogger } from './log.js';
import { AddonMissingError } from './native/addon.js';
import { outputPlugins } from './outputs/registry.js';
import {
  dropPrivileges,
  dropReloadCapabilities,
  missingPrivileges,
  PrivilegeDropError,
  threadsWithEffectiveCapabilities,
  withReloadCapabilities,
} from './privileges.js';
import { traceNames, traces } from './traces/registry.js';
import { packageVersion } from './version.js';

const deps = { traces, outputs: outputPlugins };

const usage = `Usage: ebpf-forward -c FILE [options]
       ebpf-forward -i ebpf -p trace=NAME [-p key=value...] [-t TAG] [-o OUTPUT -p key=value... -m MATCH] [options]

Traces kernel events with eBPF, as Fluent Bit's in_ebpf does, and sends them
as Fluent records to the outputs of a Fluent Bit config file or command line.

Options:
  -c, --config FILE        Fluent Bit config: classic ([SERVICE], [INPUT] Name ebpf, [OUTPUT]), or YAML (.yaml/.yml);
                           with -i/-o too, the command line's plugins come first
  -i, --input NAME         add an input (ebpf)
  -o, --output NAME        add an output
  -p, --prop KEY=VALUE     a key of the plugin named last (repeat for several)
  -t, --tag TAG            tag of the input named last, as -p tag=TAG
  -m, --match MATCH        match of the output named last, as -p match=MATCH
  -f, --flush SECONDS      [SERVICE] Flush (default 1)
  -b, --storage_path PATH  [SERVICE] storage.path
  -H, --http_server        [SERVICE] HTTP_Server On; -L, --http_listen ADDR; -P, --http_port PORT
  -Y, --enable-hot-reload  [SERVICE] Hot_Reload On: SIGHUP and POST /api/v2/reload read the -c file again
  -l, --log_file FILE      write log lines to FILE (appended) instead of stderr
  -D, --dry-run            check the config, attach nothing, exit 0 (valid) or 1
  -v, --verbose            more logging: -v debug, -vv trace (overrides Log_Level)
  -q, --quiet              errors only
  -h, --help               this help; after -i/-o NAME (or as -h NAME): that plugin's keys
  -J, --help-json          the plugins and their keys as JSON; after -i/-o NAME: that plugin's
  -V, --version            print the version
Errors on the command line are at "command line:N", N being the argument's position.
`;

function helpText(): string {
  const inputs = `Inputs:\n  ebpf      ${ebpfInputHelp(traces).description}\n            traces: ${traceNames().join(', ')}`;
  const outputs = [...outputPlugins.values()].map((p) => `  ${p.name.padEnd(10)}${p.summary}`).join('\n');
  const keys = [ebpfInputHelp(traces), ...[...outputPlugins.values()].map(outputHelp)].map(pluginHelpText).join('\n');
  return `${usage}\n${inputs}\n\nOutputs (stdout json_lines when none is configured):\n${outputs}\n\n${keys}`;
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

/** -h / -J: the general help or one plugin's keys, as text or JSON. */
function printHelp(help: NonNullable<CommandLine['help']>): void {
  if (!help.plugin) {
    process.stdout.write(help.format === 'json' ? `${JSON.stringify(allPluginsHelp(packageVersion(), deps), null, 2)}\n` : helpText());
    return;
  }
  const plugin = pluginHelp(help.plugin, deps);
  process.stdout.write(help.format === 'json' ? `${JSON.stringify(plugin, null, 2)}\n` : pluginHelpText(plugin));
}

/** -l FILE: log lines appended to it, opened before privileges are dropped. */
function logFileSink(path: string): LogSink {
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (err) {
    fail(`-l ${path}: cannot open the log file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  process.on('exit', () => closeSync(fd));
  return {
    write: (line) => {
      // A full disk or a removed mount must not stop the records; like a closed stderr.
      try {
        writeSync(fd, line);
      } catch {}
    },
  };
}

/** The config of the command line (and its -c file), with stdout as the output when it names none. */
function readConfig(args: CommandLine): AppConfig {
  const config = loadCommandLine(args, deps);
  if (config.outputs.length === 0) config.outputs.push(defaultOutput(config));
  return config;
}

const logLevelOf = (args: CommandLine, config: AppConfig): LogLevel =>
  args.quiet ? 'error' : args.verbosity >= 2 ? 'trace' : args.verbosity === 1 ? 'debug' : config.service.logLevel;

/**
 * Hot reload: the -c file read again, checked as a start checks it, and the
 * pipeline replaced; anything wrong is one line and the running pipeline
 * stays. Resolves true when the pipeline was replaced.
 */
async function reload(source: string, args: CommandLine, app: EbpfForward, logger: RootLogger): Promise<boolean> {
  const refuse = (why: string) => {
    logger.error(`${source}: reload refused: ${why}; the running pipeline is unchanged`);
    return false;
  };
  if (!args.configFile) return refuse('the pipeline was given on the command line only (-i/-o, no -c FILE): there is no file to read again');
  logger.info(`${source}: reloading ${args.configFile}`);
  let next: AppConfig;
  try {
    next = readConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) return refuse(err.message);
    throw err;
  }
  for (const warning of next.warnings ?? []) logger.warn(warning);
  try {
    const summary = await app.reload(next);
    logger.info(`reload done: ${summary}`);
  } catch (err) {
    if (err instanceof ReloadError || err instanceof TraceStartError) return refuse(err.message);
    throw err;
  } finally {
    const raised = threadsWithEffectiveCapabilities();
    if (raised.length) logger.error(`after the reload, thread ${raised[0]!.tid} has capabilities ${raised[0]!.effective.toString(16)} effective`);
  }
  logger.setLevel(logLevelOf(args, next));
  lifecycle.graceSeconds = next.service.graceSeconds;
  if (!next.service.values.get('hot_reload')) {
    lifecycle.hotReload = false;
    logger.info(`Hot_Reload is off now: ${dropReloadCapabilities()}`);
  }
  return true;
}

async function main(argv: string[]): Promise<void> {
  let args: CommandLine;
  let config: AppConfig;
  try {
    args = parseCommandLine(argv);
    if (args.help) {
      printHelp(args.help);
      return;
    }
    if (args.version) {
      process.stdout.write(`ebpf-forward v${packageVersion()}\n`);
      return;
    }
    if (!args.configFile && args.sections.length === 0) fail(`no configuration file: use -c FILE, or give a pipeline (-i ebpf -p trace=NAME ...)\n\n${usage}`);
    config = readConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    // parseArgs' own errors: an unknown flag, a flag without its value.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail(`${(err as Error).message}\n\n${usage}`);
    throw err;
  }
  if (args.dryRun) {
    for (const warning of config.warnings ?? []) process.stderr.write(`ebpf-forward: warning: ${warning}\n`);
    process.stdout.write('configuration test is successful\n');
    return;
  }

  const logger = createLogger(logLevelOf(args, config), args.logFile ? logFileSink(args.logFile) : undefined);
  log = logger;

  const denied = missingPrivileges();
  if (denied) fail(denied);

  lifecycle.graceSeconds = config.service.graceSeconds;
  const hotReload = config.service.values.get('hot_reload') === true;
  // With hot reload, a SIGHUP during start-up is ignored (there is nothing to reload yet), never a stop.
  lifecycle.hotReload = hotReload;
  logger.info(`ebpf-forward v${packageVersion()} (pid ${process.pid})`);
  for (const warning of config.warnings ?? []) logger.warn(warning);
  try {
    await lifecycle.start(async () => {
      const app = await EbpfForward.start(config, logger, { reload: lifecycle.reloadControl, attachWith: withReloadCapabilities });
      try {
        logger.info(dropPrivileges({ forReload: hotReload }));
      } catch (err) {
        if (!(err instanceof PrivilegeDropError)) throw err;
        logger.error(err.message);
        await app.stop();
        process.exit(1);
      }
      lifecycle.reloader = (source) => reload(source, args, app, logger);
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
