// The running program: outputs started, inputs attached, events routed,
// and an orderly stop (detach, drain, deliver within Grace).
import { dirname } from 'node:path';
import { compileMatch } from './config/match.js';
import type { AppConfig } from './config/model.js';
import { HttpServerError, MonitoringServer } from './http/server.js';
import { EbpfInput, type TraceCounters } from './inputs/ebpf-input.js';
import type { Logger } from './log.js';
import { addon } from './native/addon.js';
import { outputPlugins } from './outputs/registry.js';
import type { Output, OutputCounters } from './outputs/types.js';
import { Router } from './router.js';

export class StartError extends Error {}

export interface AppCounters {
  inputs: { instance: string; traces: TraceCounters[] }[];
  outputs: { instance: string; counters: OutputCounters }[];
  unrouted: number;
}

export class EbpfForward {
  private readonly outputs: Output[] = [];
  private readonly inputs: EbpfInput[] = [];
  private router!: Router;
  private http: MonitoringServer | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly config: AppConfig,
    private readonly log: Logger,
  ) {}

  static async start(config: AppConfig, log: Logger): Promise<EbpfForward> {
    const app = new EbpfForward(config, log);
    try {
      await app.open();
    } catch (err) {
      await app.stop();
      throw err;
    }
    return app;
  }

  private async open(): Promise<void> {
    const { config, log } = this;
    // First, so that a port in use fails the start before anything is attached.
    if (config.service.values.get('http_server')) {
      this.http = await MonitoringServer.start({ service: config.service.values, counters: () => this.counters() }).catch((err: Error) => {
        throw err instanceof HttpServerError ? new StartError(err.message) : err;
      });
      const everywhere = /^(0\.0\.0\.0|::)$/.test(config.service.values.get('http_listen') as string);
      log.info(`HTTP server listening on ${this.http.address}${everywhere ? ' (every interface: set HTTP_Listen 127.0.0.1 to keep it local)' : ''}`);
    }
    const routes = config.outputs.map((o) => {
      const plugin = outputPlugins.get(o.plugin)!;
      const output = plugin.create(o.values, {
        instance: o.instance,
        log: log.child(`output:${o.plugin}:${o.instance}`),
        service: config.service,
        configDir: dirname(config.file),
      });
      this.outputs.push(output);
      return { output, matches: compileMatch(o.match) };
    });
    this.router = new Router(routes);
    await Promise.all(this.outputs.map((o) => o.start()));

    const tracefs = addon().ensureTracefs();
    if (tracefs === 'mounted') log.info('mounted tracefs at /sys/kernel/tracing (unmounted once the traces are attached)');

    for (const settings of config.inputs) {
      const input = new EbpfInput({
        settings,
        service: config.service,
        log: log.child(`input:ebpf:${settings.instance}`),
        emit: (tag, chunk) => this.router.route(tag, chunk),
        whenAccepting: (tag) => this.router.whenAccepting(tag),
      });
      this.inputs.push(input);
      input.start();
    }
    // Attached programs no longer need tracefs (libbpf read the tracepoint
    // ids from it), and unmounting later would need CAP_SYS_ADMIN, which the
    // CLI gives up once started.
    addon().releaseTracefs();
    const running = this.inputs.flatMap((i) => i.running());
    if (running.length === 0) {
      throw new StartError('no trace could be attached; see the errors above');
    }
    log.info(`tracing ${running.join(', ')}`);
  }

  counters(): AppCounters {
    return {
      inputs: this.inputs.map((i) => ({ instance: i.instance, traces: i.counters() })),
      outputs: this.outputs.map((o) => ({ instance: o.instance, counters: o.counters() })),
      unrouted: this.router?.unrouted ?? 0,
    };
  }

  /** Detaches every trace, delivers what is buffered within Grace, closes outputs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    for (const input of this.inputs) input.stop();
    const graceMs = this.config.service.graceSeconds * 1000;
    await Promise.all(this.outputs.map((o) => o.close(graceMs).catch((err: Error) => this.log.error(`${o.instance}: ${err.message}`))));
    addon().releaseTracefs();
    await this.http?.close();
    for (const i of this.inputs) {
      for (const t of i.counters()) {
        const lost = t.lossesCounted ? `${t.lost} lost in the kernel` : 'losses in the kernel not counted (its object has no lost map)';
        this.log.info(`${i.instance} ${t.trace}: ${t.records} records, ${lost}${t.malformed ? `, ${t.malformed} malformed` : ''}${t.skipped ? `, ${t.skipped} of unknown kinds skipped` : ''}${t.dropped ? `, ${t.dropped} dropped in the reader` : ''}`);
      }
    }
    if (this.router?.unrouted) this.log.warn(`${this.router.unrouted} records matched no output and were dropped`);
  }
}

/** What a Lifecycle listens to and ends: the process, in the CLI. */
export interface LifecycleHooks {
  /** Where SIGINT, SIGTERM and SIGHUP come from. */
  signals: { on(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP', listener: (signal: NodeJS.Signals) => void): unknown };
  /** The stream records may be printed to; an error on it (EPIPE) ends the run. */
  stdout: { on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown };
  /** The logger, once there is one. */
  log(): Logger | undefined;
  exit(code: number): void;
}

/**
 * How a run ends: SIGINT, SIGTERM, SIGHUP (there is no reload yet) or a
 * closed stdout stop it cleanly (deliver within Grace, detach, exit 0), and a
 * second signal exits at once. A stop asked for during start-up waits for
 * start-up to finish, for at most Grace.
 */
export class Lifecycle {
  private app: { stop(): Promise<void> } | undefined;
  private starting = false;
  private stopReason: string | undefined;
  private signals = 0;
  /** Set from the config once read. */
  graceSeconds = 5;

  constructor(private readonly hooks: LifecycleHooks) {
    const onSignal = (signal: NodeJS.Signals) => {
      if (++this.signals > 1) {
        hooks.log()?.warn(`${signal} again: exiting now`);
        hooks.exit(1);
        return;
      }
      this.requestStop(signal === 'SIGHUP' ? 'SIGHUP (ebpf-forward does not reload its configuration)' : signal);
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) hooks.signals.on(signal, onSignal);
    // A closed stdout (`ebpf-forward -c conf | head`) fails every later write.
    hooks.stdout.on('error', (err) => {
      if (this.app || this.starting) this.requestStop(err.code === 'EPIPE' ? 'stdout closed (EPIPE)' : `stdout failed (${err.code ?? err.message})`);
    });
  }

  /** Runs start-up, then stops at once if a stop was asked for meanwhile. */
  async start(run: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
    this.starting = true;
    this.app = await run();
    this.starting = false;
    if (this.stopReason) this.stop(this.app);
  }

  private requestStop(reason: string): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    if (this.app) {
      this.stop(this.app);
    } else if (this.starting) {
      // Start-up may wait on what never comes (a spool on a hung disk);
      // once Grace is over nothing would be delivered anyway.
      setTimeout(() => {
        if (this.app) return;
        this.hooks.log()?.error(`start-up did not finish within Grace (${this.graceSeconds}s) of ${reason}: exiting (the kernel detaches what was attached)`);
        this.hooks.exit(1);
      }, this.graceSeconds * 1000);
    } else {
      this.hooks.exit(0);
    }
  }

  private stop(running: { stop(): Promise<void> }): void {
    const log = this.hooks.log();
    log?.info(`${this.stopReason}: stopping (Grace ${this.graceSeconds}s)`);
    running.stop().then(
      () => this.hooks.exit(0),
      (err: Error) => {
        log?.error(err.message);
        this.hooks.exit(1);
      },
    );
  }
}
