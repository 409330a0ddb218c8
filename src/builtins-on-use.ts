// Node's built-in modules that only some configs need, loaded on first use:
// each costs 1 to 3 MB of resident memory once loaded (node:tls brings
// OpenSSL's contexts, node:crypto its bindings), and most runs need none of
// them: TLS, gzip, Shared_Key, acks or the spool, storage checksums, and the
// dynamic linker's cache for uprobes. The types are imported as types only.
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

/** node:tls, for a forward output with `tls on`. */
export const tlsModule = (): typeof import('node:tls') => requireBuiltin('node:tls');
/** node:zlib, for gzip (`compress gzip`) and storage checksums (crc32). */
export const zlibModule = (): typeof import('node:zlib') => requireBuiltin('node:zlib');
/** node:crypto, for the handshake's digests and chunk ids. */
export const cryptoModule = (): typeof import('node:crypto') => requireBuiltin('node:crypto');
/** node:child_process, for `ldconfig -p`. */
export const childProcessModule = (): typeof import('node:child_process') => requireBuiltin('node:child_process');
