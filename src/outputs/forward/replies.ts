// What a receiver answers (HELO, PONG, acks: a few hundred bytes each), read
// from the socket's bytes with a bound: a reply may not be larger than
// MAX_REPLY_BYTES, so that a receiver sending a huge value or garbage costs
// at most that much memory and copying before its connection is dropped.
// (A msgpack stream decoder keeps, and copies on every read, whatever an
// unfinished value has accumulated.)
import { Decoder } from '@msgpack/msgpack';
import { ProtocolError } from './errors.js';
import { ReservedByteError, skipValue } from '../../msgpack/skip.js';

/** Largest reply taken: a PONG with a long reason and hostname is well under it. */
export const MAX_REPLY_BYTES = 64 * 1024;

const EMPTY = Buffer.alloc(0);

export class ReplyReader {
  /** The start of a reply whose end has not come yet (at most MAX_REPLY_BYTES). */
  private held: Buffer = EMPTY;
  // rawStrings: a str nonce holds random bytes that UTF-8 decoding would mangle.
  private readonly decoder = new Decoder({ rawStrings: true });

  /** Whether a reply has begun and not ended. */
  get unfinished(): boolean {
    return this.held.length > 0;
  }

  /** The replies that `data` completes, in order; ProtocolError for bytes no reply is made of. */
  read(data: Buffer): unknown[] {
    const bytes = this.held.length > 0 ? Buffer.concat([this.held, data]) : data;
    const replies: unknown[] = [];
    let at = 0;
    while (at < bytes.length) {
      let end: number;
      try {
        end = skipValue(bytes, at);
      } catch (err) {
        if (err instanceof ReservedByteError) throw new ProtocolError(`sent bytes that are not msgpack (${err.message})`);
        break; // unfinished: the rest comes with the next read
      }
      if (end - at > MAX_REPLY_BYTES) throw tooLarge();
      try {
        replies.push(this.decoder.decode(bytes.subarray(at, end)));
      } catch (err) {
        throw new ProtocolError(`sent a reply that cannot be read: ${(err as Error).message}`);
      }
      at = end;
    }
    if (bytes.length - at > MAX_REPLY_BYTES) throw tooLarge();
    this.held = at < bytes.length ? Buffer.from(bytes.subarray(at)) : EMPTY;
    return replies;
  }
}

const tooLarge = () => new ProtocolError(`sent a reply of more than ${MAX_REPLY_BYTES} bytes (HELO, PONG and acks are a few hundred): it does not speak the Forward protocol`);
