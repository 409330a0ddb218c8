// The running program: outputs started, inputs attached, events routed,
// a hot reload that replaces what changed and keeps the rest running, and
// an orderly stop (detach, drain, deliver within Grace).
import { dirname, resolve } from 'node:path';
import { compileMatch } from './config/match.js';
import { ConfigError, type AppConfig, type InputSettings, type OutputSettings } from './config/model.js';
import type { AppCounters, ReloadControl } from './http/app-view.js';
import type { MonitoringServer } from './http/server.js';
import { EbpfInput, inputIdentity } from './inputs/ebpf-input.js';
import type { Logger } from './log.js';
import { addon } from './native/addon.js';
import { outputPlugins } from './outputs/registry.js';
import type { Output, OutputCounters } from './outputs/types.js';
import { Router } from './router.js';
import { fileStamp, identityText } from './settings-identity.js';

export class StartError extends Error {}

/** A reload that was not made: the message says why; the running pipeline is as it was. */
export class ReloadError extends Error {}

export interface AppOptions {
  /** For the HTTP server's /api/v2/reload; without it hot reload is "not enabled" there. */
  reload?: ReloadControl;
  /** Wraps loading and attaching (a hot reload raises the capabilities they need for it). */
  attachWith?<T>(attach: () => T): T;
}

interface RunningInput {
  identity: string;
  settings: InputSettings;
  input: EbpfInput;
}

interface RunningOutput {
  identity: string;
  settings: OutputSettings;
  output: Output;
}

/** The [SERVICE] keys outputs read at creation: a change in them makes every output a new one. */
const OUTPUT_SERVICE_KEYS = ['flush', 'storage.path', 'storage.sync', 'storage.checksum', 'storage.backlog.mem_limit', 'scheduler.base', 'scheduler.cap'];
/** Output keys naming a file read at start: its identity on disk counts, so a renewed certificate is read again. */
const OUTPUT_FILE_KEYS = ['upstream', 'tls.ca_file', 'tls.crt_file', 'tls.key_file'];
/** The [SERVICE] keys of the HTTP server: a change in one restarts it. */
const HTTP_SERVICE_KEYS = ['http_server', 'http_listen', 'http_port', 'http_reload_allow', 'http_reload_token', 'health_check', 'hc_errors_count', 'hc_retry_failure_count', 'hc_period'];

/** What makes two [OUTPUT]s the same running output, for a reload. */
function outputIdentity(settings: OutputSettings, config: AppConfig): string {
  const dir = dirname(config.file);
  const files = OUTPUT_FILE_KEYS.filter((k) => settings.values.has(k)).map((k) => fileStamp(resolve(dir, settings.values.get(k) as string)));
  return identityText({
    plugin: settings.plugin,
    instance: settings.instance,
    match: settings.match,
    values: settings.values,
    service: OUTPUT_SERVICE_KEYS.map((k) => config.service.values.get(k)),
    dir,
    files,
  });
}

const httpIdentity = (config: AppConfig) => identityText(HTTP_SERVICE_KEYS.map((k) => config.service.values.get(k)));

export class EbpfForward {
  private outputs: RunningOutput[] = [];
  private inputs: RunningInput[] = [];
  private router: Router = new Router([]);
  private http: MonitoringServer | undefined;
  private stopping: Promise<void> | undefined;
  private reloading: Promise<unknown> | undefined;
  /** Outputs a reload replaced, still delivering what they hold (within Grace). */
  private readonly retiring = new Set<Promise<void>>();
  private reloads = 0;
  /** Resolves when a reload switches the routes (then a new one is made). */
  private routesSwitched = EbpfForward.nextSwitch();

  private constructor(
    private config: AppConfig,
    private readonly log: Logger,
    private readonly options: AppOptions,
  ) {}

  static async start(config: AppConfig, log: Logger, options: AppOptions = {}): Promise<EbpfForward> {
    const app = new EbpfForward(config, log, options);
    try {
      await app.open();
    } catch (err) {
      await app.stop();
      throw err;
    }
    return app;
  }

  private attachWith<T>(attach: () => T): T {
    return this.options.attachWith ? this.options.attachWith(attach) : attach();
  }

