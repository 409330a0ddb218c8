#!/usr/bin/env node
// ebpf-forward's command line, with fluent-bit's flags:
//   ebpf-forward -c FILE [--dry-run] [-v|-vv] [-q]
//   ebpf-forward -i ebpf -p trace=trace_exec -t host.ebpf -o forward -p host=127.0.0.1 -m '*' -f 1
import { closeSync, openSync, writeSync } from 'node:fs';
import { EbpfForward, Lifecycle, StartError } from './app.js';
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
import { TraceStartError } from './inputs/trace-session.js';
import { createLogger, type Logger, type LogLevel, type LogSink } from './log.js';
import { AddonMissingError } from './native/addon.js';
import { outputPlugins } from './outputs/registry.js';
import { dropPrivileges, missingPrivileges, PrivilegeDropError } from './privileges.js';
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
    config = loadCommandLine(args, deps);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    // parseArgs' own errors: an unknown flag, a flag without its value.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail(`${(err as Error).message}\n\n${usage}`);
    throw err;
  }
  if (config.outputs.length === 0) config.outputs.push(defaultOutput(config));

  if (args.dryRun) {
    for (const warning of config.warnings ?? []) process.stderr.write(`ebpf-forward: warning: ${warning}\n`);
    process.stdout.write('configuration test is successful\n');
    return;
  }

  const level: LogLevel = args.quiet ? 'error' : args.verbosity >= 2 ? 'trace' : args.verbosity === 1 ? 'debug' : config.service.logLevel;
  const logger = createLogger(level, args.logFile ? logFileSink(args.logFile) : undefined);
  log = logger;

  const denied = missingPrivileges();
  if (denied) fail(denied);

  lifecycle.graceSeconds = config.service.graceSeconds;
  logger.info(`ebpf-forward v${packageVersion()} (pid ${process.pid})`);
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
