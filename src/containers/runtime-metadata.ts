// The node's runtimes, watched for as long as an ebpf input wants their
// metadata (container_runtime_metadata On): one connection per socket for
// the whole process, shared by the inputs that name it, closed when the
// last of them stops. What they learn goes into one store, whose pairs the
// native encoder writes (CONTAINER_METADATA).
import type { Logger } from '../log.js';
import { CriRuntimeWatcher } from './cri-runtime.js';
import { DockerEngineWatcher } from './docker-engine.js';
import { ContainerMetadataStore, type MetadataMirror } from './metadata.js';
import { nativeMetadataMirror } from './native-metadata.js';
import type { RuntimeConnection } from './runtime-connection.js';

/** Where each runtime's socket usually is (as a DaemonSet mounts it from the host). */
export const USUAL_SOCKETS = {
  containerd: '/run/containerd/containerd.sock',
  crio: '/var/run/crio/crio.sock',
  docker: '/var/run/docker.sock',
  podman: '/run/podman/podman.sock',
} as const;

/** The sockets an input names (cri_socket, docker_socket, podman_socket); the usual ones where it names none. */
export interface RuntimeSockets {
  cri?: string;
  docker?: string;
  podman?: string;
}

interface Watched {
  connection: RuntimeConnection;
  users: number;
}

/** A connection to make: its kind and socket, and whether a key named it. */
interface Wanted {
  kind: 'cri' | 'docker' | 'podman';
  label: string;
  socketPath: string;
  configured: boolean;
}

export function wantedConnections(sockets: RuntimeSockets): Wanted[] {
  const out: Wanted[] = [];
  if (sockets.cri) out.push({ kind: 'cri', label: 'CRI', socketPath: sockets.cri, configured: true });
  else {
    out.push({ kind: 'cri', label: 'CRI (containerd)', socketPath: USUAL_SOCKETS.containerd, configured: false });
    out.push({ kind: 'cri', label: 'CRI (CRI-O)', socketPath: USUAL_SOCKETS.crio, configured: false });
  }
  out.push({ kind: 'docker', label: 'docker', socketPath: sockets.docker ?? USUAL_SOCKETS.docker, configured: sockets.docker !== undefined });
  out.push({ kind: 'podman', label: 'podman', socketPath: sockets.podman ?? USUAL_SOCKETS.podman, configured: sockets.podman !== undefined });
  return out;
}

export class RuntimeMetadata {
  readonly store: ContainerMetadataStore;
  private readonly watched = new Map<string, Watched>();

  constructor(mirror?: MetadataMirror) {
    this.store = new ContainerMetadataStore(mirror);
  }

  /** Watches the runtimes `sockets` names (or the usual ones) until the returned release is called. */
  acquire(sockets: RuntimeSockets, log: Logger): () => void {
    const keys: string[] = [];
    for (const wanted of wantedConnections(sockets)) {
      const key = `${wanted.kind} ${wanted.socketPath}`;
      keys.push(key);
      const known = this.watched.get(key);
      if (known) {
        known.users++;
        continue;
      }
      const options = { label: wanted.label, socketPath: wanted.socketPath, configured: wanted.configured, log, store: this.store };
      const connection = wanted.kind === 'cri' ? new CriRuntimeWatcher(options) : new DockerEngineWatcher({ ...options, runtime: wanted.kind });
      this.watched.set(key, { connection, users: 1 });
      connection.start();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of keys) {
        const known = this.watched.get(key)!;
        if (--known.users > 0) continue;
        known.connection.stop();
        this.watched.delete(key);
      }
      if (this.watched.size === 0) this.store.clear();
    };
  }
}

let processWide: RuntimeMetadata | undefined;
/** The process's runtimes and store, its pairs copied to the native encoder. */
export function processRuntimeMetadata(): RuntimeMetadata {
  return (processWide ??= new RuntimeMetadata(nativeMetadataMirror));
}
