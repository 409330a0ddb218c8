// podman and docker run the image with the same flags: what differs is the
// security settings each needs (see podman.test.ts, docker.test.ts).
import { BASE_IMAGE } from '../runtimes/setup-status.js';
import { dockerImage } from './image.js';
import { command, commandResult, CONFIG_IN_IMAGE, HOST_MOUNTS, type ImageRuntime } from './run-image.js';

export function engineCli(engine: 'podman' | 'docker'): ImageRuntime {
  const names: string[] = [];
  const newName = (role: string) => {
    const name = `ebpf-forward-image-${process.pid}-${role}-${names.length}`;
    names.push(name);
    return name;
  };
  // The engine's API socket, where ebpf-forward looks for it (its default docker_socket or podman_socket).
  const socket = engine === 'docker' ? '/var/run/docker.sock' : '/run/podman/podman.sock';
  // As the DaemonSet: host pid namespace (and network, as every container here), read-only root, the host's files
  // and the runtime's socket read-only.
  const agentFlags = (config: string) => ['--network', 'host', '--pid', 'host', '--read-only',
    '-v', `${config}:${CONFIG_IN_IMAGE}:ro`, ...[...HOST_MOUNTS, socket].flatMap((path) => ['-v', `${path}:${path}:ro`])];
  return {
    name: engine,
    setup: engine,
    says: `${engine}'s API`,
    load(tag) {
      if (engine === 'docker') dockerImage(tag);
    },
    async startAgent(tag, config, settings) {
      const name = newName('agent');
      await command(engine, ['run', '-d', '--name', name, ...agentFlags(config), ...settings, tag]);
      return {
        output: () => command(engine, ['logs', name]),
        pid: async () => Number(await command(engine, ['inspect', '-f', '{{.State.Pid}}', name])),
      };
    },
    async runAgent(tag, config, settings) {
      const name = newName('agent');
      return commandResult(engine, ['run', '--name', name, ...agentFlags(config), ...settings, tag], 60_000);
    },
    async startWorkload() {
      const name = newName('workload');
      await command(engine, ['run', '-d', '--network', 'host', '--name', name, BASE_IMAGE, 'sleep', 'infinity']);
      const id = await command(engine, ['inspect', '-f', '{{.Id}}', name]);
      return {
        id: id.trim(),
        metadata: { container_name: name, container_image: BASE_IMAGE },
        exec: async (argv) => void (await command(engine, ['exec', name, ...argv])),
      };
    },
    async removeAll() {
      if (names.length) await command(engine, ['rm', '-f', ...(engine === 'podman' ? ['-t', '0'] : []), ...names.splice(0)]).catch(() => undefined);
    },
  };
}
