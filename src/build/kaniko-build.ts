import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import type { Instruction } from '../dockerfile.js';
import { parseDockerfile } from '../dockerfile.js';
import { sanitizedGitConfigs } from './git-credentials.js';
import type { RootStrategy, SandboxFile, SandboxMount, SandboxResult } from './sandbox.js';
import { runInSandbox } from './sandbox.js';
import type { BuildSettings } from './build-settings.js';
import { sandboxResolvConf } from './sandbox-network.js';
import type { ImageConfig, ImageHead, ImageIdentity } from './tarball.js';
import { PROXY_VARIABLES } from '../exec.js';
import type { Registries } from '../registries.js';
import { recordForCleanup, removePath } from '../cleanup.js';
import { openUntrustedRegularFile, readUntrustedText } from '../untrusted-file.js';
import { hashImageLayers, readImageHead } from './tarball.js';
import { reporter } from '../reporter.js';
import type { TimeLimit } from '../timeout-settings.js';
import type { Platform } from '../platform.js';
import { formatPlatform, platformOfConfig } from '../platform.js';

/** Where things live inside the sandbox. */
export const SANDBOX_CONTEXT = '/workspace';
export const SANDBOX_OUTPUT = '/output';
const SANDBOX_DOCKERFILE_DIR = '/kaniko/dockerfile';
const EXECUTOR = '/kaniko/executor';
const EXECUTOR_CA_BUNDLE = '/kaniko/ssl/certs/ca-certificates.crt';
export const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The environment the executor image declares; nothing else of the runner's enters the build. */
export const EXECUTOR_ENV: Readonly<Record<string, string>> = Object.freeze({
  HOME: '/root',
  USER: 'root',
  PATH: '/usr/local/bin:/kaniko',
  SSL_CERT_DIR: '/kaniko/ssl/certs',
  DOCKER_CONFIG: '/kaniko/.docker/',
});

export interface KanikoArgvOptions {
  /** Dockerfile path inside the sandbox. */
  readonly dockerfile: string;
  /** Repository without tag. */
  readonly image: string;
  readonly firstTag: string;
  /** NAME=value, as checked by inputs.ts. */
  readonly buildArgs: readonly string[];
  /** Computed and user labels, already merged. */
  readonly labels: Readonly<Record<string, string>>;
  readonly target: string;
  /** The platform this build is for: kaniko's `--custom-platform`, also what sets its TARGET* args. */
  readonly platform: Platform;
  readonly reproducible: boolean;
  /** kaniko's `--cache-repo`: the loopback layer cache (layer-cache.ts); absent, no layer cache. */
  readonly cacheRepo?: string;
  readonly insecureRegistries: readonly string[];
  /**
   * Names of the proxy variables set in the executor's environment, handed to the build as
   * predefined args unless `buildArgs` sets them.
   */
  readonly proxy: readonly string[];
  /** `kaniko-args`, already checked not to touch the flags the action owns. */
  readonly extraArgs: readonly string[];
}

/** The executor's argv after `/kaniko/executor`: one entry per value, never a shell line. */
export function kanikoArgv(options: KanikoArgvOptions): string[] {
  const argv = [
    '--force',
    '--context',
    `dir://${SANDBOX_CONTEXT}`,
    '--dockerfile',
    options.dockerfile,
    '--destination',
    `${options.image}:${options.firstTag}`,
    '--no-push',
    '--tar-path',
    `${SANDBOX_OUTPUT}/image.tar`,
    '--digest-file',
    `${SANDBOX_OUTPUT}/digest`,
  ];
  const userArgNames = new Set(options.buildArgs.map((arg) => arg.split('=', 1)[0]));
  // Names only: the executor reads a value-less build arg from its environment (kaniko's
  // resolveEnvironmentBuildArgs), so a proxy password never shows in argv.
  const proxyArgs = options.proxy.filter((name) => !userArgNames.has(name));
  for (const arg of [...options.buildArgs, ...proxyArgs]) argv.push('--build-arg', arg);
  for (const [key, value] of Object.entries(options.labels)) argv.push('--label', `${key}=${value}`);
  if (options.target) argv.push('--target', options.target);
  argv.push(`--custom-platform=${formatPlatform(options.platform)}`);
  if (options.reproducible) argv.push('--reproducible');
  // redo is the default, not a rule: a Dockerfile that needs full snapshots may ask for them.
  if (!options.extraArgs.some((arg) => /^--snapshot-?[mM]ode(=|$)/.test(arg)))
    argv.push('--snapshot-mode=redo');
  // No --insecure-registry for it: go-containerregistry speaks plain HTTP to 127.0.0.1
  // (pkg/name/registry.go Scheme), and the flag would also skip TLS checks.
  if (options.cacheRepo) argv.push('--cache=true', `--cache-repo=${options.cacheRepo}`);
  for (const registry of options.insecureRegistries)
    argv.push(`--insecure-registry=${registry}`, `--skip-tls-verify-registry=${registry}`);
  argv.push(...options.extraArgs);
  return argv;
}

