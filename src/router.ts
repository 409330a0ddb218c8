// Sends each input's chunks to the outputs whose Match accepts the tag, as
// Fluent Bit's router does. Matches are worked out once per tag. Every
// matching output gets the same chunk (outputs never write to it).
import type { EventChunk } from './chunk.js';
import type { Output, SocketLease } from './outputs/types.js';

export interface Route {
  output: Output;
  matches(tag: string): boolean;
}

export class Router {
  private readonly byTag = new Map<string, Output[]>();
  /** Records whose tag no output matched (Fluent Bit drops these too; we count them). */
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

  route(tag: string, chunk: EventChunk): void {
    const outputs = this.outputsOf(tag);
    if (outputs.length === 0) {
      this.unrouted += chunk.count;
      return;
    }
    for (const output of outputs) output.write(tag, chunk);
  }

  /** A socket to write `tag`'s batches to, when exactly one output takes the tag and lends one now. */
  lendSocket(tag: string): SocketLease | undefined {
    const outputs = this.outputsOf(tag);
    return outputs.length === 1 ? outputs[0]!.lendSocket?.(tag) : undefined;
  }

  /** Ends every socket lent to readers (the routes change: a tag may go elsewhere now). */
  recallSockets(): void {
    for (const { output } of this.routes) output.recallSocket?.();
  }

  /**
   * Undefined while every output of the tag takes more records; else a
   * promise that resolves once they all have room again.
   */
  whenAccepting(tag: string): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    for (const output of this.outputsOf(tag)) {
      const room = output.whenRoom?.();
      if (room) waits.push(room);
    }
    if (waits.length === 0) return undefined;
    // One may have filled again while another made room.
    return Promise.all(waits).then(() => this.whenAccepting(tag));
  }
}
