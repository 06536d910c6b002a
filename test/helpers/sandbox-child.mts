// Runs one sandbox in a process of its own, so a test can kill that process as the runner would
// (SIGKILL on Linux, or SIGINT/SIGTERM when cancelling) and see what is left.
// Usage: sandbox-child.mts <rootfs> <tempDir> <shell script>
import { runInSandbox } from '../../src/build/sandbox.js';

const [rootfs, tempDir, script] = process.argv.slice(2);
try {
  const result = await runInSandbox({
    rootfs: rootfs!,
    tempDir: tempDir!,
    argv: ['/bin/sh', '-c', script!],
    env: { PATH: '/bin' },
    title: 'sandbox child',
  });
  process.stdout.write(`\nsandbox-exit=${result.exitCode}\n`);
} catch (error) {
  process.stdout.write(`\nsandbox-error=${(error as Error).message}\n`);
  process.exitCode = 1;
}
