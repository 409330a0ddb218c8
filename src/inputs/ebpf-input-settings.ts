// The [INPUT] Name ebpf keys the input itself reads, typed once here (the
// config loader checked and parsed them; src/config/input-section.ts), so
// that the input reads fields, not `values.get(...) as` casts.
import type { KeyValues } from '../config/model.js';

export interface EbpfInputSettings {
  /** Trace_Error: a trace that cannot attach stops the input, or is logged and left out. */
  traceError: 'continue' | 'exit';
  /** container_metadata: records end with cgroup_id, container_id and mntns_id. */
  containerMetadata: boolean;
  /** container_runtime_metadata (with container_metadata): what the container's runtime says of it. */
  runtimeMetadata: boolean;
  /** kubernetes_annotations: a pod's annotations in its kubernetes map. */
  kubernetesAnnotations: boolean;
  /** cri_socket, docker_socket, podman_socket: where the runtimes' APIs are, when not at their usual paths. */
  runtimeSockets: { cri?: string; docker?: string; podman?: string };
  ringbufMapName: string;
  ringbufBytes: number;
  /** wakeup_ms; the sessions' default when unset. */
  wakeupMs?: number;
  sequenceKey?: string;
  /** storage.type filesystem: batches journaled before they are routed. */
  journaled: boolean;
}

/** The input's keys as the loader left them (defaults filled), typed. */
export function ebpfInputSettings(values: KeyValues): EbpfInputSettings {
  const text = (key: string) => values.get(key) as string | undefined;
  const containerMetadata = values.get('container_metadata') !== false;
  return {
    traceError: text('trace_error') === 'exit' ? 'exit' : 'continue',
    containerMetadata,
    runtimeMetadata: containerMetadata && values.get('container_runtime_metadata') !== false,
    kubernetesAnnotations: values.get('kubernetes_annotations') === true,
    runtimeSockets: { cri: text('cri_socket'), docker: text('docker_socket'), podman: text('podman_socket') },
    ringbufMapName: text('ringbuf_map_name') ?? 'events',
    ringbufBytes: (values.get('ringbuf_size') as number | undefined) ?? 8 << 20,
    wakeupMs: values.get('wakeup_ms') as number | undefined,
    sequenceKey: text('sequence_key'),
    journaled: values.get('storage.type') === 'filesystem',
  };
}