/** The proxy variables that are set (non-empty) in an environment. */
export function proxySettings(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const name of PROXY_VARIABLES) if (env[name]) settings[name] = env[name];
  return settings;
}

/** Where the build reaches the layer cache: 127.0.0.1:<port>, the only loopback port it may use. */
export interface LayerCacheAddress {
  readonly port: number;
  /** `127.0.0.1:<port>/<repository>`. */
  readonly repository: string;
}

/** What the build stage is asked to build: its settings as the inputs gave them. */
export type BuildRequest = Pick<
  BuildSettings,
  | 'context'
  | 'dockerfile'
  | 'buildArgs'
  | 'labels'
  | 'target'
  | 'reproducible'
  | 'kanikoArgs'
  | 'network'
  | 'loopbackPorts'
> & {
  /** One of the settings' platforms: each is built on its own. */
  readonly platform: Platform;
  /**
   * What kaniko reads instead of the `dockerfile` file, when the action rewrote it (stages pinned
   * to their platform's manifest, line numbers kept); the file itself names it in messages.
   */
  readonly dockerfileText?: string;
};

/** Where the build runs and what it is called, besides its settings. */
export interface BuildEnvironment {
  /** The executor's root filesystem (cached, never written). */
  readonly rootfs: string;
  /** Host folder under which this build's output folder is created. */
  readonly outputDir: string;
  /** Host folder (under RUNNER_TEMP) for the sandbox's private work folder. */
  readonly tempDir: string;
  /** Repository without tag, and the tag that names the build. */
  readonly image: string;
  readonly firstTag: string;
  /** The insecure registries kaniko may pull base images from. */
  readonly registries: Registries;
  /**
   * The loopback layer cache, the only cache kaniko ever sees (the settings' `cache-repo` is
   * written after the gate, by the action); no credential of any registry enters the build.
   */
  readonly layerCache?: LayerCacheAddress;
  /** Where proxy settings are read from; the process environment by default. */
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
  /** The runner's CA bundle, appended to the executor's. */
  readonly hostCaBundle?: string;
  /** `/etc` files copied in; tests point this elsewhere. */
  readonly hostEtc?: string;
  readonly strategy?: 'auto' | RootStrategy;
  /** The build stage's limit on the whole build (see SandboxSpec.timeLimit). */
  readonly timeLimit?: TimeLimit;
  /** Called once kaniko has started (SandboxSpec.onStarted). */
  readonly onStarted?: () => void;
}

export interface BuildResult {
  /** Host path of the docker-archive tarball. */
  readonly tarball: string;
  /** The digest crane will push, computed from the tarball. */
  readonly digest: string;
  /** The byte size of that manifest, as an image index describes it. */
  readonly manifestSize: number;
  /** Config digest and layer DiffIDs: what the scan report must name. */
  readonly identity: ImageIdentity;
  readonly imageConfig: ImageConfig;
}

/**
 * What kaniko built, checked (its platform, layers crane can push), before its layers are hashed:
 * all a scan needs. describeBuild gives the digest.
 */
export interface BuiltImage extends Omit<BuildResult, 'digest' | 'manifestSize'> {
  readonly head: ImageHead;
  /** The digest kaniko's digest file names, if it names one. */
  readonly kanikoDigest?: string;
}

/**
 * Builds the Dockerfile with kaniko in a throw-away root and reads the tarball's manifest and
 * config; its layers are hashed by describeBuild, which may run while the image is scanned.
 */
