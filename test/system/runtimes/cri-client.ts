// A client of containerd's CRI API (runtime.v1, the vendored k8s.io/cri-api
// proto), as the kubelet speaks it over containerd's socket: one promise per
// unary call. Responses are plain objects (keepCase: the proto's own field
// names; enums as their names; int64 as strings).
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO = new URL('../../../src/containers/cri/api.proto', import.meta.url).pathname;

type Message = Record<string, any>;
type UnaryMethod = (request: Message, options: { deadline: Date }, callback: (error: ServiceError | null, response: Message) => void) => void;

export class CriClient {
  private readonly runtime: Client;
  private readonly images: Client;

  constructor(socket = '/run/containerd/containerd.sock') {
    const definition = loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const v1 = (loadPackageDefinition(definition) as any).runtime.v1;
    this.runtime = new v1.RuntimeService(`unix://${socket}`, credentials.createInsecure());
    this.images = new v1.ImageService(`unix://${socket}`, credentials.createInsecure());
  }

  /** Calls RuntimeService.<method>. */
  call(method: string, request: Message, timeoutMs = 30_000): Promise<any> {
    return unary(this.runtime, method, request, timeoutMs);
  }

  /** Calls ImageService.<method>. */
  callImages(method: string, request: Message, timeoutMs = 30_000): Promise<any> {
    return unary(this.images, method, request, timeoutMs);
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}

function unary(client: Client, method: string, request: Message, timeoutMs: number): Promise<any> {
  const call = (client as unknown as Record<string, UnaryMethod>)[method];
  if (typeof call !== 'function') throw new Error(`the CRI API has no method ${method}`);
  return new Promise((resolve, reject) => {
    call.call(client, request, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => {
      if (error) reject(new Error(`CRI ${method}: ${error.details || error.message}`));
      else resolve(response);
    });
  });
}
