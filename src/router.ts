// Sends each input's events to the outputs whose Match accepts the tag, as
// Fluent Bit's router does. Matches are worked out once per tag.
import type { FluentEvent } from './event.js';
import type { Output } from './outputs/types.js';

export interface Route {
  output: Output;
  matches(tag: string): boolean;
}

export class Router {
  private readonly byTag = new Map<string, Output[]>();
  /** Events whose tag no output matched (Fluent Bit drops these too; we count them). */
  unrouted = 0;

  constructor(private readonly routes: Route[]) {}

  private outputsOf(tag: string): Output[] {
    let outputs = this.byTag.get(tag);
    if (!outputs) {
      outputs = this.routes.filter((r) => r.matches(tag)).map((r) => r.output);
      this.byTag.set(tag, outputs);
    }
    return outputs;
  }

  route(tag: string, events: FluentEvent[]): void {
    const outputs = this.outputsOf(tag);
    if (outputs.length === 0) {
      this.unrouted += events.length;
      return;
    }
    for (const output of outputs) output.write(tag, events);
  }

  /** Whether every output of the tag takes more records now (none is full). */
  accepting(tag: string): boolean {
    for (const output of this.outputsOf(tag)) if (output.full?.()) return false;
    return true;
  }
}