export async function buildImage(request: BuildRequest, environment: BuildEnvironment): Promise<BuiltImage> {
  await mkdir(environment.outputDir, { recursive: true });
  const outputDir = await mkdtemp(join(environment.outputDir, 'build-'));
  // The build may leave anything here (setuid files, deep trees): the post step removes it should
  // this step die before buildImage does.
  recordForCleanup(outputDir);
  const placed = placeDockerfile(request, outputDir);
  const proxy = proxySettings(environment.hostEnv ?? process.env);
  // A proxy URL may carry a user and password; should a RUN line print it, the log masks it.
  for (const value of Object.values(proxy)) if (/\/\/[^/]*@/.test(value)) reporter().setSecret(value);
  // Each flag from its one source, by name: the settings' cache-repo must never reach kaniko.
  const argv = kanikoArgv({
    dockerfile: placed.dockerfile,
    image: environment.image,
    firstTag: environment.firstTag,
    buildArgs: request.buildArgs,
    labels: request.labels,
    target: request.target,
    platform: request.platform,
    reproducible: request.reproducible,
    insecureRegistries: environment.registries.insecureHosts,
    proxy: Object.keys(proxy),
    extraArgs: request.kanikoArgs,
    ...(environment.layerCache ? { cacheRepo: environment.layerCache.repository } : {}),
  });
  const result = await runInSandbox({
    rootfs: environment.rootfs,
    tempDir: environment.tempDir,
    argv: [EXECUTOR, ...argv],
    env: { ...EXECUTOR_ENV, ...proxy },
    mounts: placed.mounts,
    files: await sandboxFiles(request, environment),
    title: `Build ${environment.image}:${environment.firstTag} for ${formatPlatform(request.platform)} with kaniko`,
    strategy: environment.strategy ?? 'auto',
    ...(environment.timeLimit && { timeLimit: environment.timeLimit }),
    ...(environment.onStarted && { onStarted: environment.onStarted }),
    // The sandbox's root (the files the build wrote) is removed while the image is read and scanned.
    teardown: 'background',
    network: request.network,
    // The layer cache listens on the runner's loopback: kaniko must reach it from its own network.
    loopbackPorts: [
      ...request.loopbackPorts,
      ...(environment.layerCache ? [environment.layerCache.port] : []),
    ],
  });
  try {
    return await collectBuild(request, environment.outputDir, outputDir, result);
  } finally {
    await removePath(outputDir);
  }
}

/**
 * The sandbox's mounts: the context and the output folder, and the Dockerfile on its own when it
 * lies outside the context; `dockerfile` is its path inside the sandbox.
 */
function placeDockerfile(
  options: Pick<BuildRequest, 'context' | 'dockerfile' | 'dockerfileText'>,
  outputDir: string,
): { readonly dockerfile: string; readonly mounts: SandboxMount[] } {
  const inContext = relative(options.context, options.dockerfile);
  // A rewritten Dockerfile is a file of its own (sandboxFiles), never the context's.
  const dockerfileInContext =
    options.dockerfileText === undefined && !inContext.startsWith('..') && !isAbsolute(inContext);
  const dockerfile = dockerfileInContext
    ? `${SANDBOX_CONTEXT}/${inContext.split('\\').join('/')}`
    : `${SANDBOX_DOCKERFILE_DIR}/${basename(options.dockerfile)}`;
  const mounts: SandboxMount[] = [
    { source: options.context, target: SANDBOX_CONTEXT, readOnly: true },
    { source: outputDir, target: SANDBOX_OUTPUT, readOnly: false },
  ];
  if (!dockerfileInContext && options.dockerfileText === undefined)
    mounts.push({ source: options.dockerfile, target: dockerfile, readOnly: true });
  return { dockerfile, mounts };
}

