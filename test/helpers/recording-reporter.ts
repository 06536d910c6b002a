import type { OutputName, Reporter } from '../../src/reporter.js';

/** A reporter that keeps what finish tells it. */
export function recordingReporter() {
  const outputs: Partial<Record<OutputName, string>> = {};
  const said = { summary: '', failed: [] as string[] };
  const reporter: Reporter = {
    info: () => undefined,
    warning: () => undefined,
    error: () => undefined,
    debug: () => undefined,
    startGroup: () => undefined,
    endGroup: () => undefined,
    setSecret: () => undefined,
    saveState: () => undefined,
    relayStream: () => ({ write: () => undefined, close: () => undefined }),
    setOutput: (name, value) => void (outputs[name] = value),
    writeSummary: async (html) => void (said.summary += html),
    setFailed: (message) => void said.failed.push(message),
  };
  return { reporter, outputs, said };
}