  private async startHttp(config: AppConfig): Promise<void> {
    if (!config.service.values.get('http_server')) return;
    // Loaded only with HTTP_Server On: node:http and prom-client are 13 MB of RSS.
    const { HttpServerError, MonitoringServer } = await import('./http/server.js');
    this.http = await MonitoringServer.start({ service: config.service.values, counters: () => this.counters(), reload: this.options.reload, log: this.log.child('http_server') }).catch((err: Error) => {
      if (!(err instanceof HttpServerError)) throw err;
      // At the key to change, or at HTTP_Server where it is left to its default.
      const where = config.service.where?.get(err.key) ?? config.service.where?.get('http_server');
      throw new StartError(where ? ConfigError.at(where, err.message).message : err.message);
    });
    const everywhere = /^(0\.0\.0\.0|::)$/.test(config.service.values.get('http_listen') as string);
    this.log.info(`HTTP server listening on ${this.http.address}${everywhere ? ' (every interface: set HTTP_Listen 127.0.0.1 to keep it local)' : ''}`);
  }

  private createOutput(settings: OutputSettings, config: AppConfig): RunningOutput {
    const plugin = outputPlugins.get(settings.plugin)!;
    const output = plugin.create(settings.values, {
      instance: settings.instance,
      log: this.log.child(`output:${settings.plugin}:${settings.instance}`),
      service: config.service,
      configDir: dirname(config.file),
    });
    return { identity: outputIdentity(settings, config), settings, output };
  }

  private static nextSwitch(): { promise: Promise<void>; resolve(): void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  }

  /**
   * The router's wait for room, ended early by a reload's switch and asked
   * again of the new routes: an input must not wait on an output that went.
   */
  private whenAccepting(tag: string): Promise<void> | undefined {
    const room = this.router.whenAccepting(tag);
    return room && Promise.race([room, this.routesSwitched.promise]).then(() => this.whenAccepting(tag));
  }

  private routerOf(outputs: RunningOutput[]): Router {
    return new Router(outputs.map((o) => ({ output: o.output, matches: compileMatch(o.settings.match) })));
  }

  private createInput(settings: InputSettings, config: AppConfig): RunningInput {
    const input = new EbpfInput({
      settings,
      service: config.service,
      log: this.log.child(`input:ebpf:${settings.instance}`),
      // The router of the moment: a reload swaps it between two chunks.
      emit: (tag, chunk) => this.router.route(tag, chunk),
      whenAccepting: (tag) => this.whenAccepting(tag),
      lendSocket: (tag) => this.router.lendSocket(tag),
    });
    return { identity: inputIdentity(settings, config.service), settings, input };
  }

  private ensureTracefs(): void {
    if (addon().ensureTracefs() === 'mounted') this.log.info('mounted tracefs at /sys/kernel/tracing (unmounted once the traces are attached)');
  }

  /**
   * Loads and attaches inputs (with what attaching needs raised, for a
   * reload), pushing each to `into` once created so that a failure can stop
   * those already attached.
   */
  /** Starts inputs; a trace running with the same programs in one of `runningElsewhere` is taken over as it runs. */
  private attachInputs(settings: InputSettings[], config: AppConfig, into: RunningInput[], runningElsewhere: readonly EbpfInput[] = []): void {
    if (settings.length === 0) return;
    this.attachWith(() => {
      this.ensureTracefs();
      try {
        for (const s of settings) {
          const running = this.createInput(s, config);
          into.push(running);
          running.input.start(runningElsewhere);
        }
      } finally {
        // Attached programs no longer need tracefs (libbpf read the tracepoint
        // ids from it), and unmounting later would need CAP_SYS_ADMIN, which
        // the CLI gives up once started.
        addon().releaseTracefs();
      }
    });
  }

  private async open(): Promise<void> {
    const { config, log } = this;
    // First, so that a port in use fails the start before anything is attached.
    await this.startHttp(config);
    this.outputs = config.outputs.map((o) => this.createOutput(o, config));
    this.router = this.routerOf(this.outputs);
    await Promise.all(this.outputs.map((o) => o.output.start()));

    // The start's garbage (config text, module compiling) collected before
    // the ring buffers are mapped in, so that it is not resident alongside
    // them: -1 MB of peak RSS. gc is there with the CLI's --expose-gc.
    (globalThis as { gc?: () => void }).gc?.();
    this.attachInputs(config.inputs, config, this.inputs);
    const running = this.inputs.flatMap((i) => i.input.running());
    if (running.length === 0) {
      throw new StartError('no trace could be attached; see the errors above');
    }
    log.info(`tracing ${running.join(', ')}`);
  }