/** kaniko's failure explained, or its tarball moved out of the output folder and its head read. */
async function collectBuild(
  request: Pick<BuildRequest, 'dockerfile' | 'platform'>,
  outputRoot: string,
  outputDir: string,
  result: SandboxResult,
): Promise<BuiltImage> {
  const { dockerfile } = request;
  if (result.exitCode !== 0) {
    const dockerfileText = await readFile(dockerfile, 'utf8');
    throw new Error(kanikoFailure(result.exitCode, result.output, result.tail, dockerfileText, dockerfile));
  }
  const tarball = await moveTarballOut(outputDir, outputRoot, result.tail);
  const kanikoDigest = await readKanikoDigest(join(outputDir, 'digest'));
  const head = await readImageHead(tarball);
  const built = platformOfConfig(head.config);
  if (built !== platformOfConfig(request.platform))
    throw new Error(
      `kaniko was asked for ${formatPlatform(request.platform)} but built an image for ${built}: the final stage of ${dockerfile} ` +
        'is pinned to another platform (`FROM --platform=…`); an index entry must hold what it says. ' +
        'Pin the build stages to $BUILDPLATFORM and leave the final stage unpinned (or use $TARGETPLATFORM).',
    );
  return {
    tarball,
    identity: { configDigest: head.configDescriptor.digest, diffIds: head.config.rootfs?.diff_ids ?? [] },
    imageConfig: head.config,
    head,
    ...(kanikoDigest ? { kanikoDigest } : {}),
  };
}

/** The built image's manifest digest, as crane will push it: every layer hashed. */
export async function describeBuild(built: BuiltImage): Promise<BuildResult> {
  const { tarball, identity, imageConfig, kanikoDigest } = built;
  const { digest, manifest } = await hashImageLayers(built.head);
  if (kanikoDigest && kanikoDigest !== digest)
    reporter().info(
      `kaniko's digest file says ${kanikoDigest}; crane will push ${digest} (the tarball's Docker manifest), which is the digest used from here on`,
    );
  return { tarball, digest, manifestSize: Buffer.byteLength(manifest), identity, imageConfig };
}

/** What to do about a file in the output folder that is not what kaniko writes there. */
const OUTPUT_TAMPERED =
  'Something in the build (a RUN line, or a process it started) changed /output, the folder where the action ' +
  'has kaniko write its results; nothing from it is used. Remove whatever in the Dockerfile writes to /output.';

/**
 * Moves kaniko's tarball out of the build's output folder into a new folder (mode 0700) the build
 * never saw, once the sandbox's processes are gone: what is scanned and pushed is then exactly
 * the file kaniko wrote, and nothing can swap it. Returns the new path.
 */
async function moveTarballOut(buildOutput: string, outputRoot: string, tail: string): Promise<string> {
  const written = join(buildOutput, 'image.tar');
  const original = await openUntrustedRegularFile(written).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(
        `kaniko exited successfully but wrote no tarball at ${written}; its last lines:\n${tail}`,
      );
    throw new Error(`kaniko's image tarball is refused: ${(error as Error).message}. ${OUTPUT_TAMPERED}`, {
      cause: error,
    });
  });
  // Named after the build folder, so that a tarball can be traced back to its build's log.
  const imageDir = await mkdtemp(join(outputRoot, `${basename(buildOutput)}-image-`));
  const moved = join(imageDir, 'image.tar');
  try {
    await rename(written, moved);
    const { handle, stat } = await openUntrustedRegularFile(moved);
    await handle.close();
    if (stat.dev !== original.stat.dev || stat.ino !== original.stat.ino)
      throw new Error(`${moved} is not the file that was checked at ${written}. ${OUTPUT_TAMPERED}`);
    return moved;
  } catch (error) {
    await removePath(imageDir);
    throw error;
  } finally {
    await original.handle.close();
  }
}

/** Enough for `sha256:` and 64 hex digits plus a line end; anything longer is not a digest. */
const DIGEST_FILE_MAX_BYTES = 256;

/**
 * kaniko's digest file, if it holds a sha256 digest. Its content is never echoed otherwise: the
 * build controls it.
 */
async function readKanikoDigest(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readUntrustedText(path, DIGEST_FILE_MAX_BYTES);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`kaniko's digest file is refused: ${(error as Error).message}. ${OUTPUT_TAMPERED}`, {
      cause: error,
    });
  }
  const digest = text.trim();
  if (/^sha256:[0-9a-f]{64}$/.test(digest)) return digest;
  reporter().warning(
    `kaniko's digest file ${path} is not a digest; it is ignored, and the digest is computed from the tarball.`,
  );
  return undefined;
}

