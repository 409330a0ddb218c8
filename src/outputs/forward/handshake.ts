// The Forward protocol v1 handshake (HELO → PING → PONG) for Shared_Key and
// Username/Password. Digests are computed over raw bytes: the server's nonce
// and auth salt are bytes whether they came as msgpack str (Fluent Bit sends
// 16 random bytes in a str) or bin (Fluentd).
import { cryptoModule } from '../../builtins-on-use.js';
import { AuthError } from './errors.js';
import type { Helo, Ping, Pong } from './protocol.js';

export interface Credentials {
  /** Shared_Key ("" with Empty_Shared_Key on). */
  sharedKey: string;
  /** Self_Hostname, sent in PING; must differ from the receiver's. */
  selfHostname: string;
  username: string;
  password: string;
}

const sha512Hex = (...parts: (string | Uint8Array)[]): string => {
  const hash = cryptoModule().createHash('sha512');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
};

/** sha512_hex(salt + hostname + nonce + shared_key): PING's and PONG's digest. */
export function sharedKeyDigest(salt: string, hostname: string, nonce: Uint8Array, sharedKey: string): string {
  return sha512Hex(salt, hostname, nonce, sharedKey);
}

/** sha512_hex(auth_salt + username + password): PING's password digest. */
export function passwordDigest(authSalt: Uint8Array, username: string, password: string): string {
  return sha512Hex(authSalt, username, password);
}

/** One handshake: the PING for a HELO, then the check of the PONG. */
export class Handshake {
  /**
   * Our salt: 16 random bytes as 32 hex characters. Fluent Bit sends 16 raw
   * bytes in a str, which a receiver decoding str as UTF-8 (FluentServer)
   * mangles; Fluent Bit's in_forward takes the salt's strlen, so it must
   * hold no NUL byte either. Hex satisfies every receiver.
   */
  readonly salt = cryptoModule().randomBytes(16).toString('hex');
  private nonce: Uint8Array | undefined;

  constructor(private readonly credentials: Credentials) {}

  ping(helo: Helo): Ping {
    this.nonce = helo.nonce;
    const { sharedKey, selfHostname, username, password } = this.credentials;
    const digest = sharedKeyDigest(this.salt, selfHostname, helo.nonce, sharedKey);
    // A server that wants users sends a non-empty auth salt (Fluent Bit's in_forward always does, and ignores it without users).
    const userAuth = helo.auth.length > 0 ? [username, passwordDigest(helo.auth, username, password)] : ['', ''];
    return ['PING', selfHostname, this.salt, digest, userAuth[0]!, userAuth[1]!];
  }

  /** Throws AuthError when the receiver refused us or is not who shares our key. */
  checkPong(pong: Pong): void {
    if (!pong.ok) {
      throw new AuthError(`the receiver refused the handshake: ${pong.reason || 'no reason given'} (check Shared_Key, Username and Password)`);
    }
    if (pong.serverHostname === this.credentials.selfHostname) {
      throw new AuthError(`the receiver has our Self_Hostname "${pong.serverHostname}": set a different Self_Hostname`);
    }
    const expected = sharedKeyDigest(this.salt, pong.serverHostname, this.nonce ?? new Uint8Array(0), this.credentials.sharedKey);
    if (pong.sharedKeyDigest !== expected) {
      throw new AuthError('the receiver\'s PONG digest does not match our Shared_Key: it does not share our key');
    }
  }
}
