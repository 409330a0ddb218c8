// How a run of the CLI ends, and when it reloads: the process's signals and
// stdout, the stop within Grace, one reload at a time.
import type { ReloadControl } from './http/app-view.js';
import type { Logger } from './log.js';

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
 * How a run ends, and when it reloads: SIGINT, SIGTERM, a closed stdout, and
 * SIGHUP without hot reload stop it cleanly (deliver within Grace, detach,
 * exit 0), and a second stop signal exits at once. With hot reload, SIGHUP
 * and POST /api/v2/reload run `reloader`, one at a time. A stop asked for
 * during start-up waits for start-up to finish, for at most Grace.
 */
export class Lifecycle {
  private app: { stop(): Promise<void> } | undefined;
  private starting = false;
  private stopReason: string | undefined;
  private signals = 0;
  private reloading = false;
  private reloads = 0;
  /**
   * Holds the event loop open from start to exit. Every other timer is
   * unref'd and a paused reader polls nothing, so while the outputs stay
   * full (a receiver down for good) nothing else would: Node would leave,
   * silently and with status 0, dropping what it held.
   */
  private keepAlive: NodeJS.Timeout | undefined;
  /** Set from the config once read. */
  graceSeconds = 5;
  /** Hot_Reload On (or -Y), from the config once read and after each reload. */
  hotReload = false;
  /** Reads the config again and replaces the pipeline; resolves true when it did. Set by the CLI. */
  reloader: ((source: string) => Promise<boolean>) | undefined;

  /** For the HTTP server: Fluent Bit's answers to POST /api/v2/reload, and the count. */
  readonly reloadControl: ReloadControl = {
    count: () => this.reloads,
    request: (source) => {
      if (!this.hotReload || !this.reloader) return { answer: 'not enabled' };
      if (this.reloading || !this.app || this.stopReason) return { answer: 'in progress' };
      this.reloading = true;
      return { answer: 'done', run: () => this.runReload(source) };
    },
  };

  constructor(private readonly hooks: LifecycleHooks) {
    const onSignal = (signal: NodeJS.Signals) => {
      if (signal === 'SIGHUP' && this.hotReload && !this.stopReason) {
        const { answer, run } = this.reloadControl.request('SIGHUP');
        if (run) run();
        else hooks.log()?.warn(`SIGHUP: a reload is ${answer === 'in progress' ? 'in progress (or start-up is)' : answer}: ignored`);
        return;
      }
      if (++this.signals > 1) {
        hooks.log()?.warn(`${signal} again: exiting now`);
        this.exit(1);
        return;
      }
      this.requestStop(signal === 'SIGHUP' ? 'SIGHUP (Hot_Reload is off: no reload)' : signal);
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) hooks.signals.on(signal, onSignal);
    // A closed stdout (`ebpf-forward -c conf | head`) fails every later write.
    hooks.stdout.on('error', (err) => {
      if (this.app || this.starting) this.requestStop(err.code === 'EPIPE' ? 'stdout closed (EPIPE)' : `stdout failed (${err.code ?? err.message})`);
    });
  }

  private runReload(source: string): void {
    const log = this.hooks.log();
    this.reloader!(source).then(
      (done) => {
        if (done) this.reloads++;
      },
      (err: Error) => log?.error(`reload failed: ${err.message}`),
    ).finally(() => {
      this.reloading = false;
    });
  }

  /** Runs start-up, then stops at once if a stop was asked for meanwhile. */
  async start(run: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
    this.starting = true;
    this.keepAlive ??= setInterval(() => {}, 2 ** 30);
    try {
      this.app = await run();
    } catch (err) {
      this.release();
      throw err;
    }
    this.starting = false;
    if (this.stopReason) this.stop(this.app);
  }

  /** The run is over: the event loop may empty. */
  private release(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private exit(code: number): void {
    this.release();
    this.hooks.exit(code);
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
        this.exit(1);
      }, this.graceSeconds * 1000);
    } else {
      this.exit(0);
    }
  }

  private stop(running: { stop(): Promise<void> }): void {
    const log = this.hooks.log();
    log?.info(`${this.stopReason}: stopping (Grace ${this.graceSeconds}s)`);
    running.stop().then(
      () => this.exit(0),
      (err: Error) => {
        log?.error(err.message);
        this.exit(1);
      },
    );
  }
}