  counters(): AppCounters {
    return {
      inputs: this.inputs.map((i) => ({ instance: i.input.instance, traces: i.input.counters(), unjournaled: i.input.unjournaled })),
      outputs: this.outputs.map((o) => ({ instance: o.output.instance, counters: o.output.counters() })),
      unrouted: this.router.unrouted,
      reloads: this.reloads,
    };
  }

  /**
   * Replaces the pipeline with `next`'s: inputs and outputs whose settings
   * are the same keep running untouched; the others are replaced (inputs
   * stopped and drained before their replacements attach, outputs closed
   * within Grace after the switch); the routes switch between two chunks.
   * Resolves with a summary once the new pipeline runs; throws ReloadError,
   * with the old pipeline running as it was, when any of it can't start.
   */
  reload(next: AppConfig): Promise<string> {
    if (this.stopping) return Promise.reject(new ReloadError('stopping'));
    if (this.reloading) return Promise.reject(new ReloadError('a reload is in progress'));
    const reloading = this.doReload(next).finally(() => {
      this.reloading = undefined;
    });
    this.reloading = reloading;
    return reloading;
  }

  private async doReload(next: AppConfig): Promise<string> {
    const previous = this.config;
    // Outputs: the same ones kept, new ones started before anything changes.
    const unclaimed = new Map(this.outputs.map((o) => [o.identity, o]));
    const nextOutputs: RunningOutput[] = [];
    const created: RunningOutput[] = [];
    for (const settings of next.outputs) {
      const identity = outputIdentity(settings, next);
      const kept = unclaimed.get(identity);
      if (kept) {
        unclaimed.delete(identity);
        nextOutputs.push(kept);
      } else {
        const output = this.createOutput(settings, next);
        created.push(output);
        nextOutputs.push(output);
      }
    }
    const removedOutputs = [...unclaimed.values()];
    const dropNew = () => Promise.all(created.map((o) => o.output.close(0).catch(() => {})));
    try {
      await Promise.all(created.map((o) => o.output.start()));
    } catch (err) {
      await dropNew();
      throw new ReloadError((err as Error).message);
    }
    // The HTTP server, if its keys changed: the old one closed first (it may hold the port).
    const restartHttp = httpIdentity(previous) !== httpIdentity(next);
    if (restartHttp) {
      await this.http?.close();
      this.http = undefined;
      try {
        await this.startHttp(next);
      } catch (err) {
        await this.startHttp(previous).catch((again: Error) => this.log.error(`HTTP server: ${again.message}`));
        await dropNew();
        throw new ReloadError((err as Error).message);
      }
    }

    const wanted = new Map(next.inputs.map((s) => [inputIdentity(s, next.service), s]));
    const keptInputs = new Set(this.inputs.filter((i) => wanted.has(i.identity)));
    const removedInputs = this.inputs.filter((i) => !keptInputs.has(i));
    const keptIds = new Set([...keptInputs].map((i) => i.identity));
    const toStart = next.inputs.filter((s) => !keptIds.has(inputIdentity(s, next.service)));
    // New inputs loaded (BTF read, programs verified) while the old ones still
    // run: a trace the kernel refuses is refused here, with nothing changed,
    // and the switch below only has to attach.
    // A trace that runs with the same programs and records in an input being
    // replaced is taken over as it runs (EbpfInput.load): never detached.
    const started: RunningInput[] = [];
    const undoNewInputs = () => {
      for (const i of started) i.input.stop();
    };
    try {
      this.attachWith(() => {
        this.ensureTracefs();
        for (const s of toStart) {
          const running = this.createInput(s, next);
          started.push(running);
          running.input.load(removedInputs.map((i) => i.input));
        }
      });
    } catch (err) {
      // What was taken over goes back to the inputs that still run it.
      for (const i of started) i.input.undoLoad();
      addon().releaseTracefs();
      await dropNew();
      throw new ReloadError((err as Error).message);
    }

    // From here to the end of the switch nothing awaits: no chunk is routed meanwhile.
    const oldRouter = this.router;
    // Detached and drained through the old routes before anything new attaches: no event twice.
    for (const i of removedInputs) i.input.stop();
    oldRouter.recallSockets();
    this.router = this.routerOf(nextOutputs);
    this.switchedRoutes();
    try {
      this.attachWith(() => {
        try {
          for (const i of started) i.input.attach();
        } finally {
          addon().releaseTracefs();
        }
      });
    } catch (err) {
      // Undo: the old routes back, the old inputs again (taking back, as they
      // run, the traces the new ones had taken over), then what attached
      // detached (its records to the old routes).
      this.router.recallSockets();
      this.router = oldRouter;
      this.switchedRoutes();
      const restarted: RunningInput[] = [];
      try {
        this.attachInputs(removedInputs.map((i) => i.settings), previous, restarted, started.map((n) => n.input));
      } catch (again) {
        this.log.error(`restarting the previous inputs: ${(again as Error).message}`);
      }
      undoNewInputs();
      const back = new Map(removedInputs.map((i, n) => [i, restarted[n]]));
      this.inputs = this.inputs.map((i) => back.get(i) ?? i);
      await dropNew();
      throw new ReloadError((err as Error).message);
    }
    const byIdentity = new Map([...[...keptInputs].map((i) => [i.identity, i] as const), ...started.map((i) => [i.identity, i] as const)]);
    this.inputs = next.inputs.map((s) => byIdentity.get(inputIdentity(s, next.service))!);
    this.outputs = nextOutputs;
    this.config = next;
    this.reloads++;
    // Carried over so that the metric keeps counting.
    this.router.unrouted += oldRouter.unrouted;

    // Replaced outputs deliver what they hold within Grace, as at a stop, while the new pipeline runs.
    const graceMs = next.service.graceSeconds * 1000;
    for (const o of removedOutputs) {
      const closing = o.output.close(graceMs).catch((err: Error) => this.log.error(`${o.output.instance}: ${err.message}`));
      this.retiring.add(closing);
      void closing.finally(() => this.retiring.delete(closing));
    }
    for (const i of removedInputs) this.logTotals(i.input, 'replaced: ');
    const kept = `${keptInputs.size} of ${next.inputs.length} inputs and ${nextOutputs.length - created.length} of ${nextOutputs.length} outputs kept running`;
    return `${kept}; ${started.length} inputs and ${created.length} outputs started, ${removedInputs.length} and ${removedOutputs.length} stopped${restartHttp ? '; HTTP server restarted' : ''}`;
  }

