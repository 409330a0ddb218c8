// The running program: outputs started, inputs attached, events routed,
// and an orderly stop (detach, drain, deliver within Grace).
import { dirname } from 'node:path';
import { compileMatch } from './config/match.js';
import type { AppConfig } from './config/model.js';
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
    if (tracefs === 'mounted') log.info('mounted tracefs at /sys/kernel/tracing (unmounted at exit)');

    for (const settings of config.inputs) {
      const input = new EbpfInput({
        settings,
        log: log.child(`input:ebpf:${settings.instance}`),
        emit: (tag, chunk) => this.router.route(tag, chunk),
        accepting: (tag) => this.router.accepting(tag),
      });
      this.inputs.push(input);
      input.start();
    }
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
    for (const i of this.inputs) {
      for (const t of i.counters()) {
        const lost = t.lossesCounted ? `${t.lost} lost in the kernel` : 'losses in the kernel not counted (its object has no lost map)';
        this.log.info(`${i.instance} ${t.trace}: ${t.records} records, ${lost}${t.malformed ? `, ${t.malformed} malformed` : ''}${t.skipped ? `, ${t.skipped} of unknown kinds skipped` : ''}${t.dropped ? `, ${t.dropped} dropped in the reader` : ''}`);
      }
    }
    if (this.router?.unrouted) this.log.warn(`${this.router.unrouted} records matched no output and were dropped`);
  }
}
