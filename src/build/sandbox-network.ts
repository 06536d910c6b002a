import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';

/**
 * `isolated`: the build has a network namespace of its own, joined to the outside world by
 * slirp4netns (user-mode NAT, as rootless podman does), with no route to the runner's loopback
 * services or abstract unix sockets except the ports listed. `host`: the runner's network, as the
 * sandbox had before (every loopback service of the runner reachable); only by explicit choice.
 */
export const SANDBOX_NETWORK_MODES = ['isolated', 'host'] as const;
export type SandboxNetworkMode = (typeof SANDBOX_NETWORK_MODES)[number];

/** slirp4netns's fixed addresses: the gateway that NATs out, and its DNS forwarder. */
export const SLIRP_DNS = '10.0.2.3';

/**
 * The build's resolv.conf. On its own network the runner's name servers may be out of reach (a
 * loopback resolver such as systemd-resolved's 127.0.0.53 certainly is), so names are asked of
 * slirp4netns's forwarder, which asks the runner's resolver; search and options lines are kept.
 */
export function sandboxResolvConf(runnerResolvConf: string, network: SandboxNetworkMode): string {
  if (network === 'host') return runnerResolvConf;
  const kept = runnerResolvConf.split('\n').filter((line) => /^\s*(search|domain|options)\s/.test(line));
  return [`nameserver ${SLIRP_DNS}`, ...kept, ''].join('\n');
}

export interface SandboxNetwork {
  /** Stops the NAT and the loopback bridges; harmless twice. */
  close(): Promise<void>;
}

export interface NetworkOptions {
  /** A process in the sandbox's network namespace (host PID). */
  readonly pid: number;
  /** Runner loopback ports the build may reach, at 127.0.0.1:<port> inside. */
  readonly loopbackPorts: readonly number[];
  /** A private folder of the action's (never mounted into the sandbox) for the bridges' sockets. */
  readonly controlDir: string;
  /** How to run a command as root (empty when root already). */
  readonly privilege: readonly string[];
  readonly path: string;
}

/**
 * The bridge that listens inside the sandbox's namespace: a copy of node entered into that
 * network namespace only (it keeps the runner's filesystem, so it can reach the unix socket the
 * action listens on, which the build cannot see). It ends when its stdin closes.
 */
const BRIDGE_SCRIPT = `
const net = require('node:net');
const [port, socketPath] = process.argv.slice(1);
const server = net.createServer((inside) => {
  const outside = net.createConnection(socketPath);
  inside.pipe(outside).pipe(inside);
  inside.on('error', () => outside.destroy());
  outside.on('error', () => inside.destroy());
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\\n'));
server.on('error', (error) => { process.stderr.write(String(error) + '\\n'); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/** Connects the namespace of `pid` to the outside through slirp4netns, then opens the loopback bridges. */
export async function connectSandboxNetwork(options: NetworkOptions): Promise<SandboxNetwork> {
  const processes: ChildProcess[] = [];
  const servers: Server[] = [];
  const close = async (): Promise<void> => {
    for (const server of servers.splice(0)) server.close();
    await Promise.all(processes.splice(0).map(stopProcess));
  };
  try {
    processes.push(await startSlirp(options));
    for (const port of options.loopbackPorts) {
      const socketPath = join(options.controlDir, `loopback-${port}.sock`);
      servers.push(await listenForBridge(socketPath, port));
      processes.push(await startBridge(options, port, socketPath));
    }
    return { close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function startSlirp(options: NetworkOptions): Promise<ChildProcess> {
  const [command, ...args] = [
    ...options.privilege,
    'slirp4netns',
    '--configure',
    '--mtu=65520',
    '--disable-host-loopback',
    '--ready-fd=3',
    // Its end of this pipe closes with the action's process, whatever ends it: slirp4netns then exits.
    '--exit-fd=4',
    String(options.pid),
    'tap0',
  ];
  const slirp = spawn(command!, args, {
    env: { PATH: options.path },
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  const ready = await readyOrExit(slirp, slirp.stdio[3] as NodeJS.ReadableStream, '1');
  if (!ready)
    throw new Error(
      `slirp4netns could not give the build sandbox its network (exit ${slirp.exitCode}): ${stderrOf(slirp)}`,
    );
  return slirp;
}

/** The action's end of a bridge: each connection from the sandbox goes to 127.0.0.1:<port> of the runner. */
async function listenForBridge(socketPath: string, port: number): Promise<Server> {
  const server = createServer((fromSandbox: Socket) => {
    const toService = createConnection({ host: '127.0.0.1', port });
    fromSandbox.pipe(toService).pipe(fromSandbox);
    fromSandbox.on('error', () => toService.destroy());
    toService.on('error', () => fromSandbox.destroy());
  });
  server.listen(socketPath);
  await once(server, 'listening');
  return server;
}

async function startBridge(options: NetworkOptions, port: number, socketPath: string): Promise<ChildProcess> {
  const [command, ...args] = [
    ...options.privilege,
    'nsenter',
    `--target=${options.pid}`,
    '--net',
    '--',
    process.execPath,
    '-e',
    BRIDGE_SCRIPT,
    String(port),
    socketPath,
  ];
  const bridge = spawn(command!, args, { env: { PATH: options.path }, stdio: ['pipe', 'pipe', 'pipe'] });
  if (!(await readyOrExit(bridge, bridge.stdout!, 'ready')))
    throw new Error(
      `cannot make port ${port} of the runner's loopback reachable in the build sandbox: ${stderrOf(bridge)}`,
    );
  return bridge;
}

const stderrText = new WeakMap<ChildProcess, string>();
const stderrOf = (child: ChildProcess): string => (stderrText.get(child) ?? '').trim() || 'no message';

/** Resolves true once `stream` has said `word`, false if the process ends first. */
function readyOrExit(child: ChildProcess, stream: NodeJS.ReadableStream, word: string): Promise<boolean> {
  child.stderr?.on('data', (data: Buffer) => stderrText.set(child, (stderrText.get(child) ?? '') + data));
  return new Promise((resolve) => {
    let said = '';
    stream.on('data', (data: Buffer) => {
      said += data.toString();
      if (said.includes(word)) resolve(true);
    });
    child.on('error', (error) => {
      stderrText.set(child, error.message);
      resolve(false);
    });
    child.on('exit', () => resolve(false));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  child.kill('SIGTERM');
  await exited;
}