async function sandboxFiles(request: BuildRequest, environment: BuildEnvironment): Promise<SandboxFile[]> {
  const files: SandboxFile[] = await sanitizedGitConfigs(request.context, SANDBOX_CONTEXT);
  if (request.dockerfileText !== undefined)
    files.push({
      target: `${SANDBOX_DOCKERFILE_DIR}/${basename(request.dockerfile)}`,
      content: request.dockerfileText,
      asMount: true,
    });
  const etc = environment.hostEtc ?? '/etc';
  const resolvConf = join(etc, 'resolv.conf');
  if (existsSync(resolvConf))
    files.push({
      target: '/etc/resolv.conf',
      content: sandboxResolvConf(await readFile(resolvConf, 'utf8'), request.network),
      asMount: true,
    });
  const hosts = join(etc, 'hosts');
  if (existsSync(hosts)) files.push({ target: '/etc/hosts', content: await readFile(hosts), asMount: true });
  const hostBundle = environment.hostCaBundle ?? HOST_CA_BUNDLE;
  if (existsSync(hostBundle)) {
    const executorBundle = join(environment.rootfs, EXECUTOR_CA_BUNDLE);
    const base = existsSync(executorBundle) ? await readFile(executorBundle) : Buffer.alloc(0);
    const separator = base.length > 0 && base.at(-1) !== 0x0a ? '\n' : '';
    files.push({
      target: EXECUTOR_CA_BUNDLE,
      content: Buffer.concat([base, Buffer.from(separator), await readFile(hostBundle)]),
    });
  }
  return files;
}

const INSTRUCTIONS = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

// The `color` log format wraps the level in terminal colour codes.
const ANSI_COLOR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/**
 * The instruction messages kaniko logged, in order. kaniko logs `logrus.Info(command.String())`
 * before running each instruction; its formats are `color` (`INFO[0001] RUN …`, the default),
 * `text` (`level=info msg="RUN …"`) and `json` (`{"level":"info","msg":"RUN …"}`).
 */
export function loggedInstructions(output: string): string[] {
  const messages: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.replace(ANSI_COLOR, '').trim();
    let message: string | undefined;
    const color = /^INFO\[[^\]]*\]\s+(.*)$/.exec(line);
    if (color) message = color[1];
    else if (/\blevel=info\b/.test(line)) {
      const quoted = /\bmsg=("(?:[^"\\]|\\.)*")/.exec(line);
      message = quoted ? parseQuoted(quoted[1]!) : undefined;
    } else if (line.startsWith('{')) {
      try {
        const record = JSON.parse(line) as { level?: unknown; msg?: unknown };
        if (record.level === 'info' && typeof record.msg === 'string') message = record.msg;
      } catch {
        message = undefined;
      }
    }
    const keyword = message?.split(/\s/, 1)[0]?.toUpperCase() ?? '';
    if (message && INSTRUCTIONS.has(keyword) && keyword !== 'FROM') messages.push(message.trim());
  }
  return messages;
}

function parseQuoted(quoted: string): string | undefined {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}

const comparable = (text: string): string => text.replace(/\s+/g, '').toLowerCase();

/**
 * The Dockerfile instruction kaniko was on when it stopped: the last logged instruction, matched
 * in order against the Dockerfile (stages run top to bottom, so a repeated line resolves to the
 * occurrence after the previous match).
 */
export function failingInstruction(
  instructions: readonly Instruction[],
  logged: readonly string[],
): Instruction | undefined {
  let cursor = 0;
  let found: Instruction | undefined;
  for (const message of logged) {
    const wanted = comparable(message);
    const match = (from: number, to: number): number =>
      instructions.slice(from, to).findIndex((instruction) => comparable(instruction.text) === wanted);
    let index = match(cursor, instructions.length);
    if (index >= 0) index += cursor;
    else index = match(0, cursor);
    if (index < 0) continue;
    found = instructions[index];
    cursor = index + 1;
  }
  return found;
}

/** The step's error: exit code, the Dockerfile line kaniko was on, and its last lines. */
export function kanikoFailure(
  exitCode: number,
  output: string,
  tail: string,
  dockerfileText: string,
  dockerfilePath: string,
): string {
  const instruction = failingInstruction(
    parseDockerfile(dockerfileText).instructions,
    loggedInstructions(output),
  );
  const where = instruction
    ? `at ${dockerfilePath}:${instruction.line}: ${instruction.text}`
    : `before running any instruction of ${dockerfilePath} (reading the Dockerfile, the context or a base image)`;
  return `kaniko failed with exit code ${exitCode} ${where}\nkaniko's last lines:\n${tail.replace(ANSI_COLOR, '')}`;
}
