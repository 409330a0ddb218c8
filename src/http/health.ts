// Fluent Bit's health check: unhealthy while the outputs' errors or retry
// failures within the last HC_Period seconds exceed HC_Errors_Count or
// HC_Retry_Failure_Count. The totals are sampled once a second (a timer, not
// the record path) and the window is the newest sample minus the oldest kept.
import { outputFailures, type CountersSource } from './metrics.js';

export interface HealthLimits {
  errors: number;
  retryFailures: number;
  periodSeconds: number;
}

interface Totals {
  errors: number;
  retryFailures: number;
}

export class HealthWindow {
  private readonly samples: Totals[];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly limits: HealthLimits,
    private readonly counters: CountersSource,
  ) {
    this.samples = [this.totals()];
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  healthy(): boolean {
    const oldest = this.samples[0]!;
    const now = this.totals();
    return now.errors - oldest.errors <= this.limits.errors && now.retryFailures - oldest.retryFailures <= this.limits.retryFailures;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    this.samples.push(this.totals());
    if (this.samples.length > this.limits.periodSeconds + 1) this.samples.shift();
  }

  private totals(): Totals {
    let errors = 0;
    let retryFailures = 0;
    for (const o of this.counters().outputs) {
      const f = outputFailures(o.counters);
      errors += f.errors;
      retryFailures += f.retryFailures;
    }
    return { errors, retryFailures };
  }
}