  private switchedRoutes(): void {
    this.routesSwitched.resolve();
    this.routesSwitched = EbpfForward.nextSwitch();
  }

  /** Detaches every trace, delivers what is buffered within Grace, closes outputs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private logTotals(input: EbpfInput, prefix = ''): void {
    for (const t of input.counters()) {
      const lost = t.lossesCounted ? `${t.lost} lost in the kernel` : 'losses in the kernel not counted (its object has no lost map)';
      this.log.info(`${prefix}${input.instance} ${t.trace}: ${t.records} records, ${lost}${t.malformed ? `, ${t.malformed} malformed` : ''}${t.skipped ? `, ${t.skipped} of unknown kinds skipped` : ''}${t.dropped ? `, ${t.dropped} dropped in the reader` : ''}${t.filtered ? `, ${t.filtered} events left out by the filters` : ''}`);
      if (t.direct) this.log.info(`${prefix}${input.instance} ${t.trace}: ${t.direct} of its records written by the ring reader straight to the output's socket`);
    }
  }

  private async doStop(): Promise<void> {
    // A reload under way finishes (or is undone) first: then there is one pipeline to stop.
    await this.reloading?.catch(() => {});
    for (const i of this.inputs) i.input.stop();
    const graceMs = this.config.service.graceSeconds * 1000;
    await Promise.all(this.outputs.map((o) => o.output.close(graceMs).catch((err: Error) => this.log.error(`${o.output.instance}: ${err.message}`))));
    await Promise.all(this.retiring);
    addon().releaseTracefs();
    await this.http?.close();
    for (const i of this.inputs) this.logTotals(i.input);
    if (this.router.unrouted) this.log.warn(`${this.router.unrouted} records matched no output and were dropped`);
  }
}
